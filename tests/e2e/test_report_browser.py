"""The HTML report in a real browser: headless Chromium, driven over the DevTools protocol.

A real migration on the in-memory backend (a few hundred items; some skipped, failed,
ambiguous or already on the destination; one account that cannot be opened) is written as
``report.html`` and opened at 1280 and 390 px wide. Screenshots are saved in the test's
temporary directory and their paths printed (``pytest -s`` shows them).

Chromium missing: the tests are skipped, except when ``CI=true``, where they fail.
"""

from __future__ import annotations

import base64
import datetime as dt
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from groupmigrate.testing.servers import require_server

import groupmigrate as gm
from groupmigrate import events as ev
from groupmigrate.backends.memory import MemoryDestination, MemoryServer, MemorySource
from groupmigrate.core.report import Report
from groupmigrate.errors import ItemRejected, OutcomeUnknown
from groupmigrate.items import Contact, Message

CHROMIUM = os.environ.get("GROUPMIGRATE_CHROMIUM", "/usr/bin/chromium")
UTC = dt.timezone.utc
NOW = dt.datetime.now(UTC)
XSS = "<script>alert(1)</script>"


# -- the sample migration ------------------------------------------------------------------------
def _mime(n: int, subject: str, sender: str = "carla.mendes@contoso.com", attachment: int = 0) -> bytes:
    date = (NOW - dt.timedelta(days=3 + n % 400, minutes=n)).strftime("%a, %d %b %Y %H:%M:%S +0000")
    head = f"Message-ID: <m{n}.{abs(hash(subject)) % 10**8}@contoso.com>\r\nFrom: {sender}\r\nTo: team@contoso.com\r\nSubject: {subject}\r\nDate: {date}\r\n"
    if not attachment:
        return (head + f"\r\nbody {n}\r\n").encode()
    return (
        head.encode() + b"Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
        b"--B\r\nContent-Type: application/pdf\r\nContent-Disposition: attachment; filename=scan.pdf\r\n\r\n"
        + b"x" * attachment + b"\r\n--B--\r\n"
    )


_SUBJECTS = ("Quarterly figures", "Re: offsite agenda", "Invoice", "Fwd: contract draft", "Lunch?", "Build failed")


def build_sample(tmp: Path) -> tuple[Report, Report]:
    """Migrate three mailboxes (and one that does not exist), then verify; return both reports."""
    src, dst = MemoryServer(), MemoryServer()
    pairs = []
    for name, mails in (("alice.wonderland-long-address-for-wrapping", 180), ("bob", 140), ("dave", 45)):
        source, destination = f"{name}@contoso.com", f"{name}@example.org"
        src.add_mailbox(source)
        dst.add_mailbox(destination)
        pairs.append(gm.AccountPair(source, destination))
        for n in range(mails):
            subject = f"{_SUBJECTS[n % len(_SUBJECTS)]} #{n}"
            path = ("Inbox",) if n % 3 else ("Inbox", "Projects", "2025 budget")
            mail = Message.from_mime(_mime(n, subject))
            src.add_item(source, path, mail)
            if name == "bob" and n < 60:  # already on the destination before the migration
                dst.add_item(destination, path, mail)
        for n in range(12):
            emails = tuple(f"p{n}.{k}@fabrikam.com" for k in range(5 if n < 4 else 1))
            src.add_item(source, ("Contacts",), Contact(display_name=f"Person {n} {name.title()[:12]}", emails=emails))
    first = pairs[0].source
    src.add_item(first, ("Inbox",), Message.from_mime(_mime(999, XSS, sender="mallory@evil.example", attachment=7000)))
    for n in range(3):
        src.add_item(first, ("Inbox",), Message.from_mime(_mime(900 + n, f"Scanned contract part {n}", attachment=6000)))
    pairs.append(gm.AccountPair("carol@contoso.com", "carol@example.org"))  # no such source mailbox

    caps = gm.Capabilities(
        name="sample", max_attachment_size=5000, max_contact_emails=3, max_batch_items=20, allows_mixed_folders=True
    )
    dst.inject("create_items", ItemRejected("the destination refused the request: ErrorQuotaExceeded"), times=1)
    dst.inject("create_items", OutcomeUnknown("the connection was reset after the request was sent"), after=True)

    def slow(event: object) -> None:  # a little time per batch, so that the timeline has a shape
        if isinstance(event, ev.Progress):
            time.sleep(0.004)

    m = gm.Migrator(MemorySource(src), MemoryDestination(dst, caps), state=str(tmp / "migration.db"), workers=2, on_event=slow)
    report = m.run(pairs)
    # after the migration: one copy deleted by a user, one item nobody migrated
    mbx = dst.mailbox(pairs[2].destination)
    inbox = next(f for f in mbx.folders.values() if f.path == ("Inbox",))
    dst.delete_item(pairs[2].destination, next(iter(mbx.items[inbox.folder_id])))
    dst.add_item(pairs[2].destination, ("Inbox",), Message.from_mime(_mime(5000, "Welcome to your new mailbox", "it@example.org")))
    verify = m.verify(pairs[:3])
    return report, verify


# -- a small DevTools protocol client over --remote-debugging-pipe (no websocket needed) ----------
class Browser:
    """Headless Chromium with one page, driven over the DevTools pipe (file descriptors 3 and 4)."""

    def __init__(self, executable: str = CHROMIUM) -> None:
        self.profile = tempfile.mkdtemp(prefix="gm-chromium-")
        to_browser_r, self._out = os.pipe()
        self._in, from_browser_w = os.pipe()
        args = [
            executable, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
            "--disable-dev-shm-usage", f"--user-data-dir={self.profile}", "--remote-debugging-pipe", "about:blank",
        ]  # fmt: skip
        def fds() -> None:  # the browser reads commands on fd 3 and writes answers on fd 4
            r, w = fcntl.fcntl(to_browser_r, fcntl.F_DUPFD, 10), fcntl.fcntl(from_browser_w, fcntl.F_DUPFD, 10)
            os.dup2(r, 3)
            os.dup2(w, 4)

        self.proc = subprocess.Popen(
            args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=fds, pass_fds=(3, 4),  # kept open after fds() put the pipes there
        )  # fmt: skip
        os.close(to_browser_r)
        os.close(from_browser_w)
        self._buffer = b""
        self._id = 0
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self.session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.page("Page.enable")

    def call(self, method: str, session: str | None = None, **params: Any) -> dict[str, Any]:
        self._id += 1
        message: dict[str, Any] = {"id": self._id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self._out, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            while b"\0" not in self._buffer:
                chunk = os.read(self._in, 1 << 20)
                if not chunk:
                    raise RuntimeError("the browser closed the DevTools pipe")
                self._buffer += chunk
            raw, self._buffer = self._buffer.split(b"\0", 1)
            answer = json.loads(raw)
            if answer.get("id") == self._id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return dict(answer.get("result", {}))
        raise TimeoutError(method)

    def page(self, method: str, **params: Any) -> dict[str, Any]:
        return self.call(method, self.session, **params)

    def js(self, expression: str) -> Any:
        result = self.page("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open(self, url: str, width: int, height: int = 800) -> None:
        self.page("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
        self.page("Page.navigate", url=url)
        for _ in range(200):
            if self.js("document.readyState") == "complete":
                return
            time.sleep(0.05)
        raise TimeoutError(url)

    def screenshot(self, path: Path, full_page: bool = False) -> Path:
        params: dict[str, Any] = {"format": "png"}
        if full_page:
            w, h = self.js("[document.documentElement.scrollWidth, document.documentElement.scrollHeight]")
            params.update(captureBeyondViewport=True, clip={"x": 0, "y": 0, "width": w, "height": h, "scale": 1})
        data = self.page("Page.captureScreenshot", **params)["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def type(self, selector: str, text: str) -> None:
        self.js(f"document.querySelector({json.dumps(selector)}).focus()")
        self.page("Input.insertText", text=text)

    def close(self) -> None:
        try:
            self.call("Browser.close")
        except Exception:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._in)
        os.close(self._out)
        shutil.rmtree(self.profile, ignore_errors=True)


# -- the tests -------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    require_server(os.access(CHROMIUM, os.X_OK), f"{CHROMIUM} is missing (bash scripts/test.sh installs it as root)")
    b = Browser()
    try:
        yield b
    finally:
        b.close()


@pytest.fixture(scope="module")
def reports(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Report, Path, Report]:
    out = tmp_path_factory.mktemp("report")
    report, verify = build_sample(out)
    page, verify_page = out / "report.html", out / "verify.html"
    page.write_text(report.to_html(), encoding="utf-8")
    verify_page.write_text(verify.to_html(), encoding="utf-8")
    return page, report, verify_page, verify


def test_the_sample_has_every_outcome(reports: tuple[Path, Report, Path, Report]) -> None:
    _, report, _, verify = reports
    totals = report.totals()
    assert totals["migrated"] > 250 and totals["duplicate"] == 60, report.summary()
    assert totals["skipped"] == 4 and totals["failed"] > 0 and totals["ambiguous"] > 0, report.summary()
    assert {a.status for a in report.accounts} >= {"completed", "completed_with_errors", "failed"}
    assert verify.totals()["missing"] == 1 and verify.totals()["extra"] >= 1, verify.summary()


def _overflow(b: Browser) -> list[str]:
    """Elements sticking out of the viewport on the right (none: the page does not scroll sideways)."""
    return list(b.js(
        "Array.from(document.querySelectorAll('body *')).filter(function(el){"
        "var r=el.getBoundingClientRect();if(!r.width)return false;"
        "for(var p=el.parentElement;p;p=p.parentElement){if(getComputedStyle(p).overflowX!=='visible')return false;}"
        "return r.right>window.innerWidth+1;}).slice(0,5).map(function(el){return el.tagName+'.'+el.className;})"
    ))  # fmt: skip


@pytest.mark.parametrize("page_kind", ["report", "verify"])
@pytest.mark.parametrize("width", [1280, 390])
def test_no_horizontal_overflow_and_totals_first(
    browser: Browser, reports: tuple[Path, Report, Path, Report], width: int, page_kind: str
) -> None:
    page = reports[0] if page_kind == "report" else reports[2]
    browser.open(page.as_uri(), width, 800)
    scroll_width, inner = browser.js("[document.documentElement.scrollWidth, window.innerWidth]")
    assert scroll_width <= inner, (scroll_width, inner, _overflow(browser))
    shot = browser.screenshot(page.with_name(f"{page_kind}-{width}.png"))
    full = browser.screenshot(page.with_name(f"{page_kind}-{width}-full.png"), full_page=True)
    print(f"\nscreenshots: {shot} {full}")
    if width == 1280:
        bottom = browser.js("document.getElementById('totals').getBoundingClientRect().bottom")
        assert 0 < bottom <= 800, bottom
    assert browser.js("document.querySelectorAll('script[src], link[href], img[src], iframe').length") == 0


def test_the_account_filter_hides_the_other_rows(browser: Browser, reports: tuple[Path, Report, Path, Report]) -> None:
    browser.open(reports[0].as_uri(), 1280, 800)
    visible = "Array.from(document.querySelectorAll('table.accounts tbody tr')).filter(function(r){return r.offsetParent!==null;}).map(function(r){return r.cells[0].querySelector('a').textContent;})"
    assert len(browser.js(visible)) == 4
    browser.type("#account-filter", "bob")
    assert browser.js(visible) == ["bob@contoso.com"]
    assert browser.js("document.getElementById('account-count').textContent") == "1 of 4 accounts"
    assert browser.js("Array.from(document.querySelectorAll('section.acct')).filter(function(s){return !s.hidden;}).length") == 1
    browser.js("var q=document.getElementById('account-filter');q.value='';q.dispatchEvent(new Event('input'))")
    browser.type("#account-filter", "failed")  # by status too
    assert browser.js(visible) == ["carol@contoso.com"]


def test_sorting_a_column_reorders_the_rows(browser: Browser, reports: tuple[Path, Report, Path, Report]) -> None:
    _, report, _, _ = reports
    browser.open(reports[0].as_uri(), 1280, 800)
    order = "Array.from(document.querySelectorAll('table.accounts tbody tr')).map(function(r){return r.cells[0].querySelector('a').textContent;})"
    assert browser.js(order) == [a.pair.source for a in report.accounts]
    header = "Array.from(document.querySelectorAll('table.accounts th button')).find(function(b){return b.textContent==='Items';})"
    browser.js(f"{header}.click()")
    by_items = sorted(report.accounts, key=lambda a: sum(a.total(o) for o in ("migrated", "duplicate", "skipped", "failed", "ambiguous")))
    assert browser.js(order) == [a.pair.source for a in by_items]
    browser.js(f"{header}.click()")  # again: descending
    assert browser.js(order) == [a.pair.source for a in reversed(by_items)]
    assert browser.js(f"{header}.parentNode.getAttribute('aria-sort')") == "descending"


def test_user_data_is_shown_as_text_and_groups_expand(browser: Browser, reports: tuple[Path, Report, Path, Report]) -> None:
    browser.open(reports[0].as_uri(), 1280, 800)
    assert browser.js("document.scripts.length") == 1  # the page's own; the subject stayed text
    labels = browser.js("Array.from(document.querySelectorAll('ul.items .label')).map(function(l){return l.textContent;})")
    assert any(XSS in label for label in labels), labels[:5]
    assert browser.js("document.querySelectorAll('.gmr script').length") == 0
    # "already on the destination": one closed line with its count; opened, it lists the items
    group = "document.querySelector(\"details.group[data-kind='duplicate']\")"
    assert browser.js(f"{group}.open") is False
    assert browser.js(f"{group}.querySelector('summary .n').textContent") == "60"
    browser.js(f"{group}.querySelector('summary').click()")
    assert browser.js(f"{group}.querySelectorAll('ul.items li').length") == 60
    browser.js("filterLog('failed')")
    assert browser.js("Array.from(document.querySelectorAll('details.group')).filter(function(d){return !d.hidden;}).every(function(d){return d.dataset.kind==='failed';})")


def test_print_shows_everything_without_controls(browser: Browser, reports: tuple[Path, Report, Path, Report]) -> None:
    browser.open(reports[0].as_uri(), 1280, 800)
    browser.page("Emulation.setEmulatedMedia", media="print")
    try:
        assert browser.js("document.getElementById('account-filter').offsetParent") is None
        closed = "document.querySelector(\"details.group[data-kind='duplicate'] ul.items li\")"
        assert browser.js(f"{closed}.getBoundingClientRect().height") > 0  # a closed group prints open
    finally:
        browser.page("Emulation.setEmulatedMedia", media="")
