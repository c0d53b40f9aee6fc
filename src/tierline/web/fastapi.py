"""FastAPI adapter: webhooks, billing pages, the 402 gate and referral capture.

Usage::

    billing = TierlineFastAPI(tl, current_account=lambda request: request.session.get("uid"))
    billing.install(app)

    @app.get("/reports")
    def reports(account: str | None = Depends(billing.require_paid)): ...

    @app.get("/export", dependencies=[Depends(billing.require_feature("export"))])
    def export(): ...

    @app.post("/analyze", dependencies=[Depends(billing.require_quota("analyze"))])
    def analyze(): ...

``install`` adds the router (``POST /webhooks/{provider}``, ``/billing/...``), the ``?ref=``
capture middleware and the handler that turns a refused gate into its 401/402 JSON answer.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, FastAPI, HTTPException, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from tierline.accounts.service import AccountRef
from tierline.billing.checkout import FAKE_CHECKOUT_PATH
from tierline.billing.result import IngestResult
from tierline.errors import TierlineError, ValidationError
from tierline.facade import Tierline
from tierline.referrals.service import ReferralInfo
from tierline.settings import TierlineSettings
from tierline.usage.service import clean_amount
from tierline.web import pages, referral_cookie, selfservice
from tierline.web.common import (
    CHECKOUT_PATH,
    FORM_EXPIRED,
    SETTINGS_PATH,
    STATIC_PATH,
    WEBHOOK_PATH,
    Denial,
    body_too_large,
    check_access,
    consume_quota,
    csrf_valid,
    current_ref,
    declared_length,
    fake_checkout_mounted,
    invalid_account,
    signing_key,
    webhook_answer,
    webhook_mounted,
)

#: The host's "who is signed in": a ref (str, int or UUID) or ``None``, maybe awaitable.
CurrentAccount = Callable[[Request], "AccountRef | Awaitable[AccountRef | None] | None"]

#: Set in ``request.state`` by :meth:`TierlineFastAPI.claim_referral`; the middleware then
#: clears the cookie on the response.
_CLAIMED = "tierline_referral_claimed"


class AccessDenied(Exception):  # noqa: N818 - it is answered, not reported
    """Raised by the gate dependencies; the installed handler answers it as JSON."""

    def __init__(self, denial: Denial) -> None:
        super().__init__(denial.body.get("error"))
        self.denial = denial


async def _access_denied(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AccessDenied)
    return JSONResponse(exc.denial.body, status_code=exc.denial.status_code)


class ReferralCaptureMiddleware:
    """Pure ASGI middleware: ``?ref=CODE`` sets the signed referral cookie on the response,
    and a request that claimed the referral clears it."""

    def __init__(self, app: ASGIApp, settings: TierlineSettings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        code = referral_cookie.captured_code(query.get(referral_cookie.QUERY_PARAM, [None])[0])
        # The endpoint's request.state is this dict, so it can ask for the cookie's removal.
        state = scope.setdefault("state", {})

        async def send_with_cookie(message: Message) -> None:
            if message["type"] == "http.response.start":
                header = None
                if state.get(_CLAIMED):
                    header = referral_cookie.clear_cookie_header()
                elif code is not None:
                    spec = referral_cookie.cookie_for(self.settings, code)
                    header = referral_cookie.set_cookie_header(spec)
                if header is not None:
                    MutableHeaders(scope=message).append("set-cookie", header)
            await send(message)

        await self.app(scope, receive, send_with_cookie)


class IngestThreads:
    """The threads webhook deliveries are ingested on (``Tierline.ingest`` blocks on the
    database): a thread pool of ``size`` threads, where a delivery waits for a free thread.

    Handing a call to a :class:`~concurrent.futures.ThreadPoolExecutor` through
    ``loop.run_in_executor`` costs about a third of the CPU of Starlette's ``run_in_threadpool``
    (anyio's worker threads: capacity limiter, cancel scopes, ``queue.Queue``): 27-30 against
    63-95 µs per call with 8 concurrent callers on uvloop (2026-11-30), a few percent of a
    webhook. The pool is made in the process that first uses it, again after a fork (a forked
    child has none of its parent's threads).
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self._pool: ThreadPoolExecutor | None = None
        self._pid = 0
        self._lock = threading.Lock()

    def run(self, call: Callable[..., IngestResult], *args: Any) -> Awaitable[IngestResult]:
        """``call(*args)`` on a pool thread, awaited from the running event loop."""
        pool = self._pool
        if pool is None or self._pid != os.getpid():
            pool = self._start()
        return asyncio.get_running_loop().run_in_executor(pool, call, *args)

    def _start(self) -> ThreadPoolExecutor:
        with self._lock:
            if self._pool is None or self._pid != os.getpid():
                self._pool = ThreadPoolExecutor(self.size, thread_name_prefix="tierline-ingest")
                self._pid = os.getpid()
            return self._pool


class TierlineFastAPI:
    """Tierline's routes, gate dependencies and referral capture for one FastAPI app.

    Args:
        tl: the app's :class:`Tierline`.
        current_account: returns the signed-in account's ref for a request (the host's own
            id: a str, an int or a UUID, e.g. ``request.session.get("user_id")``), or ``None``
            (may be ``async``).
        signup_url: where invite links point (default: ``settings.public_url`` + ``/``).
        app_url: the host page the settings page links back to (default: ``settings.app_url``).

    Raises:
        ConfigurationError: ``settings.secret_key`` (``TIERLINE_SECRET_KEY``) is unset.
    """

    def __init__(
        self,
        tl: Tierline,
        *,
        current_account: CurrentAccount,
        signup_url: str | None = None,
        app_url: str | None = None,
    ) -> None:
        signing_key(tl.settings)  # fail at start-up, in every worker, not on the first form
        self.tl = tl
        self.current_account = current_account
        self.signup_url = signup_url
        self.app_url = app_url
        # As many threads as the database pool keeps connections: more would wait for one.
        self._ingest = IngestThreads(tl.settings.db_pool_size)
        self.router = self._build_router()

    def install(self, app: FastAPI) -> None:
        """Add the router, the referral middleware and the 401/402 handler to ``app``."""
        app.include_router(self.router)
        app.add_middleware(ReferralCaptureMiddleware, settings=self.tl.settings)
        app.add_exception_handler(AccessDenied, _access_denied)

    async def account(self, request: Request) -> str | None:
        """The current account's canonical ref, from the host's callable.

        Raises:
            ValidationError: the callable returned something that is not an id (a bool...).
        """
        value = self.current_account(request)
        if inspect.isawaitable(value):
            value = await value
        return current_ref(value)

    async def _page_account(self, request: Request) -> str | Response:
        """The current account's ref for a page, or the page refusing the request."""
        try:
            account = await self.account(request)
        except ValidationError as exc:
            return _error(exc)
        return _unauthenticated_page() if account is None else account

    # -- the gate -------------------------------------------------------------------------
    async def _gate(self, request: Request, feature: str | None) -> str | None:
        try:
            account = await self.account(request)
        except ValidationError as exc:
            raise AccessDenied(invalid_account(exc)) from exc
        denial = await run_in_threadpool(
            check_access, self.tl, account, request.headers.get("authorization"), feature
        )
        if denial is not None:
            raise AccessDenied(denial)
        return account

    async def require_paid(self, request: Request) -> str | None:
        """Dependency: the account needs paid access (else 402; 401 without an account).

        Returns the account ref (``None`` when the admin bearer token let the request in).
        """
        return await self._gate(request, None)

    def require_feature(self, key: str) -> Callable[[Request], Awaitable[str | None]]:
        """Dependency factory: the account's access must include feature ``key``."""

        async def dependency(request: Request) -> str | None:
            return await self._gate(request, key)

        return dependency

    def require_quota(
        self, feature: str, amount: int = 1
    ) -> Callable[[Request], AsyncIterator[str | None]]:
        """Dependency factory: count ``amount`` uses of ``feature`` before the endpoint runs
        (402 ``quota_exceeded`` with ``limit``, ``used`` and ``resets_at`` when they do not
        fit). The use is given back when the endpoint raises.

        Returns the account ref (``None`` when the admin bearer token let the request in,
        which counts nothing).
        """
        clean_amount(amount)

        async def dependency(request: Request) -> AsyncIterator[str | None]:
            try:
                account = await self.account(request)
            except ValidationError as exc:
                raise AccessDenied(invalid_account(exc)) from exc
            ref, denial = await run_in_threadpool(
                consume_quota,
                self.tl,
                account,
                request.headers.get("authorization"),
                feature,
                amount,
            )
            if denial is not None:
                raise AccessDenied(denial)
            try:
                yield account
            except Exception:
                if ref is not None:
                    await run_in_threadpool(self.tl.usage.release, ref, feature, amount)
                raise

        return dependency

    # -- referrals ------------------------------------------------------------------------
    def claim_referral(self, request: Request, account_ref: AccountRef) -> ReferralInfo | None:
        """At sign-up: attribute ``account_ref`` to the captured referral code, if any.

        Raises the TierlineError of a bad code (unknown, self-referral, already referred) for
        the host to show. The cookie is cleared on this response either way. It queries the
        database: from an ``async`` endpoint, await :meth:`claim_referral_async` instead.
        """
        setattr(request.state, _CLAIMED, True)
        return referral_cookie.claim(
            self.tl,
            account_ref,
            query_value=request.query_params.get(referral_cookie.QUERY_PARAM),
            cookie_value=request.cookies.get(referral_cookie.COOKIE_NAME),
        )

    async def claim_referral_async(
        self, request: Request, account_ref: AccountRef
    ) -> ReferralInfo | None:
        """:meth:`claim_referral` for ``async`` endpoints (the database work runs in a thread)."""
        return await run_in_threadpool(self.claim_referral, request, account_ref)

    # -- routes ---------------------------------------------------------------------------
    def _build_router(self) -> APIRouter:
        router = APIRouter()
        # A plain Starlette route: the webhook needs only the raw body, and skipping FastAPI's
        # parameter solving and validation is a sizeable part of its per-request cost.
        router.add_route(
            WEBHOOK_PATH + "/{provider}",
            self._webhook,
            methods=["POST"],
            name="tierline_webhook",
            include_in_schema=False,
        )
        # HTML pages and assets: not part of the app's API schema.
        pages_routes: list[tuple[str, Callable[..., Awaitable[Response]], str]] = [
            (SETTINGS_PATH, self._settings_page, "GET"),
            (CHECKOUT_PATH + "/{tier_key}", self._checkout, "POST"),
            (selfservice.PORTAL_PATH, self._portal, "POST"),
            (selfservice.CANCEL_PATH, self._cancel, "POST"),
            (selfservice.RESUME_PATH, self._resume, "POST"),
            (selfservice.CHANGE_PATH + "/{tier_key}", self._change_page, "GET"),
            (selfservice.CHANGE_PATH + "/{tier_key}", self._change, "POST"),
            (STATIC_PATH + "/{name}", self._static, "GET"),
        ]
        if fake_checkout_mounted(self.tl.settings):
            pages_routes += [
                (FAKE_CHECKOUT_PATH, self._fake_checkout_page, "GET"),
                (FAKE_CHECKOUT_PATH, self._fake_checkout_pay, "POST"),
            ]
        for path, endpoint, method in pages_routes:
            router.add_api_route(path, endpoint, methods=[method], include_in_schema=False)
        return router

    async def _webhook(self, request: Request) -> Response:
        provider: str = request.path_params["provider"]
        if not webhook_mounted(self.tl.settings, provider):
            raise HTTPException(status_code=404)
        limit = self.tl.settings.max_body_bytes
        size = declared_length(request.headers.get("content-length"))
        result: IngestResult
        if size is not None and size > limit:
            result = body_too_large(self.tl.settings, size)
        else:
            body = bytearray()
            async for chunk in request.stream():
                body.extend(chunk)
                if len(body) > limit:
                    break
            if len(body) > limit:
                result = body_too_large(self.tl.settings)
            else:
                result = await self._ingest.run(
                    self.tl.ingest, provider, dict(request.headers), bytes(body)
                )
        status_code, answer = webhook_answer(result)
        return JSONResponse(answer, status_code=status_code)

    async def _settings_page(self, request: Request) -> Response:
        account = await self._page_account(request)
        if isinstance(account, Response):
            return account
        try:
            page = await run_in_threadpool(
                pages.settings_page_context,
                self.tl,
                account,
                signup_url=self.signup_url,
                checkout=request.query_params.get("checkout"),
                app_url=self.app_url,
            )
        except TierlineError as exc:
            return _error(exc)
        return HTMLResponse(pages.render_settings_page(page, self.tl.settings))

    async def _posted(self, request: Request) -> tuple[str, dict[str, Any]] | Response:
        """The account and form of a settings-page POST, or the response refusing it."""
        account = await self._page_account(request)
        form = dict(await request.form())
        if isinstance(account, Response):
            return account
        token = form.get("csrf_token")
        if not csrf_valid(self.tl.settings, token if isinstance(token, str) else None, account):
            return _page(403, "Please reload the page", FORM_EXPIRED)
        return account, form

    async def _checkout(self, tier_key: str, request: Request) -> Response:
        posted = await self._posted(request)
        if isinstance(posted, Response):
            return posted
        account, form = posted
        answer = await run_in_threadpool(selfservice.checkout, self.tl, account, tier_key, form)
        return _answer(answer)

    # -- self-service (tierline.web.selfservice) ----------------------------------------------
    async def _portal(self, request: Request) -> Response:
        posted = await self._posted(request)
        if isinstance(posted, Response):
            return posted
        return _answer(await run_in_threadpool(selfservice.portal, self.tl, posted[0]))

    async def _cancel(self, request: Request) -> Response:
        posted = await self._posted(request)
        if isinstance(posted, Response):
            return posted
        account, form = posted
        return _answer(await run_in_threadpool(selfservice.cancel, self.tl, account, form))

    async def _resume(self, request: Request) -> Response:
        posted = await self._posted(request)
        if isinstance(posted, Response):
            return posted
        return _answer(await run_in_threadpool(selfservice.resume, self.tl, posted[0]))

    async def _change_page(self, tier_key: str, request: Request) -> Response:
        account = await self._page_account(request)
        if isinstance(account, Response):
            return account
        answer = await run_in_threadpool(selfservice.change_page, self.tl, account, tier_key)
        return _answer(answer)

    async def _change(self, tier_key: str, request: Request) -> Response:
        posted = await self._posted(request)
        if isinstance(posted, Response):
            return posted
        account, form = posted
        answer = await run_in_threadpool(selfservice.change, self.tl, account, tier_key, form)
        return _answer(answer)

    async def _fake_checkout_page(self, request: Request) -> Response:
        account = await self._page_account(request)
        if isinstance(account, Response):
            return account
        tier = request.query_params.get("tier", "")
        try:
            page = await run_in_threadpool(pages.fake_checkout_context, self.tl, account, tier)
        except TierlineError as exc:
            return _error(exc)
        return HTMLResponse(pages.render_fake_checkout(page))

    async def _fake_checkout_pay(self, request: Request) -> Response:
        posted = await self._posted(request)
        if isinstance(posted, Response):
            return posted
        account, form = posted
        tier = form.get("tier")
        tier_key = tier if isinstance(tier, str) else ""
        try:
            result = await run_in_threadpool(
                pages.complete_fake_checkout, self.tl, account, tier_key
            )
        except TierlineError as exc:
            return _error(exc)
        if result.status_code >= 300:
            return _page(502, "The fake payment was not applied", pages.ingest_failure(result))
        return RedirectResponse(f"{SETTINGS_PATH}?checkout=success", status_code=303)

    async def _static(self, name: str) -> Response:
        asset = pages.static_asset(name)
        if asset is None:
            return Response("not found", status_code=404, media_type="text/plain")
        data, content_type = asset
        return Response(data, media_type=content_type, headers={"Cache-Control": "max-age=3600"})


def _answer(answer: selfservice.Answer) -> Response:
    if answer.redirect is not None:
        return RedirectResponse(answer.redirect, status_code=303)
    return HTMLResponse(answer.html, status_code=answer.status_code)


def _page(status_code: int, title: str, message: str) -> HTMLResponse:
    page = pages.ErrorPage(status_code, title, message)
    return HTMLResponse(pages.render_error(page), status_code=status_code)


def _error(exc: TierlineError) -> HTMLResponse:
    page = pages.error_page(exc)
    return HTMLResponse(pages.render_error(page), status_code=page.status_code)


def _unauthenticated_page() -> HTMLResponse:
    return _page(401, "Please sign in", pages.SIGN_IN_MESSAGE)
