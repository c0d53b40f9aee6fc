"""The example FastAPI app: magic-code sign-in, referrals, a paid API, Tierline's billing pages.

Run it with ``tierline demo`` (or ``uvicorn --factory examples.fastapi_app:create_app``).

What Tierline does here, in four lines of wiring (see :func:`create_app`):

* ``Tierline(...)`` on the app's own engine, with the catalog in ``tierline.toml``;
* ``TierlineFastAPI(tl, current_account=...).install(app)``: webhooks, ``/billing/settings``,
  checkout, the fake provider's checkout page, and ``?ref=`` capture on every request;
* ``Depends(billing.require_quota("analyze"))`` on ``/api/analyze``: 3 a day on the free tier,
  then 402 ``quota_exceeded`` with the count and the reset time (the settings page shows the
  usage bar); unlimited, still counted, on Pro;
* ``tl.seats.assign(account, user)`` at sign-in: each user holds a seat of their own account
  (the settings page shows the seat count: 1 of 1 on Free, 1 of 3 on Pro);
* ``billing.claim_referral(request, account_ref)`` when a new user signs in.
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy.orm import Session, sessionmaker
from starlette.middleware.sessions import SessionMiddleware

from tierline import Tierline, TierlineError, TierlineSettings
from tierline import db as tierline_db
from tierline.db.types import utcnow
from tierline.web.fastapi import TierlineFastAPI

from . import db
from .auth import SignInError, clean_email, issue_code, redeem_code

#: The demo catalog: a free tier, and a pro tier bought through the offline fake provider.
CATALOG_PATH = Path(__file__).with_name("tierline.toml")
TEMPLATES = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))
#: The session key holding the signed-in user's id (also their Tierline account_ref).
USER_KEY = "uid"


def current_account(request: Request) -> str | None:
    """The signed-in user's Tierline account ref: their user id, from the signed session."""
    uid = request.session.get(USER_KEY)
    return str(uid) if uid is not None else None


def create_app(
    database_url: str | None = None,
    *,
    catalog_path: str | Path = CATALOG_PATH,
    settings: TierlineSettings | None = None,
    session_secret: str | None = None,
) -> FastAPI:
    """Build the app on ``database_url``: run both migration chains, sync the catalog.

    Args:
        database_url: one database for the app's tables and Tierline's (default: the
            ``TIERLINE_DATABASE_URL`` setting).
        catalog_path: the catalog TOML synced at start-up.
        settings: Tierline's settings (default: the ``TIERLINE_*`` environment).
        session_secret: signs the session cookie (default: ``settings.secret_key``, else a
            random key per process, so sessions end when the process does).
    """
    settings = settings or TierlineSettings()
    if database_url is not None:
        settings = settings.model_copy(update={"database_url": database_url})
    engine = tierline_db.make_engine(settings.database_url)
    # Two chains, one database: Tierline's tables (tierline_*, tierline_alembic_version) and
    # this app's (users, login_codes, alembic_version). Neither touches the other's.
    tierline_db.upgrade(engine)
    db.upgrade(engine)
    tl = Tierline(settings=settings, catalog=Path(catalog_path), engine=engine)
    tl.sync_catalog()

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        yield
        engine.dispose()

    app = FastAPI(title="Tierline demo", lifespan=lifespan)
    app.state.tierline = tl
    app.state.sessions = sessionmaker(engine, expire_on_commit=False)
    base = settings.public_url.rstrip("/")
    billing = TierlineFastAPI(tl, current_account=current_account, signup_url=f"{base}/login")
    billing.install(app)
    secret = session_secret or settings.secret_key or secrets.token_urlsafe(32)
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret,
        session_cookie="demo_session",
        same_site="lax",
        https_only=base.startswith("https://"),
    )
    _add_pages(app, tl, billing, app.state.sessions)
    return app


def _page(request: Request, name: str, status_code: int = 200, **context: Any) -> Response:
    context.setdefault("signed_in", request.session.get(USER_KEY) is not None)
    context.setdefault("email", request.session.get("email"))
    return TEMPLATES.TemplateResponse(request, name, context, status_code=status_code)


def _add_pages(
    app: FastAPI, tl: Tierline, billing: TierlineFastAPI, sessions: sessionmaker[Session]
) -> None:
    @app.get("/", response_class=HTMLResponse)
    def home(request: Request) -> Response:
        account = current_account(request)
        if account is not None:
            with sessions() as session:
                if session.get(db.User, int(account)) is None:
                    # A session that outlived its database (a reset demo): start over.
                    request.session.clear()
                    account = None
        status = tl.status(account) if account is not None else None
        return _page(
            request, "home.html", status=status, notice=request.session.pop("notice", None)
        )

    @app.get("/login", response_class=HTMLResponse)
    def login_form(request: Request, ref: str | None = None) -> Response:
        # Tierline's middleware already kept ?ref= in a signed cookie; this only says so.
        return _page(request, "login.html", ref=ref)

    @app.post("/login", response_class=HTMLResponse)
    def login(request: Request, email: str = Form("")) -> Response:
        try:
            address = clean_email(email)
        except SignInError as exc:
            return _page(request, "login.html", 400, error=str(exc), ref=None)
        with sessions.begin() as session:
            code = issue_code(session, address, utcnow())
        # A real app emails the code; the demo shows it so you can sign in offline.
        return _page(request, "verify.html", email_to_verify=address, code=code)

    @app.get("/verify", response_class=HTMLResponse)
    def verify_form(request: Request, email: str = "") -> Response:
        return _page(request, "verify.html", email_to_verify=email, code=None)

    @app.post("/verify", response_class=HTMLResponse)
    def verify(request: Request, email: str = Form(""), code: str = Form("")) -> Response:
        with sessions() as session:
            try:
                signed = redeem_code(session, clean_email(email), code, utcnow())
            except SignInError as exc:
                session.commit()  # keep the failed attempt counted
                return _page(
                    request, "verify.html", 400, email_to_verify=email, code=None, error=str(exc)
                )
            session.commit()
        account_ref = str(signed.user_id)
        tl.ensure_account(account_ref, signed.email)
        tl.seats.assign(account_ref, account_ref)  # idempotent: a returning user keeps theirs
        if signed.created:
            try:
                referral = billing.claim_referral(request, account_ref)
            except TierlineError as exc:
                # An unknown or own code must not block sign-up: say why it was not applied.
                request.session["notice"] = f"Your invite code was not applied: {exc}"
            else:
                if referral is not None:
                    request.session["notice"] = "Welcome! Your invite was recorded."
        request.session[USER_KEY] = signed.user_id
        request.session["email"] = signed.email
        return RedirectResponse("/", status_code=303)

    @app.post("/logout")
    def logout(request: Request) -> Response:
        request.session.clear()
        return RedirectResponse("/", status_code=303)

    @app.get("/settings")
    def settings_page() -> Response:
        return RedirectResponse("/billing/settings", status_code=303)

    @app.get("/api/analyze")
    def analyze(account: str | None = Depends(billing.require_quota("analyze"))) -> dict[str, Any]:
        """A metered endpoint: each call counts; the free tier gets 3 a day, then 402
        ``quota_exceeded`` (with ``limit``, ``used``, ``resets_at``) until midnight UTC or an
        upgrade to Pro (no limit)."""
        return {"account": account, "analysis": "Everything looks great.", "score": 0.97}
