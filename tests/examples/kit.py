"""What the example apps' tests share from :mod:`tierline.testing`: a catalog with Stripe links."""

from __future__ import annotations

from pathlib import Path


def with_stripe_links(catalog: Path, tmp_path: Path, links: dict[str, str]) -> Path:
    """A copy of ``catalog`` whose tiers also link to Stripe (tier key -> lookup key)."""
    text = catalog.read_text(encoding="utf-8")
    for tier, lookup_key in links.items():
        fake = f'providers = {{ fake = "{tier}" }}'
        assert fake in text, f"the example catalog changed: no {fake!r}"
        text = text.replace(fake, f'providers = {{ fake = "{tier}", stripe = ["{lookup_key}"] }}')
    copy = tmp_path / "tierline.toml"
    copy.write_text(text, encoding="utf-8")
    return copy
