"""A real browser for tests: Debian's Chromium, headless, driven by playwright.

playwright's own browser builds are never downloaded (`playwright install` is not used):
`scripts/ensure_browser.sh` installs the system `chromium` package, and the fixture launches
that binary with a fresh profile. Each page records what it asked the network for, its console
errors and uncaught exceptions, so a test can say "nothing left the file".

    def test_page(chromium: BrowserContext, tmp_path: Path) -> None:
        page, record = open_page(chromium, tmp_path / "page.html")
        assert record.outside_requests == [] and record.errors == []

When Chromium or playwright is missing the fixture skips with the reason; with CI=true it
fails instead, so CI never reports a browser test that did not run as passed.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("PIXLEE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
# the first launch on a loaded 2-core machine can take a while; a page should not
LAUNCH_TIMEOUT_MS = 120_000
PAGE_TIMEOUT_MS = 60_000


def chromium_missing() -> str | None:
    """Why the browser tests cannot run here (None: they can)."""
    if not (os.path.isfile(CHROMIUM) and os.access(CHROMIUM, os.X_OK)):
        return f"{CHROMIUM} is missing: run scripts/ensure_browser.sh (apt-get install chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright package is missing: pip install -e '.[dev]'"
    return None


@dataclass
class PageRecord:
    """What a page did besides rendering: requests, console errors, uncaught exceptions."""

    allowed: set[str]
    requests: list[str] = field(default_factory=list)
    outside_requests: list[str] = field(default_factory=list)
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        return [*self.console_errors, *self.page_errors, *(f"dialog: {d}" for d in self.dialogs)]


@pytest.fixture()
def chromium(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A headless Chromium context with a fresh profile (a playwright BrowserContext)."""
    reason = chromium_missing()
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true and the browser test cannot run: {reason}")
        pytest.skip(reason)
    from playwright.sync_api import sync_playwright

    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as driver:
        context = driver.chromium.launch_persistent_context(
            str(profile),
            executable_path=CHROMIUM,
            headless=True,
            args=list(CHROMIUM_ARGS),
            timeout=LAUNCH_TIMEOUT_MS,
            viewport={"width": 1400, "height": 900},
        )
        context.set_default_timeout(PAGE_TIMEOUT_MS)
        try:
            yield context
        finally:
            context.close()
    shutil.rmtree(profile, ignore_errors=True)


def open_page(context: Any, path: Path, allow: tuple[str, ...] = ()) -> tuple[Any, PageRecord]:
    """Open the local file `path`; every request to anything but the file itself (or `allow`)
    is recorded in `outside_requests` and aborted, so nothing reaches the network."""
    url = path.resolve().as_uri()
    record = PageRecord(allowed={url, *allow})
    page = context.new_page()
    page.on("console", lambda message: _console(record, message))
    page.on("pageerror", lambda error: record.page_errors.append(str(error)))
    page.on("dialog", lambda dialog: _dialog(record, dialog))
    page.on("request", lambda request: record.requests.append(request.url))

    def route(route: Any) -> None:
        request_url = route.request.url
        if request_url in record.allowed or request_url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            record.outside_requests.append(request_url)
            route.abort()

    page.route("**/*", route)
    page.goto(url, wait_until="load")
    return page, record


def _console(record: PageRecord, message: Any) -> None:
    if message.type == "error":
        record.console_errors.append(message.text)


def _dialog(record: PageRecord, dialog: Any) -> None:
    record.dialogs.append(f"{dialog.type}: {dialog.message}")
    dialog.dismiss()
