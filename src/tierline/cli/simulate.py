"""Top-level command ``tierline simulate``: send a correctly signed webhook to a running app.

The payload is what the provider would send (see :mod:`tierline.billing.simulate`), signed with
the provider's real scheme and the secret the app verifies with, so it goes through the app's
whole webhook path: signature check, idempotent claim, apply.
"""

from __future__ import annotations

import json
from typing import Annotated
from urllib.parse import urlsplit

import typer

from tierline.cli.catalog import catalog_path
from tierline.cli.common import CatalogOption
from tierline.errors import ValidationError

#: :data:`tierline.billing.simulate.SIMULATED_EVENTS` and ``SIMULATED_PROVIDERS``, written out so
#: that ``--help`` loads no provider module (a test keeps them equal).
SIMULATED_EVENTS = (
    "checkout.completed",
    "subscription.created",
    "subscription.updated",
    "subscription.canceled",
    "subscription.past_due",
)
SIMULATED_PROVIDERS = ("stripe", "paddle", "polar", "whop", "lemonsqueezy", "fake")


def register(app: typer.Typer) -> None:
    """Add this module's commands to the root app."""
    app.command("simulate")(simulate)


def simulate(
    event: Annotated[str, typer.Argument(help="One of: " + ", ".join(SIMULATED_EVENTS) + ".")],
    account: Annotated[str, typer.Option("--account", help="The account ref the event is about.")],
    tier: Annotated[
        str, typer.Option("--tier", help="The tier key; mapped to the provider's key.")
    ],
    provider: Annotated[
        str,
        typer.Option("--provider", help="One of: " + ", ".join(SIMULATED_PROVIDERS) + "."),
    ] = "fake",
    url: Annotated[
        str | None,
        typer.Option(
            "--url",
            help="Where to POST it; default: TIERLINE_PUBLIC_URL + /webhooks/<provider>.",
            show_default=False,
        ),
    ] = None,
    catalog: CatalogOption = None,
    timeout: Annotated[
        float, typer.Option("--timeout", min=0.1, help="Seconds to wait for the answer.")
    ] = 10.0,
) -> None:
    """Send EVENT for --account on --tier, signed as --provider would, to a running app.

    The tier's key for the provider comes from the catalog file; the signing secret from
    TIERLINE_<PROVIDER>_WEBHOOK_SECRET (the first one). Prints the HTTP status and the app's
    JSON answer; exits 0 on a 2xx answer, 1 otherwise.
    """
    import urllib.error
    import urllib.request

    from tierline.billing.simulate import (
        build_payload,
        external_key,
        provider_event_type,
        signed_request,
        webhook_secret,
    )
    from tierline.catalog.config import load_catalog
    from tierline.settings import TierlineSettings

    kind = provider_event_type(provider, event)
    settings = TierlineSettings()
    target = url or f"{settings.public_url.rstrip('/')}/webhooks/{provider}"
    if urlsplit(target).scheme not in ("http", "https"):
        raise ValidationError(f"--url {target!r} is not an http:// or https:// URL")
    key = external_key(load_catalog(catalog_path(catalog)), tier, provider)
    payload = build_payload(provider, event, account_ref=account, external_key=key)
    body, headers = signed_request(provider, payload, webhook_secret(settings, provider))
    typer.echo(
        f"POST {target}  ({provider} {kind} for account {account!r}, {provider} key {key!r})"
    )
    # Only http(s) URLs get here (checked above), so urllib never opens a file:// URL.
    request = urllib.request.Request(target, data=body, headers=headers, method="POST")  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            status, answer = response.status, response.read()
    except urllib.error.HTTPError as exc:
        status, answer = exc.code, exc.read()
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        typer.echo(f"error: cannot reach {target}: {reason}; is the app running?", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"HTTP {status}")
    typer.echo(_pretty(answer))
    if not 200 <= status < 300:
        raise typer.Exit(1)


def _pretty(answer: bytes) -> str:
    text = answer.decode("utf-8", "replace")
    try:
        return json.dumps(json.loads(text), indent=2)
    except ValueError:
        return text
