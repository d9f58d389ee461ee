"""The audit report in a real headless Chromium, with the network blocked.

Chromium (Debian's ``chromium``; ``.ci/run`` installs it) is driven over the Chrome
DevTools Protocol on a pipe (``--remote-debugging-pipe``: file descriptors 3 and 4,
NUL-separated JSON), so no port and no extra package are needed. Every request the page
makes is seen as a ``Network.requestWillBeSent`` event; the page must make none besides
its own document. A control page with one external image proves that the probe does see
external requests. DNS is mapped to nowhere and a proxy to nowhere is set, so that
nothing could leave the machine even if the page tried.

The page is loaded with script execution disabled (it has no script; it must read the
same without one), and a full-page screenshot and a PDF print are saved under
``test-artifacts/`` (git-ignored).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.test_html import (  # noqa: F401 - shared session fixtures
    Run,
    certified,
    data_suites,
    rejected,
)

ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
TIMEOUT_S = 60.0


def chromium_binary() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


_LAUNCHER = """
import fcntl, os, sys
ends = [fcntl.fcntl(int(fd), fcntl.F_DUPFD, 10) for fd in sys.argv[1:3]]
for fd in sys.argv[1:3]:
    os.close(int(fd))
os.dup2(ends[0], 3)
os.dup2(ends[1], 4)
for fd in ends:
    os.close(fd)
os.execvp(sys.argv[3], sys.argv[3:])
"""


class CDPError(RuntimeError):
    pass


class Browser:
    """A headless Chromium and one page, driven over the DevTools pipe."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.workdir = workdir
        cmd_r, self._cmd_w = os.pipe()  # we write commands; Chromium reads them on fd 3
        self._out_r, out_w = os.pipe()  # Chromium writes replies and events on fd 4
        args = [
            binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-default-apps", "--disable-extensions", "--no-first-run",
            "--no-default-browser-check", "--disable-features=Translate,MediaRouter,OptimizationHints",
            "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=http://127.0.0.1:9",
            "--proxy-bypass-list=<-loopback>", f"--user-data-dir={workdir / 'profile'}",
            "--remote-debugging-pipe", "--hide-scrollbars", "--window-size=1200,900",
            "about:blank",
        ]
        # A tiny launcher moves our two pipe ends to fds 3 and 4, where Chromium expects them
        # (via fds >= 10 first, so that neither end can overwrite the other).
        self.proc = subprocess.Popen([sys.executable, "-c", _LAUNCHER, str(cmd_r), str(out_w), *args],
                                     pass_fds=(cmd_r, out_w), stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        os.close(cmd_r)
        os.close(out_w)
        self._buf = b""
        self._next = 0
        self.events: list[dict[str, Any]] = []
        self.session: str | None = None

    # -- protocol ----------------------------------------------------------------------
    def _read_message(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self._buf:
            left = deadline - time.monotonic()
            if left <= 0:
                raise CDPError("timed out waiting for Chromium")
            ready, _, _ = select.select([self._out_r], [], [], left)
            if ready:
                chunk = os.read(self._out_r, 1 << 20)
                if not chunk:
                    raise CDPError(f"Chromium closed the pipe (exit code {self.proc.poll()})")
                self._buf += chunk
        raw, self._buf = self._buf.split(b"\0", 1)
        message: dict[str, Any] = json.loads(raw)
        return message

    def send(self, method: str, params: dict[str, Any] | None = None, *, session: bool = True,
             timeout: float = TIMEOUT_S) -> dict[str, Any]:
        self._next += 1
        ident = self._next
        message: dict[str, Any] = {"id": ident, "method": method, "params": params or {}}
        if session and self.session:
            message["sessionId"] = self.session
        os.write(self._cmd_w, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read_message(deadline)
            if reply.get("id") == ident:
                if "error" in reply:
                    raise CDPError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result
            if "method" in reply:
                self.events.append(reply)

    def wait_for(self, method: str, timeout: float = TIMEOUT_S) -> dict[str, Any]:
        for event in self.events:
            if event["method"] == method:
                return event
        deadline = time.monotonic() + timeout
        while True:
            message = self._read_message(deadline)
            if "method" in message:
                self.events.append(message)
                if message["method"] == method:
                    return message

    def drain(self, seconds: float) -> None:
        """Collect events for ``seconds`` more (late requests would show up here)."""
        deadline = time.monotonic() + seconds
        try:
            while True:
                message = self._read_message(deadline)
                if "method" in message:
                    self.events.append(message)
        except CDPError as exc:
            if "timed out" not in str(exc):
                raise

    # -- page --------------------------------------------------------------------------
    def open(self, url: str, *, scripts: bool = False) -> None:
        target = self.send("Target.createTarget", {"url": "about:blank"}, session=False)
        attached = self.send("Target.attachToTarget",
                             {"targetId": target["targetId"], "flatten": True}, session=False)
        self.session = attached["sessionId"]
        self.send("Network.enable")
        self.send("Page.enable")
        self.send("Emulation.setScriptExecutionDisabled", {"value": not scripts})
        self.events.clear()
        self.send("Page.navigate", {"url": url})
        self.wait_for("Page.loadEventFired")
        self.drain(1.5)

    def requests(self) -> list[str]:
        return [e["params"]["request"]["url"] for e in self.events
                if e["method"] == "Network.requestWillBeSent"]

    def outer_html(self) -> str:
        root = self.send("DOM.getDocument", {"depth": 0})["root"]["nodeId"]
        html: str = self.send("DOM.getOuterHTML", {"nodeId": root})["outerHTML"]
        return html

    def count(self, selector: str) -> int:
        root = self.send("DOM.getDocument", {"depth": 0})["root"]["nodeId"]
        return len(self.send("DOM.querySelectorAll", {"nodeId": root, "selector": selector})["nodeIds"])

    def screenshot(self, path: Path) -> None:
        size = self.send("Page.getLayoutMetrics")["cssContentSize"]
        shot = self.send("Page.captureScreenshot", {
            "format": "png", "captureBeyondViewport": True,
            "clip": {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}})
        path.write_bytes(base64.b64decode(shot["data"]))

    def pdf(self, path: Path) -> None:
        printed = self.send("Page.printToPDF", {"printBackground": True, "preferCSSPageSize": False})
        path.write_bytes(base64.b64decode(printed["data"]))

    def close(self) -> None:
        with contextlib.suppress(CDPError, OSError):
            self.send("Browser.close", session=False, timeout=10)
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=15)
        for fd in (self._cmd_w, self._out_r):
            with contextlib.suppress(OSError):
                os.close(fd)


@pytest.fixture()
def browser() -> Iterator[Browser]:
    binary = chromium_binary()
    if binary is None:
        pytest.skip("Chromium is not installed (Debian: apt-get install chromium; .ci/run does "
                    "this): the real-browser check of the HTML report did not run")
    with tempfile.TemporaryDirectory(prefix="certify-chromium-") as tmp:
        b = Browser(binary, Path(tmp))
        try:
            yield b
        finally:
            b.close()


@pytest.mark.slow
def test_report_renders_offline_in_chromium(browser: Browser, certified: Run) -> None:  # noqa: F811
    page = certified.result.html_path
    assert page is not None
    url = page.resolve().as_uri()
    browser.open(url)
    requests = browser.requests()
    assert requests == [url], requests  # the document itself, nothing else
    failed = [e for e in browser.events if e["method"] == "Network.loadingFailed"]
    assert not failed, failed
    dom = browser.outer_html()
    assert 'id="verdict"' in dom and "CERTIFIED" in dom and "Signature verified" in dom
    n_svg = browser.count("svg.chart")
    assert n_svg == certified.html.count("<svg") >= 9
    assert browser.count("section.suite") == len(certified.report.suites) + 1
    assert browser.count("script, img, iframe, object, embed") == 0
    ARTIFACTS.mkdir(exist_ok=True)
    browser.screenshot(ARTIFACTS / "report-certified.png")
    browser.pdf(ARTIFACTS / "report-certified.pdf")
    png = (ARTIFACTS / "report-certified.png").read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 50_000
    pdf = (ARTIFACTS / "report-certified.pdf").read_bytes()
    assert pdf.startswith(b"%PDF") and pdf.count(b"/Type /Page") - pdf.count(b"/Type /Pages") >= 3
    assert browser.requests() == [url]  # printing loaded nothing either


@pytest.mark.slow
def test_rejected_report_and_the_probe_sees_external_requests(browser: Browser,  # noqa: F811
                                                              rejected: Run,  # noqa: F811
                                                              tmp_path: Path) -> None:
    # Control: the same page with one external image (and no CSP) does make a request,
    # which the probe sees and which the blocked network fails.
    html = rejected.html.replace('<meta http-equiv="Content-Security-Policy"', '<meta name="x"')
    html = html.replace("</body>", '<img src="http://example.com/pixel.png" alt=""></body>')
    control = tmp_path / "control.html"
    control.write_text(html, encoding="utf-8")
    browser.open(control.as_uri())
    external = [u for u in browser.requests() if not u.startswith("file:")]
    assert external == ["http://example.com/pixel.png"]
    failed = [e for e in browser.events if e["method"] == "Network.loadingFailed"]
    assert failed, "the external request should have failed: the network is blocked"
    # The real rejected page: only itself.
    page = rejected.result.html_path
    assert page is not None
    browser.events.clear()
    browser.send("Page.navigate", {"url": page.resolve().as_uri()})
    browser.wait_for("Page.loadEventFired")
    browser.drain(1.0)
    assert browser.requests() == [page.resolve().as_uri()]
    dom = browser.outer_html()
    assert "REJECTED" in dom and "quality::roc_auc failed" in dom
    assert browser.count("svg.chart") >= 4
    ARTIFACTS.mkdir(exist_ok=True)
    browser.screenshot(ARTIFACTS / "report-rejected.png")


# --------------------------------------------------------------------------------------
# Layout: nothing wider than its container, every reason readable, at any width and on paper.
# --------------------------------------------------------------------------------------

#: Measured by the browser itself: the page does not scroll sideways, no element's content
#: overflows its box, no element sticks out past the page, and every reason is shown whole.
_LAYOUT_PROBE = r"""
(() => {
  const root = document.documentElement, width = root.clientWidth, out = [];
  const name = el => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
    (el.className && typeof el.className === "string" ? "." + el.className.split(" ")[0] : "");
  if (root.scrollWidth > width + 1) out.push(["page scrolls sideways", root.scrollWidth, width]);
  for (const el of document.body.querySelectorAll("*")) {
    if (el.closest("svg") && el.tagName.toLowerCase() !== "svg") continue;
    const cs = getComputedStyle(el);
    if (cs.display === "none" || cs.display === "inline" || cs.visibility === "hidden") continue;
    if (el.closest("details:not([open])") && !el.closest("summary")) continue;
    const r = el.getBoundingClientRect();
    if (r.width === 0 && r.height === 0) continue;
    if (r.right > width + 1) out.push(["past the page", name(el), Math.round(r.right), width]);
    if (el.scrollWidth > el.clientWidth + 1 && el.clientWidth > 0)
      out.push(["content wider than its box", name(el), el.scrollWidth, el.clientWidth]);
  }
  // A short word (2-12 letters) in a table cell is never split over two lines ("fema|le").
  for (const cellEl of document.body.querySelectorAll("td, th")) {
    if (cellEl.closest("details:not([open])")) continue;
    const walker = document.createTreeWalker(cellEl, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const m of node.data.matchAll(/(?<![A-Za-z0-9])[A-Za-z]{2,12}(?![A-Za-z0-9])/g)) {
        const range = document.createRange();
        range.setStart(node, m.index);
        range.setEnd(node, m.index + m[0].length);
        const rects = [...range.getClientRects()].filter(b => b.width > 0);
        if (rects.length > 1 && rects[rects.length - 1].top - rects[0].top > 2)
          out.push(["word broken over two lines", name(cellEl), m[0], cellEl.textContent.slice(0, 60)]);
      }
    }
  }
  const reasons = document.querySelectorAll(".reason, .reasons li");
  for (const el of reasons) {
    const r = el.getBoundingClientRect();
    if (r.width < 40 || el.scrollHeight > el.clientHeight + 1 || el.scrollWidth > el.clientWidth + 1)
      out.push(["reason clipped or squeezed", name(el), Math.round(r.width)]);
  }
  return JSON.stringify({problems: out.slice(0, 20), count: out.length, reasons: reasons.length});
})()
"""


def _layout(browser: Browser, *, width: int, print_media: bool = False) -> dict[str, Any]:
    browser.send("Emulation.setDeviceMetricsOverride",
                 {"width": width, "height": 1000, "deviceScaleFactor": 1, "mobile": False})
    browser.send("Emulation.setEmulatedMedia", {"media": "print" if print_media else "screen"})
    browser.drain(0.3)
    value = browser.send("Runtime.evaluate", {"expression": _LAYOUT_PROBE,
                                              "returnByValue": True})["result"]["value"]
    result: dict[str, Any] = json.loads(value)
    return result


@pytest.mark.slow
@pytest.mark.parametrize("which", ["certified", "rejected", "data-suites"])
def test_layout_holds_at_any_width_and_in_print(browser: Browser, request: pytest.FixtureRequest,
                                                which: str) -> None:
    """Rendered by Chromium at 1280 px, 800 px and as printed on A4 (718 px of text width), the
    page has no element wider than its container, no short word in a table broken over two
    lines, and every reason shows whole. ``data-suites``: drift and edge cases, REJECTED, with
    the counterexample inputs (ten columns)."""
    run: Run = request.getfixturevalue(which.replace("-", "_"))
    page = run.result.html_path
    assert page is not None
    browser.open(page.resolve().as_uri(), scripts=True)  # the probe runs; the page has no script
    for width, print_media in ((1280, False), (800, False), (718, True)):
        layout = _layout(browser, width=width, print_media=print_media)
        assert layout["reasons"] > 0
        assert layout["count"] == 0, (width, print_media, layout["problems"])
    browser.send("Emulation.setEmulatedMedia", {"media": "screen"})
    ARTIFACTS.mkdir(exist_ok=True)
    browser.pdf(ARTIFACTS / f"report-{which}-print.pdf")


@pytest.mark.slow
def test_the_layout_probe_sees_overflow_and_clipping(browser: Browser, rejected: Run,  # noqa: F811
                                                     tmp_path: Path) -> None:
    """Control for the test above: a table wider than the page, an unbreakable token, a
    clipped reason and a short word broken in a narrow cell are each found."""
    token = "x" * 400
    html = rejected.html.replace("</main>", (
        f'<table style="width:2000px"><tr><td>{token}</td></tr></table>'
        f'<div style="width:300px;white-space:nowrap">{token}</div>'
        '<p class="reason" style="height:10px;overflow:hidden">a reason<br>on three<br>lines</p>'
        '<table style="width:40px"><tr><td style="min-width:0;overflow-wrap:anywhere">female</td></tr></table>'
        "</main>"))
    control = tmp_path / "control.html"
    control.write_text(html, encoding="utf-8")
    browser.open(control.as_uri(), scripts=True)
    layout = _layout(browser, width=800)
    kinds = {problem[0] for problem in layout["problems"]}
    assert {"page scrolls sideways", "content wider than its box",
            "reason clipped or squeezed", "word broken over two lines"} <= kinds, layout
