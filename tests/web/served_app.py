"""The test host apps of :mod:`tests.web.apps`, built from the environment for real servers.

``uvicorn --factory tests.web.served_app:fastapi_app`` and
``gunicorn 'tests.web.served_app:flask_app()'`` run them in several worker processes; every
response names the worker that answered (``X-Worker``) so a test can tell them apart.
"""

from __future__ import annotations

import os
from typing import Any

from fastapi import FastAPI, Request, Response
from flask import Flask

from tierline import Tierline

from .apps import CATALOG, build_fastapi_app, build_flask_app, web_settings


def _tierline() -> Tierline:
    # TIERLINE_SECRET_KEY comes from the environment, as in a deployment: one key, all workers.
    settings = web_settings(
        os.environ["TIERLINE_DATABASE_URL"], secret_key=os.environ.get("TIERLINE_SECRET_KEY")
    )
    return Tierline(settings=settings, catalog=CATALOG)


def fastapi_app() -> FastAPI:
    app = build_fastapi_app(_tierline())

    @app.middleware("http")
    async def name_the_worker(request: Request, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers["X-Worker"] = str(os.getpid())
        return response

    return app


def flask_app() -> Flask:
    app = build_flask_app(_tierline())

    @app.after_request
    def name_the_worker(response: Any) -> Any:
        response.headers["X-Worker"] = str(os.getpid())
        return response

    return app
