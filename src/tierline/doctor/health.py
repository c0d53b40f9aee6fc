"""``assert_chain_healthy``: one call in a host app's test suite fails CI on migration faults."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from tierline.doctor.findings import DIALECTS, Finding, Severity
from tierline.doctor.static import check_chain


def assert_chain_healthy(
    path: Path | str,
    urls: Iterable[str] | None = None,
    dialects: frozenset[str] = DIALECTS,
    *,
    seed: bool = False,
    app: str | None = None,
) -> list[Finding]:
    """Raise AssertionError listing every error the doctor finds in the chain at ``path``.

    ``path``: a ``versions/`` folder, a folder holding one, or an ``alembic.ini``. ``urls``:
    scratch databases to run the chain on as well (``"sqlite"`` = a scratch SQLite file; None
    = static pass only); ``seed``: seed rows at each revision on those databases and report
    the rows a revision loses (``rows-lost``); ``app``: the Flask app a Flask-Migrate env.py
    needs (``"myapp:create_app"``; None = ``FLASK_APP`` when env.py reads ``current_app``),
    made once per URL and pointed at it. Returns the warnings when there is no error.
    Raises DoctorError when the chain cannot be read or run at all.

    Example, in the host app's tests::

        def test_migrations():
            assert_chain_healthy("migrations", urls=["sqlite"])

        # Flask-Migrate: env.py needs the app
        def test_flask_migrations():
            assert_chain_healthy("migrations", urls=["sqlite"], app="myapp:create_app")
    """
    findings = check_chain(path, dialects)
    for url in urls or ():
        from tierline.doctor.dynamic import run_chain

        findings.extend(run_chain(path, url, seed=seed, app=app))
    errors = [f for f in findings if f.severity is Severity.ERROR]
    if errors:
        listed = "\n".join(
            f"  {f.file}:{f.line}: {f.rule}: {f.message} (fix: {f.fix})" for f in errors
        )
        raise AssertionError(f"{len(errors)} migration fault(s) in {path}:\n{listed}")
    return findings
