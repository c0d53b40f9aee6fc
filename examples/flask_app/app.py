"""The example Flask app: teams on tiers with permissions and a seat limit.

A team is the billable account (``account_ref`` = ``team-<id>``). Its tier decides:

* which views it may open: ``@require_feature("reports")``, ``@require_feature("audit_log")``,
  ``@require_paid`` (each answers 402 with a JSON reason otherwise);
* how many members it may have: ``tl.status(ref).seats``; one more is refused with a message.

Run it::

    flask --app "examples.flask_app:create_app()" run      # from the repository root
    flask --app "examples.flask_app:create_app()" tierline accounts list
"""

from __future__ import annotations

import secrets
from pathlib import Path

from flask import Flask, jsonify, redirect, render_template, request, session
from flask.typing import ResponseReturnValue
from sqlalchemy.orm import sessionmaker

from tierline import AccessStatus, Tierline, TierlineError, TierlineSettings
from tierline import db as tierline_db
from tierline.db.types import utcnow
from tierline.web.flask import TierlineFlask, require_feature, require_paid

from . import db
from .teams import TeamError, add_member, create_team, remove_member, seats_used

CATALOG_PATH = Path(__file__).with_name("tierline.toml")
#: The session key holding the signed-in team's id.
TEAM_KEY = "team_id"


def current_account() -> str | None:
    """The signed-in team's Tierline account ref, from Flask's signed session cookie."""
    team_id = session.get(TEAM_KEY)
    return f"team-{team_id}" if team_id is not None else None


def create_app(
    database_url: str | None = None,
    *,
    catalog_path: str | Path = CATALOG_PATH,
    settings: TierlineSettings | None = None,
    secret_key: str | None = None,
) -> Flask:
    """Build the app on ``database_url``: run both migration chains, sync the catalog.

    ``database_url`` defaults to the ``TIERLINE_DATABASE_URL`` setting; ``secret_key`` (the
    session's) to ``settings.secret_key``, else a random key per process.
    """
    settings = settings or TierlineSettings()
    if database_url is not None:
        settings = settings.model_copy(update={"database_url": database_url})
    engine = tierline_db.make_engine(settings.database_url)
    # Two chains on one database; neither touches the other's tables.
    tierline_db.upgrade(engine)
    db.upgrade(engine)
    tl = Tierline(settings=settings, catalog=Path(catalog_path), engine=engine)
    tl.sync_catalog()

    app = Flask(__name__)
    app.secret_key = secret_key or settings.secret_key or secrets.token_urlsafe(32)
    # Registers /webhooks/<provider>, /billing/..., ?ref= capture and `flask tierline`.
    billing = TierlineFlask(app, tl=tl, current_account=current_account)
    sessions = sessionmaker(engine, expire_on_commit=False)

    def plan(account_ref: str) -> tuple[str, AccessStatus]:
        """The display name of the account's tier, and its access (seats, features...)."""
        status = tl.status(account_ref)
        names = {tier.key: tier.name for tier in tl.catalog.tiers()}
        return names.get(status.tier or "", status.tier or "no plan"), status

    def home_page(error: str | None = None, status_code: int = 200) -> ResponseReturnValue:
        team_id = session.get(TEAM_KEY)
        if team_id is None:
            return render_template("home.html", team=None, error=error), status_code
        with sessions() as s:
            team = s.get(db.Team, team_id)
            if team is None:  # the database was reset under a live session
                session.clear()
                return redirect("/")
            members = list(team.members)
            used = seats_used(s, team.id)
        tier_name, status = plan(f"team-{team_id}")
        return (
            render_template(
                "home.html",
                team=team,
                members=members,
                used=used,
                seats=status.seats,
                tier_name=tier_name,
                status=status,
                error=error,
                notice=session.pop("notice", None),
            ),
            status_code,
        )

    @app.get("/")
    def home() -> ResponseReturnValue:
        return home_page()

    @app.post("/teams")
    def new_team() -> ResponseReturnValue:
        try:
            with sessions.begin() as s:
                team = create_team(
                    s, request.form.get("name", ""), request.form.get("email", ""), utcnow()
                )
                team_id, ref = team.id, team.account_ref
        except TeamError as exc:
            return home_page(str(exc), 400)
        tl.ensure_account(ref)
        session[TEAM_KEY] = team_id
        try:
            if billing.claim_referral(ref) is not None:
                session["notice"] = "Welcome! Your invite was recorded."
        except TierlineError as exc:
            session["notice"] = f"Your invite code was not applied: {exc}"
        return redirect("/", code=303)

    @app.post("/members")
    def new_member() -> ResponseReturnValue:
        account = current_account()
        if account is None:
            return redirect("/", code=303)
        tier_name, status = plan(account)
        try:
            with sessions.begin() as s:
                add_member(
                    s,
                    session[TEAM_KEY],
                    request.form.get("email", ""),
                    seats=status.seats,
                    tier_name=tier_name,
                    now=utcnow(),
                )
        except TeamError as exc:
            return home_page(str(exc), exc.status_code)
        return redirect("/", code=303)

    @app.post("/members/<int:member_id>/remove")
    def drop_member(member_id: int) -> ResponseReturnValue:
        if current_account() is None:
            return redirect("/", code=303)
        try:
            with sessions.begin() as s:
                remove_member(s, session[TEAM_KEY], member_id)
        except TeamError as exc:
            return home_page(str(exc), exc.status_code)
        return redirect("/", code=303)

    @app.post("/logout")
    def logout() -> ResponseReturnValue:
        session.clear()
        return redirect("/", code=303)

    @app.get("/settings")
    def settings_page() -> ResponseReturnValue:
        return redirect("/billing/settings", code=303)

    @app.get("/api/projects")
    @require_feature("projects")
    def projects() -> ResponseReturnValue:
        return jsonify(projects=["Website", "Mobile app"])

    @app.get("/api/reports")
    @require_feature("reports")
    def reports() -> ResponseReturnValue:
        return jsonify(report={"signups": 42, "churn": 0.02})

    @app.get("/api/audit-log")
    @require_feature("audit_log")
    def audit_log() -> ResponseReturnValue:
        return jsonify(entries=[{"who": "owner", "what": "changed the plan"}])

    @app.get("/api/usage")
    @require_paid
    def usage() -> ResponseReturnValue:
        return jsonify(account=current_account(), api_calls=1234)

    return app
