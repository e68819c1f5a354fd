"""Headless Chromium for the report tests, driven over the DevTools protocol on a pipe (no driver, no
websocket): open a page from disk, record its console messages, errors and requests, run script in it, take a
screenshot."""

from __future__ import annotations

import base64
import json
import os
import queue
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

INSTALL = "apt-get install chromium (Debian's package; .ci/run installs it)"


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def require_chromium() -> str:
    path = chromium_path()
    if path is None:
        pytest.skip(f"headless Chromium not found: {INSTALL}")
    return path


class Page:
    """One tab: what it logged and requested since it was opened."""

    def __init__(self, browser: Browser, session: str, target: str):
        self.browser, self.session, self.target = browser, session, target
        self.console_errors: list[str] = []
        self.requests: list[str] = []
        self.failed_requests: list[str] = []

    def call(self, method: str, **params) -> dict:
        return self.browser.call(method, params, self.session)

    def evaluate(self, expression: str):
        reply = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in reply:
            raise AssertionError(f"script failed in the page: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def screenshot(self) -> bytes:
        return base64.b64decode(
            self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"]
        )


class Browser:
    def __init__(self, width: int = 1200, height: int = 900):
        self.width, self.height = width, height
        self.profile = tempfile.mkdtemp(prefix="dfdc-chromium-")
        to_chromium, self._write = os.pipe()
        self._read, from_chromium = os.pipe()

        # where --remote-debugging-pipe expects them; either may be 3 or 4 already
        def pipes_on_3_and_4() -> None:
            reading, writing = os.dup(to_chromium), os.dup(from_chromium)
            os.dup2(reading, 3)
            os.dup2(writing, 4)

        self.process = subprocess.Popen(
            [
                require_chromium(),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-extensions",
                "--remote-debugging-pipe",
                f"--user-data-dir={self.profile}",
                "about:blank",
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=False,
            preexec_fn=pipes_on_3_and_4,
        )
        os.close(to_chromium)
        os.close(from_chromium)
        self._next_id = 0
        self._replies: dict[int, queue.Queue] = {}
        self._pages: dict[str, Page] = {}
        self._loaded: dict[str, threading.Event] = {}
        self._lock = threading.Lock()
        threading.Thread(target=self._receive, daemon=True).start()

    def _receive(self) -> None:
        buffer = b""
        while True:
            chunk = os.read(self._read, 1 << 16)
            if not chunk:
                return
            buffer += chunk
            while b"\0" in buffer:
                raw, buffer = buffer.split(b"\0", 1)
                self._dispatch(json.loads(raw))

    def _dispatch(self, message: dict) -> None:
        if "id" in message:
            self._replies[message["id"]].put(message)
            return
        page = self._pages.get(message.get("sessionId", ""))
        if page is None:
            return
        method, params = message["method"], message.get("params", {})
        if method == "Runtime.consoleAPICalled" and params["type"] in ("error", "assert", "warning"):
            page.console_errors.append(
                " ".join(str(arg.get("value", arg.get("description", ""))) for arg in params["args"])
            )
        elif method == "Runtime.exceptionThrown":
            page.console_errors.append(
                params["exceptionDetails"]
                .get("exception", {})
                .get("description", str(params["exceptionDetails"]))
            )
        elif method == "Log.entryAdded" and params["entry"]["level"] in ("error", "warning"):
            page.console_errors.append(
                f"{params['entry']['source']}: {params['entry']['text']} {params['entry'].get('url', '')}"
            )
        elif method == "Network.requestWillBeSent":
            page.requests.append(params["request"]["url"])
        elif method == "Network.loadingFailed":
            page.failed_requests.append(params.get("errorText", "?"))
        elif method == "Page.loadEventFired":
            self._loaded[page.session].set()

    def call(
        self, method: str, params: dict | None = None, session: str | None = None, timeout: float = 30
    ) -> dict:
        with self._lock:
            self._next_id += 1
            number = self._next_id
            self._replies[number] = queue.Queue()
        message = {"id": number, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._write, json.dumps(message).encode() + b"\0")
        try:
            reply = self._replies[number].get(timeout=timeout)
        except queue.Empty:
            raise AssertionError(f"Chromium did not answer {method} within {timeout} s") from None
        if "error" in reply:
            raise AssertionError(f"{method}: {reply['error']}")
        return reply["result"]

    def open(self, path: Path, fragment: str = "", timeout: float = 30) -> Page:
        """A new tab showing the file at `path` (#`fragment`), once its load event has fired (every image and
        script loaded)."""
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        page = self._pages[session] = Page(self, session, target)
        self._loaded[session] = threading.Event()
        for domain in ("Runtime", "Log", "Network", "Page"):
            page.call(f"{domain}.enable")
        page.call(
            "Emulation.setDeviceMetricsOverride",
            width=self.width,
            height=self.height,
            deviceScaleFactor=1,
            mobile=False,
        )
        page.call("Page.navigate", url=path.resolve().as_uri() + (f"#{fragment}" if fragment else ""))
        if not self._loaded[session].wait(timeout):
            raise AssertionError(f"{path} did not finish loading within {timeout} s")
        time.sleep(0.2)  # late console messages of the page's script
        return page

    def close_pages(self) -> None:
        """Close every open tab: a tab left open keeps its renderer process, which was seen holding both cores
        busy for minutes while the module's later tests ran."""
        for session, page in list(self._pages.items()):
            self.call("Target.closeTarget", {"targetId": page.target})
            del self._pages[session], self._loaded[session]

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=5)
        except (AssertionError, OSError):
            pass
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
        os.close(self._write)
        shutil.rmtree(self.profile, ignore_errors=True)
