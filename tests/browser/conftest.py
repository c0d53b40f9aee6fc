"""A real Chromium (Debian's, never a downloaded one) and the example app served for it."""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tierline import Tierline, TierlineSettings
from tierline.cli.demo import load_example

from ..examples.servers import bound_socket, serve

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


@dataclass
class LiveApp:
    base_url: str
    tl: Tierline


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        message = (
            f"{CHROMIUM} is missing: install Debian's chromium (apt-get install chromium); "
            "Playwright must not download a browser"
        )
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    # Belt and braces: nothing here may make Playwright fetch a browser of its own.
    os.environ.setdefault("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="session")
def live_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApp]:
    """The example FastAPI app on a temporary SQLite file, served by uvicorn in a thread."""
    sock = bound_socket()
    base_url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    database = tmp_path_factory.mktemp("browser") / "app.db"
    settings = TierlineSettings(
        secret_key="browser-tests",
        public_url=base_url,
        enable_fake_provider=True,
        fake_webhook_secret="browser-tests-fake-secret",
    )
    app = load_example("fastapi_app").create_app(f"sqlite:///{database}", settings=settings)
    with serve(app, sock):
        yield LiveApp(base_url=base_url, tl=app.state.tierline)


@pytest.fixture(scope="session")
def artifacts() -> Path:
    path = Path(os.environ.get("TIERLINE_TEST_ARTIFACTS", "test-artifacts")) / "browser"
    path.mkdir(parents=True, exist_ok=True)
    return path


class Screenshots:
    """Numbered full-page screenshots of one test, so a failure shows how it got there."""

    def __init__(self, folder: Path, test_name: str) -> None:
        self.folder = folder
        self.prefix = test_name
        self.count = 0

    def take(self, page: Page, step: str) -> None:
        self.count += 1
        path = self.folder / f"{self.prefix}-{self.count:02d}-{step}.png"
        page.screenshot(path=str(path), full_page=True)


@pytest.fixture
def screenshots(artifacts: Path, request: pytest.FixtureRequest) -> Screenshots:
    return Screenshots(artifacts, request.node.name.removeprefix("test_"))
