"""Two small host apps, one per adapter, and a client wrapper so tests run against both.

The host identifies the current account by the ``X-Account`` header (a stand-in for its own
session); the apps gate ``/reports`` (paid) and ``/export`` (feature ``export``), and have
login pages and a sign-up that claims the referral cookie.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any, Protocol

from fastapi import Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.testclient import TestClient
from flask import Flask, jsonify
from flask import request as flask_request

from tierline import Tierline, TierlineError, TierlineSettings
from tierline.billing.providers import fake, sign_for
from tierline.catalog.models import LimitPeriod
from tierline.catalog.spec import Catalog, LimitSpec, ReferralPolicy, TierSpec
from tierline.web.fastapi import TierlineFastAPI
from tierline.web.flask import TierlineFlask, require_feature, require_paid, require_quota

ADMIN_TOKEN = "admin-token-for-tests"
WEBHOOK_SECRET = "whsec_web_tests"
SECRET_KEY = "web-tests-secret-key"

CATALOG = Catalog(
    tiers={
        "free": TierSpec(
            key="free",
            name="Free",
            exempt=True,
            features=("dashboard",),
            limits={"analyze": LimitSpec(2, LimitPeriod.DAY)},
        ),
        "team": TierSpec(
            key="team",
            name="Team",
            sort_order=1,
            fallback_price="$30/mo",
            features=("dashboard", "reports"),
            providers={"fake": ("team_fake",)},
        ),
        "pro": TierSpec(
            key="pro",
            name="Pro",
            sort_order=2,
            fallback_price="$12/mo",
            features=("dashboard", "reports", "export"),
            providers={"stripe": ("pro_monthly", "pro_yearly"), "fake": ("pro_fake",)},
        ),
        "legacy": TierSpec(
            key="legacy",
            name="Legacy",
            customer_facing=False,
            features=("dashboard",),
            providers={"paddle": ("pri_legacy",)},
        ),
        "partner": TierSpec(
            key="partner",
            name="Partner",
            exempt=True,
            customer_facing=False,
            features=("dashboard", "reports"),
        ),
        "staff": TierSpec(
            key="staff",
            name="Staff",
            exempt=True,
            customer_facing=False,
            features=("dashboard", "reports", "export"),
        ),
    },
    features={"dashboard": None, "reports": None, "export": None, "analyze": None},
    referrals=ReferralPolicy(reward_days=14),
    free_tier="free",
)


def web_settings(database_url: str, **overrides: Any) -> TierlineSettings:
    values: dict[str, Any] = {
        "database_url": database_url,
        "admin_token": ADMIN_TOKEN,
        "enable_fake_provider": True,
        "fake_webhook_secret": [WEBHOOK_SECRET],
        "secret_key": SECRET_KEY,
        "public_url": "https://app.example.com",
    }
    values.update(overrides)
    return TierlineSettings(**values)


# -- host apps -----------------------------------------------------------------------------
def build_fastapi_app(tl: Tierline) -> FastAPI:
    app = FastAPI()

    async def current_account(request: Request) -> str | None:
        return request.headers.get("x-account")

    billing = TierlineFastAPI(tl, current_account=current_account)
    billing.install(app)

    @app.get("/reports")
    def reports(account: str | None = Depends(billing.require_paid)) -> dict[str, Any]:
        return {"ok": True, "account": account}

    @app.get("/export", dependencies=[Depends(billing.require_feature("export"))])
    def export() -> dict[str, Any]:
        return {"ok": True}

    @app.post("/analyze")
    def analyze(account: str | None = Depends(billing.require_quota("analyze"))) -> dict[str, Any]:
        return {"ok": True, "account": account}

    @app.post("/analyze-broken", dependencies=[Depends(billing.require_quota("analyze"))])
    def analyze_broken() -> dict[str, Any]:
        raise RuntimeError("the analysis crashed")

    @app.get("/login", response_class=HTMLResponse)
    def login_page() -> str:
        return "<form method=post>login</form>"

    @app.post("/login")
    def login() -> dict[str, str]:
        return {"sent": "check your email"}

    @app.get("/verify")
    def verify() -> dict[str, str]:
        return {"verified": "yes"}

    @app.post("/signup")
    async def signup(request: Request) -> JSONResponse:
        form = await request.form()
        account = str(form["account"])
        tl.ensure_account(account)
        try:
            info = await billing.claim_referral_async(request, account)
        except TierlineError as exc:
            return JSONResponse({"error": str(exc)}, status_code=400)
        return JSONResponse({"referrer": info.referrer_ref if info else None})

    return app


def build_flask_app(tl: Tierline) -> Flask:
    app = Flask(__name__)
    billing = TierlineFlask(tl=tl, current_account=lambda: flask_request.headers.get("X-Account"))
    billing.init_app(app)

    @app.get("/reports")
    @require_paid
    def reports() -> Any:
        return jsonify(ok=True, account=flask_request.headers.get("X-Account"))

    @app.get("/export")
    @require_feature("export")
    def export() -> Any:
        return jsonify(ok=True)

    @app.post("/analyze")
    @require_quota("analyze")
    def analyze() -> Any:
        return jsonify(ok=True, account=flask_request.headers.get("X-Account"))

    @app.post("/analyze-broken")
    @require_quota("analyze")
    def analyze_broken() -> Any:
        raise RuntimeError("the analysis crashed")

    @app.get("/login")
    def login_page() -> str:
        return "<form method=post>login</form>"

    @app.post("/login")
    def login() -> Any:
        return jsonify(sent="check your email")

    @app.get("/verify")
    def verify() -> Any:
        return jsonify(verified="yes")

    @app.post("/signup")
    def signup() -> Any:
        account = flask_request.form["account"]
        tl.ensure_account(account)
        try:
            info = billing.claim_referral(account)
        except TierlineError as exc:
            return jsonify(error=str(exc)), 400
        return jsonify(referrer=info.referrer_ref if info else None)

    return app


# -- one client shape for both adapters ----------------------------------------------------
@dataclass
class Reply:
    status: int
    text: str
    headers: Mapping[str, str]
    set_cookies: list[str]

    def json(self) -> Any:
        return json.loads(self.text)

    @property
    def location(self) -> str:
        return self.headers["location"]


class WebClient(Protocol):
    adapter: str

    def get(self, path: str, *, account: str | None = None, **headers: str) -> Reply: ...

    def post(
        self,
        path: str,
        *,
        account: str | None = None,
        data: Mapping[str, str] | None = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply: ...

    def cookie(self, name: str) -> str | None: ...


def _headers(account: str | None, extra: Mapping[str, str] | None) -> dict[str, str]:
    headers = dict(extra or {})
    if account is not None:
        headers["X-Account"] = account
    return headers


class FastAPIClient:
    adapter = "fastapi"

    def __init__(self, tl: Tierline) -> None:
        self.client = TestClient(
            build_fastapi_app(tl), base_url="https://testserver", follow_redirects=False
        )

    def _reply(self, response: Any) -> Reply:
        return Reply(
            response.status_code,
            response.text,
            {k.lower(): v for k, v in response.headers.items()},
            response.headers.get_list("set-cookie"),
        )

    def get(self, path: str, *, account: str | None = None, **headers: str) -> Reply:
        return self._reply(self.client.get(path, headers=_headers(account, headers)))

    def post(
        self,
        path: str,
        *,
        account: str | None = None,
        data: Mapping[str, str] | None = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        response = self.client.post(
            path,
            data=dict(data) if data else None,
            content=body,
            headers=_headers(account, headers),
        )
        return self._reply(response)

    def cookie(self, name: str) -> str | None:
        value = self.client.cookies.get(name)
        return str(value) if value is not None else None


class FlaskClient:
    adapter = "flask"

    def __init__(self, tl: Tierline) -> None:
        self.app = build_flask_app(tl)
        self.client = self.app.test_client()

    def _reply(self, response: Any) -> Reply:
        return Reply(
            response.status_code,
            response.get_data(as_text=True),
            {k.lower(): v for k, v in response.headers.items()},
            response.headers.getlist("Set-Cookie"),
        )

    def get(self, path: str, *, account: str | None = None, **headers: str) -> Reply:
        return self._reply(self.client.get(path, headers=_headers(account, headers)))

    def post(
        self,
        path: str,
        *,
        account: str | None = None,
        data: Mapping[str, str] | None = None,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        response = self.client.post(
            path, data=dict(data) if data else body, headers=_headers(account, headers)
        )
        return self._reply(response)

    def cookie(self, name: str) -> str | None:
        found = self.client.get_cookie(name)
        return found.value if found is not None else None


CLIENTS: dict[str, Callable[[Tierline], WebClient]] = {
    "fastapi": FastAPIClient,
    "flask": FlaskClient,
}


# -- webhooks ------------------------------------------------------------------------------
def signed_fake_event(
    tl: Tierline, event_type: str, account: str, tier_key: str, **fields: Any
) -> tuple[bytes, dict[str, str]]:
    """A fake-provider event for ``account`` on the tier linked as ``tier_key``, signed."""
    now = tl.ctx.clock()
    payload = fake.build_event(
        event_type, account_ref=account, tier_key=tier_key, now=now, **fields
    )
    body = json.dumps(payload).encode()
    headers = {"Content-Type": "application/json"}
    headers.update(sign_for("fake", body, WEBHOOK_SECRET, int(now.timestamp())))
    return body, headers


def form_token(page_html: str) -> str:
    """The CSRF token of the first form on a page."""
    marker = 'name="csrf_token" value="'
    start = page_html.index(marker) + len(marker)
    return page_html[start : page_html.index('"', start)]


class _ById(HTMLParser):
    """Collects the text and attributes of the element with one id."""

    def __init__(self, wanted: str) -> None:
        super().__init__()
        self.wanted = wanted
        self.depth = 0
        self.text: list[str] = []
        self.attrs: dict[str, str | None] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.depth:
            self.depth += 1
        elif dict(attrs).get("id") == self.wanted and self.attrs is None:
            self.attrs = dict(attrs)
            self.depth = 1

    def handle_endtag(self, tag: str) -> None:
        if self.depth:
            self.depth -= 1

    def handle_data(self, data: str) -> None:
        if self.depth:
            self.text.append(data)


def element(page_html: str, element_id: str) -> tuple[str, dict[str, str | None]]:
    """The stripped text and the attributes of ``#element_id``; fails if it is missing."""
    parser = _ById(element_id)
    parser.feed(page_html)
    assert parser.attrs is not None, f"#{element_id} is not on the page"
    return " ".join("".join(parser.text).split()), parser.attrs


def upgrade_tiers(page_html: str) -> list[str]:
    """The ``data-tier`` of every upgrade button, in page order."""
    return re.findall(r'<button[^>]*data-tier="([^"]+)"', page_html)
