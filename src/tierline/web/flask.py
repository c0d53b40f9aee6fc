"""Flask adapter: webhooks, billing pages, the 402 gate, referral capture and ``flask tierline``.

Usage::

    billing = TierlineFlask(app, tl=tl, current_account=lambda: session.get("uid"))

    @app.get("/reports")
    @require_paid
    def reports(): ...

    @app.get("/export")
    @require_feature("export")
    def export(): ...

    @app.post("/analyze")
    @require_quota("analyze")
    def analyze(): ...

The extension registers a blueprint (``POST /webhooks/<provider>``, ``/billing/...``), the
``?ref=`` capture, and the ``flask tierline ...`` command (the whole ``tierline`` CLI, run
against the app's Tierline database unless ``--database-url``/``TIERLINE_DATABASE_URL`` say
otherwise).
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

import click
from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    g,
    jsonify,
    redirect,
    request,
)
from flask.cli import with_appcontext
from flask.typing import ResponseReturnValue

from tierline.accounts.service import AccountRef
from tierline.billing.checkout import FAKE_CHECKOUT_PATH
from tierline.billing.result import IngestResult
from tierline.errors import ConfigurationError, TierlineError, ValidationError
from tierline.facade import Tierline
from tierline.referrals.service import ReferralInfo
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
    fake_checkout_mounted,
    invalid_account,
    signing_key,
    webhook_answer,
    webhook_mounted,
)

P = ParamSpec("P")
R = TypeVar("R")

EXTENSION_KEY = "tierline"
_CAPTURED = "tierline_captured_ref"
_CLAIMED = "tierline_referral_claimed"


class TierlineFlask:
    """Tierline's blueprint, referral capture and CLI for a Flask app.

    Args:
        app: the app, or ``None`` to call :meth:`init_app` later (app factories).
        tl: the app's :class:`Tierline`.
        current_account: returns the signed-in account's ref for the current request (the
            host's own id: a str, an int or a UUID, e.g. ``session.get("user_id")``), or
            ``None``.
        signup_url: where invite links point (default: ``settings.public_url`` + ``/``).
        app_url: the host page the settings page links back to (default: ``settings.app_url``).
    """

    def __init__(
        self,
        app: Flask | None = None,
        *,
        tl: Tierline | None = None,
        current_account: Callable[[], AccountRef | None] | None = None,
        signup_url: str | None = None,
        app_url: str | None = None,
    ) -> None:
        self._tl = tl
        self.current_account = current_account
        self.signup_url = signup_url
        self.app_url = app_url
        self.blueprint = self._build_blueprint()
        if app is not None:
            self.init_app(app)

    @property
    def tl(self) -> Tierline:
        if self._tl is None:
            raise ConfigurationError("TierlineFlask needs tl=Tierline(...) before init_app()")
        return self._tl

    def init_app(self, app: Flask) -> None:
        """Register the blueprint, the referral capture and ``flask tierline`` on ``app``.

        Raises:
            ConfigurationError: no ``current_account``, no ``tl``, or ``settings.secret_key``
                (``TIERLINE_SECRET_KEY``) unset.
        """
        if self.current_account is None:
            raise ConfigurationError(
                "TierlineFlask needs current_account=<callable returning the account ref>"
            )
        signing_key(self.tl.settings)  # fail at start-up, in every worker, not on a request
        app.extensions[EXTENSION_KEY] = self
        app.register_blueprint(self.blueprint)
        app.before_request(_capture_referral)
        app.after_request(_write_referral_cookie)
        app.cli.add_command(tierline_command)

    def account(self) -> str | None:
        """The current account's canonical ref, from the host's callable.

        Raises:
            ValidationError: the callable returned something that is not an id (a bool...).
        """
        assert self.current_account is not None
        return current_ref(self.current_account())

    def _page_account(self) -> str | Response:
        """The current account's ref for a page, or the page refusing the request."""
        try:
            account = self.account()
        except ValidationError as exc:
            return _error(exc)
        if account is None:
            return _page(401, "Please sign in", pages.SIGN_IN_MESSAGE)
        return account

    def claim_referral(self, account_ref: AccountRef) -> ReferralInfo | None:
        """At sign-up: attribute ``account_ref`` to the captured referral code, if any.

        Raises the TierlineError of a bad code (unknown, self-referral, already referred) for
        the host to show. The cookie is cleared on this response either way.
        """
        setattr(g, _CLAIMED, True)
        return referral_cookie.claim(
            self.tl,
            account_ref,
            query_value=request.args.get(referral_cookie.QUERY_PARAM),
            cookie_value=request.cookies.get(referral_cookie.COOKIE_NAME),
        )

    # -- routes ---------------------------------------------------------------------------
    def _build_blueprint(self) -> Blueprint:
        bp = Blueprint("tierline", __name__)
        bp.add_url_rule(WEBHOOK_PATH + "/<provider>", "webhook", self._webhook, methods=["POST"])
        bp.add_url_rule(SETTINGS_PATH, "settings", self._settings_page, methods=["GET"])
        bp.add_url_rule(CHECKOUT_PATH + "/<tier_key>", "checkout", self._checkout, methods=["POST"])
        bp.add_url_rule(selfservice.PORTAL_PATH, "portal", self._portal, methods=["POST"])
        bp.add_url_rule(selfservice.CANCEL_PATH, "cancel", self._cancel, methods=["POST"])
        bp.add_url_rule(selfservice.RESUME_PATH, "resume", self._resume, methods=["POST"])
        bp.add_url_rule(
            selfservice.CHANGE_PATH + "/<tier_key>", "change", self._change, methods=["GET", "POST"]
        )
        if self._tl is not None and fake_checkout_mounted(self._tl.settings):
            bp.add_url_rule(
                FAKE_CHECKOUT_PATH, "fake_checkout", self._fake_checkout, methods=["GET", "POST"]
            )
        bp.add_url_rule(STATIC_PATH + "/<name>", "static_asset", self._static, methods=["GET"])
        return bp

    def _webhook(self, provider: str) -> ResponseReturnValue:
        if not webhook_mounted(self.tl.settings, provider):
            abort(404)
        limit = self.tl.settings.max_body_bytes
        result: IngestResult
        if request.content_length is not None and request.content_length > limit:
            result = body_too_large(self.tl.settings, request.content_length)
        else:
            body = _read_at_most(limit + 1)
            if len(body) > limit:
                result = body_too_large(self.tl.settings)
            else:
                result = self.tl.ingest(provider, dict(request.headers), body)
        status_code, answer = webhook_answer(result)
        return jsonify(answer), status_code

    def _settings_page(self) -> ResponseReturnValue:
        account = self._page_account()
        if isinstance(account, Response):
            return account
        try:
            page = pages.settings_page_context(
                self.tl,
                account,
                signup_url=self.signup_url,
                checkout=request.args.get("checkout"),
                app_url=self.app_url,
            )
        except TierlineError as exc:
            return _error(exc)
        return pages.render_settings_page(page, self.tl.settings)

    def _posted_account(self) -> str | Response:
        """The account of a settings-page POST, or the response refusing it."""
        account = self._page_account()
        if isinstance(account, Response):
            return account
        if not csrf_valid(self.tl.settings, request.form.get("csrf_token"), account):
            return _page(403, "Please reload the page", FORM_EXPIRED)
        return account

    def _checkout(self, tier_key: str) -> ResponseReturnValue:
        account = self._posted_account()
        if isinstance(account, Response):
            return account
        return _answer(selfservice.checkout(self.tl, account, tier_key, request.form))

    # -- self-service (tierline.web.selfservice) ----------------------------------------------
    def _portal(self) -> ResponseReturnValue:
        account = self._posted_account()
        if isinstance(account, Response):
            return account
        return _answer(selfservice.portal(self.tl, account))

    def _cancel(self) -> ResponseReturnValue:
        account = self._posted_account()
        if isinstance(account, Response):
            return account
        return _answer(selfservice.cancel(self.tl, account, request.form))

    def _resume(self) -> ResponseReturnValue:
        account = self._posted_account()
        if isinstance(account, Response):
            return account
        return _answer(selfservice.resume(self.tl, account))

    def _change(self, tier_key: str) -> ResponseReturnValue:
        if request.method == "GET":
            page_account = self._page_account()
            if isinstance(page_account, Response):
                return page_account
            return _answer(selfservice.change_page(self.tl, page_account, tier_key))
        account = self._posted_account()
        if isinstance(account, Response):
            return account
        return _answer(selfservice.change(self.tl, account, tier_key, request.form))

    def _fake_checkout(self) -> ResponseReturnValue:
        if request.method == "GET":
            account = self._page_account()
            if isinstance(account, Response):
                return account
            try:
                page = pages.fake_checkout_context(self.tl, account, request.args.get("tier", ""))
            except TierlineError as exc:
                return _error(exc)
            return pages.render_fake_checkout(page)
        posted = self._posted_account()
        if isinstance(posted, Response):
            return posted
        try:
            result = pages.complete_fake_checkout(self.tl, posted, request.form.get("tier", ""))
        except TierlineError as exc:
            return _error(exc)
        if result.status_code >= 300:
            return _page(502, "The fake payment was not applied", pages.ingest_failure(result))
        return redirect(f"{SETTINGS_PATH}?checkout=success", code=303)

    def _static(self, name: str) -> ResponseReturnValue:
        asset = pages.static_asset(name)
        if asset is None:
            return Response("not found", status=404, mimetype="text/plain")
        data, content_type = asset
        return Response(data, content_type=content_type, headers={"Cache-Control": "max-age=3600"})


def _read_at_most(size: int) -> bytes:
    """Up to ``size`` bytes of the request body: an oversized body is never read whole."""
    body = bytearray()
    while len(body) < size:
        chunk = request.stream.read(min(64 * 1024, size - len(body)))
        if not chunk:
            break
        body.extend(chunk)
    return bytes(body)


def _extension() -> TierlineFlask:
    ext = current_app.extensions.get(EXTENSION_KEY)
    if not isinstance(ext, TierlineFlask):
        raise ConfigurationError("TierlineFlask is not initialised on this app; call init_app")
    return ext


def _answer(answer: selfservice.Answer) -> ResponseReturnValue:
    if answer.redirect is not None:
        return redirect(answer.redirect, code=303)
    return Response(answer.html, status=answer.status_code, mimetype="text/html")


def _page(status_code: int, title: str, message: str) -> Response:
    html = pages.render_error(pages.ErrorPage(status_code, title, message))
    return Response(html, status=status_code, mimetype="text/html")


def _error(exc: TierlineError) -> Response:
    page = pages.error_page(exc)
    return Response(pages.render_error(page), status=page.status_code, mimetype="text/html")


# -- the gate ------------------------------------------------------------------------------
def _gate(feature: str | None) -> Response | None:
    ext = _extension()
    denial: Denial | None
    try:
        account = ext.account()
    except ValidationError as exc:
        denial = invalid_account(exc)
    else:
        denial = check_access(ext.tl, account, request.headers.get("Authorization"), feature)
    if denial is None:
        return None
    response = jsonify(denial.body)
    response.status_code = denial.status_code
    return response


def require_paid(view: Callable[P, R]) -> Callable[P, R | Response]:
    """Decorator: the current account needs paid access (else 402; 401 without an account).

    The admin bearer token (``Authorization: Bearer <admin_token>``) passes.
    """

    @functools.wraps(view)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | Response:
        refusal = _gate(None)
        return refusal if refusal is not None else view(*args, **kwargs)

    return wrapper


def require_feature(key: str) -> Callable[[Callable[P, R]], Callable[P, R | Response]]:
    """Decorator factory: the current account's access must include feature ``key``."""

    def decorator(view: Callable[P, R]) -> Callable[P, R | Response]:
        @functools.wraps(view)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | Response:
            refusal = _gate(key)
            return refusal if refusal is not None else view(*args, **kwargs)

        return wrapper

    return decorator


def require_quota(
    feature: str, amount: int = 1
) -> Callable[[Callable[P, R]], Callable[P, R | Response]]:
    """Decorator factory: count ``amount`` uses of ``feature`` before the view runs (402
    ``quota_exceeded`` with ``limit``, ``used`` and ``resets_at`` when they do not fit); the
    use is given back when the view raises. The admin bearer token passes without counting.
    """
    clean_amount(amount)

    def decorator(view: Callable[P, R]) -> Callable[P, R | Response]:
        @functools.wraps(view)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R | Response:
            ext = _extension()
            denial: Denial | None
            ref: str | None = None
            try:
                account = ext.account()
            except ValidationError as exc:
                denial = invalid_account(exc)
            else:
                ref, denial = consume_quota(
                    ext.tl, account, request.headers.get("Authorization"), feature, amount
                )
            if denial is not None:
                response = jsonify(denial.body)
                response.status_code = denial.status_code
                return response
            try:
                return view(*args, **kwargs)
            except Exception:
                if ref is not None:
                    ext.tl.usage.release(ref, feature, amount)
                raise

        return wrapper

    return decorator


# -- referral capture ----------------------------------------------------------------------
def _capture_referral() -> None:
    code = referral_cookie.captured_code(request.args.get(referral_cookie.QUERY_PARAM))
    if code is not None:
        setattr(g, _CAPTURED, code)


def _write_referral_cookie(response: Response) -> Response:
    ext = current_app.extensions.get(EXTENSION_KEY)
    if not isinstance(ext, TierlineFlask):
        return response
    if g.get(_CLAIMED):
        response.delete_cookie(referral_cookie.COOKIE_NAME, path="/", httponly=True, samesite="Lax")
        return response
    code = g.get(_CAPTURED)
    if code is not None:
        spec = referral_cookie.cookie_for(ext.tl.settings, code)
        response.set_cookie(
            spec.name,
            spec.value,
            max_age=spec.max_age,
            path=spec.path,
            httponly=spec.httponly,
            samesite=spec.samesite,
            secure=spec.secure,
        )
    return response


# -- flask tierline ------------------------------------------------------------------------
@contextmanager
def _default_database_url(url: str) -> Iterator[None]:
    """Point the CLI at the app's database for one command, unless the environment chose."""
    if "TIERLINE_DATABASE_URL" in os.environ:
        yield
        return
    os.environ["TIERLINE_DATABASE_URL"] = url
    try:
        yield
    finally:
        os.environ.pop("TIERLINE_DATABASE_URL", None)


@click.command(
    "tierline",
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,
    help="Tierline's CLI (tiers, accounts, credits, referrals, events, db).",
)
@with_appcontext
@click.pass_context
def tierline_command(ctx: click.Context) -> None:
    """Forward every argument to the ``tierline`` Typer app.

    Typer vendors its own click, so its app cannot be added to Flask's group directly; this
    plain click command hands it the raw arguments instead.
    """
    from typer.main import get_command

    from tierline.cli.app import app as cli_app

    ext = _extension()
    command = get_command(cli_app)
    with _default_database_url(ext.tl.settings.database_url):
        try:
            command.main(args=list(ctx.args), prog_name="flask tierline", standalone_mode=True)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
            ctx.exit(code)
