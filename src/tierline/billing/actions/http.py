"""One JSON call to a provider's REST API through ``httpx``, for providers whose official SDK
is not a Tierline dependency (Paddle, Polar, Whop, Lemon Squeezy).

Every failure (refused, unreachable, not JSON) becomes a :class:`ProviderAPIError` whose one
line names the provider, the action, the HTTP status and the provider's own message.
"""

from __future__ import annotations

import functools
from typing import Any

from tierline.errors import ProviderAPIError

#: Seconds to wait for a provider's answer.
TIMEOUT_SECONDS = 15.0
#: Where each provider puts its error's message (Paddle, Polar, Lemon Squeezy, Whop).
_MESSAGE_PATHS = (("error", "detail"), ("errors", 0, "detail"), ("error", "message"), ("detail",))


def _httpx(provider: str) -> Any:
    """``httpx``, imported on first use (``import tierline`` stays free of HTTP clients)."""
    try:
        import httpx
    except ImportError as exc:
        from tierline.errors import ConfigurationError

        extra = provider.lower().replace(" ", "")
        raise ConfigurationError(
            f"calling {provider}'s API needs httpx; install it with "
            f"`pip install 'tierline[{extra}]'`"
        ) from exc
    return httpx


@functools.cache
def _client() -> Any:
    return _httpx("the provider").Client(timeout=TIMEOUT_SECONDS, follow_redirects=False)


def _message(body: Any) -> str:
    for path in _MESSAGE_PATHS:
        node = body
        for step in path:
            in_list = isinstance(step, int) and isinstance(node, list) and len(node) > step
            in_dict = isinstance(step, str) and isinstance(node, dict) and step in node
            if in_list or in_dict:
                node = node[step]
            else:
                node = None
                break
        if node:
            return " ".join(str(node).split())[:300]
    return "no message"


def call(
    provider: str,
    action: str,
    method: str,
    url: str,
    *,
    token: str,
    json: Any = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """``method url`` with a bearer ``token`` and a JSON body; the JSON answer (``{}`` if empty).

    Raises:
        ProviderAPIError: the provider answered 4xx/5xx or could not be reached.
    """
    httpx = _httpx(provider)
    sent = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    sent.update(headers or {})
    try:
        response = _client().request(method, url, json=json, headers=sent)
    except httpx.HTTPError as exc:
        raise ProviderAPIError(
            f"{provider} {action} failed (no response from {url}): {exc.__class__.__name__}"
        ) from exc
    try:
        body = response.json() if response.content else {}
    except ValueError:
        body = {}
    if response.status_code >= 400:
        raise ProviderAPIError(
            f"{provider} {action} failed (HTTP {response.status_code}): {_message(body)}"
        )
    if not isinstance(body, dict):
        raise ProviderAPIError(f"{provider} {action} answered with JSON that is not an object")
    return body


def dig(body: dict[str, Any], *path: str) -> Any:
    """``body[path[0]][path[1]]...``, or ``None`` where a step is missing."""
    node: Any = body
    for step in path:
        if not isinstance(node, dict):
            return None
        node = node.get(step)
    return node


def text_at(provider: str, action: str, body: dict[str, Any], *path: str) -> str:
    """The non-empty string at ``path`` in the answer, or a ProviderAPIError naming the path."""
    value = dig(body, *path)
    if not isinstance(value, str) or not value:
        raise ProviderAPIError(
            f"{provider} {action} answered without {'.'.join(path)}; got keys: "
            + ", ".join(sorted(body))
        )
    return value
