"""Tierline on the web: FastAPI and Flask adapters around a framework-free core.

- :mod:`tierline.web.fastapi`: ``TierlineFastAPI`` (router, gate dependencies, middleware).
- :mod:`tierline.web.flask`: ``TierlineFlask`` extension, ``require_paid``,
  ``require_feature`` and ``require_quota``.
- :mod:`tierline.web.pages`, :mod:`tierline.web.common`, :mod:`tierline.web.referral_cookie`:
  the settings and fake checkout pages, the 401/402 answers, and referral capture, shared.

The adapters are imported from their own modules, so neither framework is needed by the other.
"""
