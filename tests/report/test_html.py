"""The HTML report in a real headless Chromium, driven over the DevTools protocol.

Chromium (Debian's ``chromium`` package, installed by ``.ci/run``) talks the DevTools protocol
over a pipe (``--remote-debugging-pipe``: commands on fd 3, replies on fd 4, each message JSON
ended by a NUL byte), so no extra Python package is needed. The test opens the committed public
report, checks that it renders, that every timeline SVG is present and has a size, that every
finding anchor resolves, that nothing was fetched from the network and that the console shows
no error; it saves screenshots in the test's temporary folder.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import select
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.paths import REPO

REPORT = REPO / "reports" / "public"
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
pytestmark = pytest.mark.needs_program("|".join(BROWSERS), install="apt-get install -y chromium")


class DevTools:
    """A minimal DevTools-protocol client over Chromium's debugging pipe."""

    def __init__(self, proc: subprocess.Popen[bytes], send_fd: int, recv_fd: int) -> None:
        self.proc, self.send_fd, self.recv_fd = proc, send_fd, recv_fd
        self.next_id, self.buffer = 0, b""
        self.events: list[dict[str, Any]] = []
        self.session: str | None = None

    def _read(self, deadline: float) -> dict[str, Any]:
        while b"\0" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.recv_fd], [], [], left)[0]:
                raise TimeoutError("chromium did not answer in time")
            chunk = os.read(self.recv_fd, 1 << 16)
            if not chunk:
                raise ConnectionError("chromium closed the debugging pipe")
            self.buffer += chunk
        message, self.buffer = self.buffer.split(b"\0", 1)
        return json.loads(message)

    def call(self, method: str, timeout: float = 30, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        message: dict[str, Any] = {"id": self.next_id, "method": method, "params": params}
        if self.session and not method.startswith(("Target.", "Browser.")):
            message["sessionId"] = self.session
        os.write(self.send_fd, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self.next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, event: str, timeout: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        for i, seen in enumerate(self.events):
            if seen.get("method") == event:
                return self.events.pop(i)
        while True:
            message = self._read(deadline)
            if message.get("method") == event:
                return message
            self.events.append(message)

    def evaluate(self, expression: str) -> Any:
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in result, result
        return result["result"]["value"]


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[DevTools]:
    exe = next(found for name in BROWSERS if (found := shutil.which(name)))
    to_browser_r, to_browser_w = os.pipe()
    from_browser_r, from_browser_w = os.pipe()

    def wire() -> None:  # in the child: the debugging pipe is fds 3 and 4
        os.dup2(to_browser_r, 3)
        os.dup2(from_browser_w, 4)

    proc = subprocess.Popen(
        [exe, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         "--remote-debugging-pipe", f"--user-data-dir={tmp_path / 'profile'}",
         "--window-size=1400,1000", "about:blank"],
        preexec_fn=wire, pass_fds=(3, 4), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(to_browser_r)
    os.close(from_browser_w)
    tools = DevTools(proc, to_browser_w, from_browser_r)
    try:
        target = tools.call("Target.createTarget", url="about:blank")["targetId"]
        tools.session = tools.call("Target.attachToTarget", targetId=target,
                                   flatten=True)["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            tools.call(f"{domain}.enable")
        yield tools
    finally:
        with contextlib.suppress(OSError, TimeoutError, ConnectionError, RuntimeError):
            tools.call("Browser.close", timeout=10)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        os.close(to_browser_w)
        os.close(from_browser_r)


def _screenshot(tools: DevTools, path: Path) -> None:
    data = tools.call("Page.captureScreenshot", format="png")["data"]
    path.write_bytes(base64.b64decode(data))
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 10_000   # a blank page is a few kB


PAGE_FACTS = """(() => {
  const svgs = [...document.querySelectorAll('svg.timeline')].map(s => {
    const r = s.getBoundingClientRect();
    return {id: s.closest('section').id, width: r.width, height: r.height,
            cells: s.querySelectorAll('rect.cell').length,
            violation: s.querySelectorAll('rect.violation').length};
  });
  const links = [...document.querySelectorAll('a[href^="#"]')].map(a => a.hash.slice(1));
  const ids = [...document.querySelectorAll('[id]')].map(e => e.id);
  return {title: document.title, svgs, links, ids,
          unresolved: links.filter(id => !document.getElementById(id)),
          matrixRows: document.querySelectorAll('table.matrix tbody tr').length,
          height: document.documentElement.scrollHeight,
          font: getComputedStyle(document.body).fontFamily};
})()"""


def test_the_html_report_renders_in_chromium(browser: DevTools, tmp_path: Path) -> None:
    results = json.loads((REPORT / "results.json").read_text())
    findings = results["findings"]
    url = (REPORT / "index.html").as_uri()
    browser.call("Page.navigate", url=url)
    browser.wait_for("Page.loadEventFired")
    facts = browser.evaluate(PAGE_FACTS)
    assert facts["title"] == f"lockbreak report {results['report_id']}"
    assert facts["matrixRows"] == len({(f["file"], f["config"]) for f in findings})
    assert "sans-serif" in facts["font"]          # the inline stylesheet applied
    # One timeline per counterexample, drawn at its declared size, one cell per CPU per step.
    with_cex = {f["id"]: f["counterexample"] for f in findings if f["counterexample"]}
    assert sorted(s["id"] for s in facts["svgs"]) == sorted(with_cex)
    for svg in facts["svgs"]:
        cex = with_cex[svg["id"]]
        cpus = len({s["actor"] for s in cex["steps"] if s["actor"] != "env"})
        assert svg["width"] >= 640 and svg["height"] >= 60, svg
        assert svg["cells"] >= cpus * len(cex["steps"]), svg
        assert svg["violation"] == (1 if cex["violating_step"] >= 1 else 0), svg
    # Every finding has exactly one anchor, and every in-page link resolves.
    assert all(facts["ids"].count(f["id"]) == 1 for f in findings)
    assert facts["unresolved"] == []
    assert {f["id"] for f in findings} <= set(facts["links"])
    _screenshot(browser, tmp_path / "report.png")

    # Following a finding's link scrolls to it and makes it the :target.
    anchor = "nested-v2.6.9--v2.6.9--break_return_truth"
    browser.call("Page.navigate", url=f"{url}#{anchor}")
    time.sleep(0.3)
    target = browser.evaluate("""(() => {
      const t = document.querySelector(':target');
      return {id: t && t.id, top: t && t.getBoundingClientRect().top, scrolled: window.scrollY};
    })()""")
    assert target["id"] == anchor and target["scrolled"] > 0 and abs(target["top"]) < 5, target
    _screenshot(browser, tmp_path / "finding.png")

    # Nothing but the file itself was loaded, and the console stayed clean.
    requests = [e["params"]["request"]["url"] for e in browser.events
                if e.get("method") == "Network.requestWillBeSent"]
    assert requests and all(r.startswith("file://") for r in requests), requests
    errors = [e for e in browser.events
              if e.get("method") == "Runtime.exceptionThrown"
              or (e.get("method") == "Runtime.consoleAPICalled" and e["params"]["type"] == "error")
              or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")]
    assert errors == []


MATRIX_FACTS = """(() => {
  const table = document.querySelector('table.matrix');
  const box = table.parentElement;
  box.scrollLeft = box.scrollWidth;
  const heads = [...table.querySelectorAll('thead th')];
  const last = heads[heads.length - 1].getBoundingClientRect();
  const rows = [...table.querySelectorAll('tbody tr')].map(
    tr => [tr.cells[0].textContent, tr.cells[1].textContent]);
  return {overflowX: getComputedStyle(box).overflowX, lastRight: last.right,
          boxRight: box.getBoundingClientRect().right, window: window.innerWidth,
          page: document.documentElement.scrollWidth, rows};
})()"""


def test_every_matrix_column_is_reachable_at_1400_px(browser: DevTools, tmp_path: Path) -> None:
    """In a 1,400 px window the matrix's last column can be scrolled to (inside its own box,
    the page itself never scrolls sideways), and each row names its whole configuration."""
    browser.call("Page.navigate", url=(REPORT / "index.html").as_uri())
    browser.wait_for("Page.loadEventFired")
    facts = browser.evaluate(MATRIX_FACTS)
    assert facts["page"] <= facts["window"] <= 1400, facts
    assert facts["lastRight"] <= min(facts["boxRight"], facts["window"]) + 1, facts
    assert facts["overflowX"] in ("auto", "scroll")
    rows = dict(facts["rows"])
    assert rows["preempt-dynamic-none-v6.11"] == "v6.11 · qspinlock · preempt none · interleaving"
    assert rows["stale-data-reread-v2.6.9-lockstep"].endswith("· lockstep")
    _screenshot(browser, tmp_path / "matrix.png")
