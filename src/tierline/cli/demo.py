"""Top-level command ``tierline demo``: serve the example FastAPI app on embedded SQLite.

The example apps live in the repository's ``examples/`` folder. A wheel carries them as
``tierline.examples`` (hatch ``force-include``); an editable install or a checkout does not, so
:func:`load_example` falls back to the ``examples/`` folder beside ``src/``, imported under the
package name ``tierline_examples`` (not ``examples``: some libraries install a top-level package
of that name).
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import secrets
import socket
import sys
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Annotated

import typer

import tierline
from tierline.errors import ConfigurationError, ValidationError

if TYPE_CHECKING:
    from tierline.settings import TierlineSettings

#: The name the checkout's ``examples/`` folder is imported under.
CHECKOUT_PACKAGE = "tierline_examples"
#: Where a wheel puts the examples.
WHEEL_PACKAGE = "tierline.examples"
DEFAULT_DATABASE_URL = "sqlite:///tierline-demo.db"


def checkout_examples_dir() -> Path:
    """The ``examples/`` folder of the repository checkout ``tierline`` was imported from."""
    return Path(tierline.__file__).resolve().parents[2] / "examples"


def load_example(name: str) -> ModuleType:
    """Import the example app package ``name`` (``fastapi_app`` or ``flask_app``).

    Raises:
        ConfigurationError: neither the installed package nor a checkout has it.
    """
    try:
        return importlib.import_module(f"{WHEEL_PACKAGE}.{name}")
    except ModuleNotFoundError as exc:
        if exc.name not in (WHEEL_PACKAGE, f"{WHEEL_PACKAGE}.{name}"):
            raise  # the example itself failed to import (a missing extra, say)
    root = checkout_examples_dir()
    if not (root / name / "__init__.py").is_file():
        raise ConfigurationError(
            f"cannot find the example app {name!r}: it is neither installed as "
            f"{WHEEL_PACKAGE}.{name} nor in a checkout at {root}; run this from a clone of "
            "the Tierline repository (uv run tierline demo) or install the tierline wheel"
        )
    if CHECKOUT_PACKAGE not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            CHECKOUT_PACKAGE, root / "__init__.py", submodule_search_locations=[str(root)]
        )
        assert spec is not None and spec.loader is not None
        package = importlib.util.module_from_spec(spec)
        sys.modules[CHECKOUT_PACKAGE] = package
        spec.loader.exec_module(package)
    return importlib.import_module(f"{CHECKOUT_PACKAGE}.{name}")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("demo")(demo)


def demo(
    host: Annotated[str, typer.Option("--host", help="Interface to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port.")] = 8000,
    database_url: Annotated[
        str, typer.Option("--database-url", help="Where the demo keeps its data.")
    ] = DEFAULT_DATABASE_URL,
) -> None:
    """Serve the example FastAPI app with the demo catalog and the offline fake provider."""
    try:
        import uvicorn
    except ModuleNotFoundError as exc:
        raise ConfigurationError(
            "tierline demo needs FastAPI and uvicorn: pip install 'tierline[fastapi]'"
        ) from exc
    from tierline.settings import TierlineSettings

    # Bind first: a busy port fails in one line, before any banner or database work.
    with bind_listener(host, port) as listener:
        example = load_example("fastapi_app")
        public_url = f"http://{_display_host(host)}:{port}"
        settings = demo_settings(TierlineSettings(), database_url, public_url)
        app = example.create_app(database_url, settings=settings)
        tl = app.state.tierline
        # A referrer so the printed ?ref= link works on a fresh database.
        tl.ensure_account("demo-referrer", "referrer@example.com")
        code = tl.referral_code("demo-referrer")
        typer.echo(
            _instructions(
                public_url,
                code,
                database_url,
                Path(example.CATALOG_PATH),
                settings.fake_webhook_secret[0],
            )
        )
        server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        # As ``uvicorn.run`` does: Ctrl+C is the way to stop, not a failure.
        with contextlib.suppress(KeyboardInterrupt):
            server.run(sockets=[listener])


def bind_listener(host: str, port: int) -> socket.socket:
    """A TCP socket listening on ``host``:``port``, for the server to accept on.

    Raises:
        ValidationError: the address is in use or cannot be bound here (one line, with the fix).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family, socket.SOCK_STREAM)
    # As uvicorn does: a port left in TIME_WAIT by a previous run is free to use again.
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((host, port))
        listener.listen(2048)
    except OSError as exc:
        listener.close()
        raise ValidationError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}; "
            "stop what uses it or choose another port with --port"
        ) from exc
    return listener


def demo_settings(base: TierlineSettings, database_url: str, public_url: str) -> TierlineSettings:
    """The demo's settings: ``base`` with the fake provider on, for this process only.

    The fake provider lets anyone holding its secret make an account paid, so only the demo
    turns it on, with a secret made for this run (or the one ``TIERLINE_FAKE_WEBHOOK_SECRET``
    gives), printed for ``tierline simulate``.
    """
    secret = base.fake_webhook_secret or [f"demo-{secrets.token_urlsafe(16)}"]
    return base.model_copy(
        update={
            "database_url": database_url,
            "public_url": public_url,
            "enable_fake_provider": True,
            "fake_webhook_secret": secret,
            # One process, so a key made here is shared by everything that signs or checks a
            # form.
            "secret_key": base.secret_key or secrets.token_urlsafe(32),
        }
    )


def _display_host(host: str) -> str:
    # 0.0.0.0 / :: listen everywhere; a browser on this machine reaches them as localhost.
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host  # noqa: S104


def _instructions(
    public_url: str, code: str, database_url: str, catalog: Path, fake_secret: str
) -> str:
    # Relative when run from the checkout, as the README does: shorter and copy-pasteable.
    shown = catalog.relative_to(Path.cwd()) if catalog.is_relative_to(Path.cwd()) else catalog
    return "\n".join(
        [
            f"Tierline DEMO on {public_url}  (data: {database_url}; Ctrl+C stops it)",
            "",
            "  This is a demo, not a production setup: payments go through the offline fake",
            "  provider, which makes any account paid for whoever holds its secret. Tierline",
            "  keeps it off everywhere else (see 'Security defaults' in the README).",
            "",
            f"  Sign in:          {public_url}/login",
            f"  Invited sign-in:  {public_url}/login?ref={code}   (referrer: demo-referrer)",
            "",
            "  Then try:",
            "    1. sign in with any email; the page shows your one-time code",
            f"    2. open {public_url}/api/analyze  -> 200 three times (Free: 3 a day), then",
            "       402 quota_exceeded (JSON: limit, used, resets_at)",
            f"    3. open {public_url}/settings: the usage bar, the seat count (1 of 1);",
            "       choose Pro, pay on the fake checkout",
            f"    4. open {public_url}/api/analyze  -> 200, no limit; seats: 1 of 3",
            "    5. the settings page shows your referral code, invite link and stats",
            "",
            "  From another terminal, send a signed webhook (account 1 = the first user):",
            f"    TIERLINE_FAKE_WEBHOOK_SECRET={fake_secret} \\",
            "    uv run tierline simulate subscription.past_due --account 1 --tier pro "
            f"--url {public_url}/webhooks/fake --catalog {shown}",
        ]
    )
