"""The dashboard in Debian's Chromium (headless, driven by Playwright) against a real ``v6ops serve``:
sign in with the first-run URL, walk every page, provision a subscriber through the form and find it
in the list, see a utilization bar move, find the demo's VMs with their compiled rules and events and
filter the events by keyboard, screenshots at 1280 and 390 px. Any request
that would leave loopback is aborted and fails the test."""

from __future__ import annotations

import os
import random
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from tests.api_client import wait_healthy
from v6ops.demo_security import load_flow_detections, load_vms
from v6ops.ipam import service
from v6ops.ipam.plan import parse_plan
from v6ops.store.db import open_store

ARTIFACTS = Path(os.environ.get("V6OPS_TEST_ARTIFACTS", Path(__file__).resolve().parents[2] / "test-artifacts")) / "dashboard"
PAGES = [("/", "Overview"), ("/prefixes", "Prefix plan"), ("/subscribers", "Subscribers"), ("/devices", "Devices"),
         ("/policy", "Security policy"), ("/vms", "VM security"), ("/vms/acme-web-00", "VM acme-web-00"),
         ("/events", "Security events"), ("/flows", "Flow and access-log report"), ("/tokens", "API tokens")]
PLAN = {"vrfs": ["global"], "pools": [{
    "name": "browser-pool", "role": "residential", "lab": True,
    "ipv4": {"prefix": "100.64.0.0/28", "customer_length": 32},
    "ipv6_delegation": {"prefix": "2001:db8:77::/60", "customer_length": 64}}]}  # 16 /64s: one is 6.25 %
LOOPBACK = {"127.0.0.1", "::1", "[::1]", "localhost"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A real server on loopback with a small plan and the demo's VMs, their events and flow detections;
    yields its base URL and the first-run sign-in URL."""
    url = f"sqlite:///{tmp_path / 'v6ops.db'}"
    service.plan_apply(open_store(url), parse_plan(PLAN))
    load_vms(open_store(url), random.Random(6), count=3)
    load_flow_detections(open_store(url), tmp_path / "detections")
    open_store(url).close()
    open_store.cache_clear()
    port = free_port()
    env = {**os.environ, "V6OPS_DATA_DIR": str(tmp_path), "V6OPS_PORT": str(port), "V6OPS_LISTEN": '["127.0.0.1"]',
           "V6OPS_WORKERS": "1", "V6OPS_LOG_LEVEL": "warning"}
    proc = subprocess.Popen([sys.executable, "-m", "v6ops.cli", "serve"], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        assert proc.stdout is not None
        sign_in = ""
        deadline = time.monotonic() + 30
        while not sign_in and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line and proc.poll() is not None:
                raise RuntimeError(f"v6ops serve exited with {proc.returncode}")
            sign_in = line.strip() if "/login?token=" in line else ""
        wait_healthy(base, proc)
        assert sign_in.startswith(f"{base}/login?token=v6ops_"), sign_in
        yield base, sign_in
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def bar_value(page: object, range_name: str) -> float:
    meter = page.locator(f'tr[data-range="{range_name}"] [role="meter"]')  # type: ignore[attr-defined]
    return float(meter.get_attribute("aria-valuenow"))


@pytest.mark.requires("chromium")
def test_dashboard_in_chromium(server: tuple[str, str]) -> None:
    from playwright.sync_api import Route, sync_playwright

    base, sign_in = server
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    left_loopback: list[str] = []

    def only_loopback(route: Route) -> None:
        host = urlsplit(route.request.url).hostname or ""
        if route.request.url.startswith(("data:", "about:")) or host in LOOPBACK:
            route.continue_()
        else:
            left_loopback.append(route.request.url)
            route.abort()

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=shutil.which("chromium"), headless=True,
                                     args=["--no-sandbox", "--disable-dev-shm-usage"])
        try:
            context = browser.new_context(viewport={"width": 1280, "height": 900})
            context.route("**/*", only_loopback)
            page = context.new_page()
            failed: list[str] = []
            page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)

            # Unauthenticated: the dashboard sends the browser to the sign-in page.
            page.goto(base + "/subscribers")
            assert page.url.startswith(base + "/login") and page.locator("h1").inner_text() == "Sign in"
            failed.clear()
            page.goto(sign_in)
            assert page.url == base + "/" and page.locator("h1").inner_text() == "Overview"
            cookie = next(c for c in context.cookies() if c["name"] == "v6ops_session")
            assert cookie["httpOnly"] and cookie["secure"] and cookie["sameSite"] == "Lax"

            # Every page: its heading, a link to its JSON, no horizontal scroll at 1280 or 390 px.
            for width in (1280, 390):
                page.set_viewport_size({"width": width, "height": 900 if width > 400 else 844})
                for path, heading in PAGES:
                    page.goto(base + path)
                    assert page.locator("h1").inner_text() == heading, path
                    assert page.locator("a.json").count() >= 1, path
                    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
                    assert overflow <= 1, (path, width, overflow)
                    name = "overview" if path == "/" else path.strip("/").replace("/", "-")
                    page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
            page.set_viewport_size({"width": 1280, "height": 900})

            # The JSON link of a page works with the same session.
            page.goto(base + "/prefixes")
            json_href = page.locator("a.json").first.get_attribute("href")
            assert page.request.get(base + json_href).json()[0]["pool"] == "browser-pool"

            before = bar_value(page, "browser-pool/ipv6-delegation")
            assert before == 0.0

            # Provision through the form, by keyboard: skip link first, then the form fields.
            page.goto(base + "/subscribers")
            page.keyboard.press("Tab")
            assert page.evaluate("document.activeElement.textContent") == "Skip to content"
            page.select_option("#sub-pool", "browser-pool")
            page.focus("#sub-name")
            page.keyboard.type("browser-sub-1")
            page.keyboard.press("Enter")
            page.wait_for_url(re.compile(r".*/subscribers\?q=browser-sub-1&created=browser-sub-1$"))
            row = page.locator('tr[data-subscriber="browser-sub-1"]')
            assert row.count() == 1
            cells = row.locator("td").all_inner_texts()
            assert "2001:db8:77::/64" in cells and any(c.startswith("100.64.0.") for c in cells)
            page.goto(base + "/subscribers")
            assert page.locator('tr[data-subscriber="browser-sub-1"]').count() == 1

            page.goto(base + "/prefixes")
            assert bar_value(page, "browser-pool/ipv6-delegation") == pytest.approx(6.25)
            width = page.locator('tr[data-range="browser-pool/ipv6-delegation"] [role="meter"] > span').evaluate(
                "e => e.style.width")
            assert width == "6.25%"
            # "Take next" on the range moves the bar again.
            page.get_by_role("button", name="Allocate the next free /64 of browser-pool/ipv6-delegation").click()
            page.wait_for_url(re.compile(r".*/prefixes\?took=.*"))
            assert bar_value(page, "browser-pool/ipv6-delegation") == pytest.approx(12.5)
            page.screenshot(path=str(ARTIFACTS / "prefixes-after-1280.png"), full_page=True)

            # A bad form entry is shown on the page, nothing is made.
            page.goto(base + "/subscribers")
            page.fill("#sub-name", "browser-sub-1")
            page.get_by_role("button", name="Provision", exact=True).click()
            assert "already exists" in page.locator(".error").inner_text()

            # VM security: the demo's VMs, one's compiled nftables rules and its events, each linking back.
            page.goto(base + "/vms")
            assert page.locator("tr[data-vm]").evaluate_all("rows => rows.map(r => r.dataset.vm)") == [
                "acme-web-00", "globex-db-01", "initech-api-02"]
            page.get_by_role("link", name="acme-web-00").click()
            page.wait_for_url(base + "/vms/acme-web-00")
            assert "table inet" in page.locator("#ruleset").inner_text()
            assert "fe80::1" in page.locator("#config").inner_text()  # the trusted router of its RA guard
            events = page.locator("tr[data-event]")
            assert events.count() > 0
            assert set(events.locator("td:nth-child(4)").all_inner_texts()) == {"acme-web-00"}
            json_href = page.locator("a.json").first.get_attribute("href")
            assert page.request.get(base + json_href).json()["customer_id"] == "acme"

            # Events: filter by keyboard (severity at least critical), then open one.
            page.goto(base + "/events")
            assert page.locator("tr[data-event]").count() > 0
            page.focus("#min_severity")
            page.keyboard.press("End")  # the last option: critical
            assert page.eval_on_selector("#min_severity", "e => e.value") == "critical"
            page.get_by_role("button", name="Filter").focus()
            page.keyboard.press("Enter")
            page.wait_for_url(re.compile(r".*/events\?min_severity=critical.*"))
            severities = set(page.locator("tr[data-event] .badge").all_inner_texts())
            assert severities == {"critical"}, severities
            assert set(page.locator("tr[data-event] td:nth-child(3)").all_inner_texts()) == {"ra_blocked"}
            page.locator("tr[data-event] a").first.focus()
            page.keyboard.press("Enter")
            page.wait_for_url(re.compile(r".*/events/[0-9a-f-]{36}$"))
            assert page.locator("h2").first.inner_text().endswith("ra_blocked")
            assert "RFC 6105" in page.locator("#description").inner_text()
            page.screenshot(path=str(ARTIFACTS / "event-detail-1280.png"), full_page=True)
            # A flow detection is an event too.
            page.goto(base + "/events?event_type=port_scan")
            page.locator("tr[data-event] a").first.click()
            assert "flows.detect" in page.locator("main").inner_text()
            # The overview counts them.
            page.goto(base + "/")
            tally = page.locator("#security-counts .stat").all_inner_texts()
            assert sum(int(n) for n in tally) > 0, tally

            # Sign out: the session is over.
            page.get_by_role("button", name="Sign out").click()
            page.wait_for_url(re.compile(r".*/login$"))
            page.goto(base + "/")
            assert page.url.startswith(base + "/login")
            assert [f for f in failed if not f.startswith("409 ")] == [], failed
        finally:
            browser.close()
    assert left_loopback == []
    assert len(list(ARTIFACTS.glob("*-390.png"))) == len(PAGES)
