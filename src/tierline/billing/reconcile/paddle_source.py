"""Paddle subscriptions through the official SDK (``paddle-python-sdk``), for reconciliation.

``GET /subscriptions?per_page=200[&customer_id=ctm_a,ctm_b]`` answers
``{"data": [...], "meta": {"request_id", "pagination": {"per_page", "next", "has_more",
"estimated_total"}}}``; while ``has_more``, the next page is the full URL in
``meta.pagination.next`` (https://developer.paddle.com/api-reference/about/pagination). Every
status is listed when no ``status`` filter is given. The SDK's raw GET keeps the objects exactly
as Paddle sends them, which is what the webhook parser reads (a notification's ``data`` is the
same entity).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from tierline.billing.reconcile.sources import EVENT_ID_PREFIX, Page, PagedSource
from tierline.errors import ConfigurationError, ProviderAPIError
from tierline.settings import TierlineSettings

#: Paddle's largest page for subscriptions.
PAGE_SIZE = 200


def api_base(settings: TierlineSettings) -> str:
    """Paddle's API base for ``settings`` (see :meth:`TierlineSettings.paddle_api_url`)."""
    return settings.paddle_api_url()


class PaddleSource(PagedSource):
    """Pages through Paddle subscriptions (see the module docstring)."""

    provider = "paddle"
    default_page_size = PAGE_SIZE

    def _client(self) -> Any:
        if not self.settings.paddle_api_key:
            raise ConfigurationError(
                "no Paddle API key is configured; set TIERLINE_PADDLE_API_KEY (pdl_live_... or "
                "pdl_sdbx_...) to read subscriptions from Paddle"
            )
        try:
            from paddle_billing import Client
        except ImportError as exc:
            raise ConfigurationError(
                "reading Paddle needs the official SDK: pip install 'tierline[paddle]'"
            ) from exc
        return Client(self.settings.paddle_api_key, retry_count=2)

    def pages(self, customers: Sequence[str] | None) -> Iterator[Page]:
        from requests import RequestException

        client = self._client()
        url = f"{api_base(self.settings)}/subscriptions"
        params: dict[str, str] | None = {"per_page": str(self.page_size)}
        if customers is not None and params is not None:
            if not customers:
                return
            params["customer_id"] = ",".join(customers)
        while True:
            try:
                response = client.get_raw(url, params)
                body = response.json()
            except RequestException as exc:
                raise _failure(exc) from exc
            except ValueError as exc:
                raise ProviderAPIError(
                    f"Paddle answered {url} with a body that is not JSON"
                ) from exc
            data = body.get("data") if isinstance(body, dict) else None
            if not isinstance(data, list):
                raise ProviderAPIError(f"Paddle answered {url} without a data list")
            pagination = (body.get("meta") or {}).get("pagination") or {}
            total = pagination.get("estimated_total")
            yield Page(
                [obj for obj in data if isinstance(obj, dict)],
                self.clock(),
                total if isinstance(total, int) else None,
            )
            following = pagination.get("next")
            if not pagination.get("has_more") or not isinstance(following, str) or not data:
                break
            url, params = following, None  # the next URL carries every query parameter

    def synthetic_event(self, obj: Mapping[str, Any], fetched_at: datetime) -> dict[str, Any]:
        """A ``subscription.updated`` (``canceled`` once canceled) notification carrying ``obj``.

        The event id's marker is the entity's ``updated_at``, which the parser also takes as the
        snapshot's time, so ordering against webhooks is Paddle's own.
        """
        canceled = obj.get("status") == "canceled"
        return {
            "event_id": f"{EVENT_ID_PREFIX}:{obj.get('id')}:{obj.get('updated_at')}",
            "event_type": f"subscription.{'canceled' if canceled else 'updated'}",
            "occurred_at": fetched_at.isoformat().replace("+00:00", "Z"),
            "data": dict(obj),
        }


def _failure(exc: Exception) -> ProviderAPIError:
    response = getattr(exc, "response", None)
    status = getattr(response, "status_code", None)
    code = getattr(exc, "error_code", None)
    detail = getattr(exc, "detail", None) or str(exc) or type(exc).__name__
    where = f"HTTP {status}" if status else "no response"
    if code:
        where += f", code {code}"
    return ProviderAPIError(
        f"Paddle listing subscriptions failed ({where}): {' '.join(str(detail).split())}"
    )
