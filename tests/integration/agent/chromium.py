"""Headless Chromium driven over its DevTools protocol, for the agent's status page.

Used by the page tests (``Browser``) and, as a command, by molecule's verify, which checks the
page of the agent the role deployed (stdlib + aiohttp, which the agent's requirements bring):

    python chromium.py URL FRONTEND=STATE...    wait until the page shows each frontend in that
                                               state with a live event stream; print what it shows
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from typing import Any, Dict, Optional

import aiohttp
from polling import wait_for

# What the page shows of its frontends (agent/page/app.js renders one card per frontend).
FRONTENDS_PROBE = """(() => {
  const text = (node, selector) => {
    const found = node.querySelector(selector);
    return found ? found.textContent : null;
  };
  return {
    stream: text(document, "#stream"),
    vpp: text(document, "#vpp"),
    frontends: Object.fromEntries([...document.querySelectorAll("#frontends [data-frontend]")].map((card) => [
      card.dataset.frontend,
      {state: text(card, "h3 .state"),
       members: Object.fromEntries([...card.querySelectorAll("tr[data-backend]")].map((row) =>
         [row.dataset.backend, text(row, ".effective")]))},
    ])),
  };
})()"""


def _get(url: str, timeout: float = 5) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as reply:
        return reply.read().decode()


class Browser:
    """Headless Chromium showing one URL; ``evaluate`` runs JavaScript in the page (DevTools protocol)."""

    def __init__(self, workdir, url: str):
        profile = Path(workdir) / "chromium"
        profile.mkdir()
        self.log = open(Path(workdir) / "chromium.log", "w")
        self.proc = subprocess.Popen(
            ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
             f"--user-data-dir={profile}", "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", url],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
        )
        port_file = profile / "DevToolsActivePort"
        wait_for(lambda: self._alive() and port_file.exists() and port_file.read_text().strip(), 30,
                 "Chromium's DevTools port", 0.05)
        port = int(port_file.read_text().split()[0])
        targets = wait_for(lambda: [t for t in self._targets(port) if t.get("type") == "page"], 15, "a page target",
                           0.05)
        self.loop = asyncio.new_event_loop()
        self.session: Optional[aiohttp.ClientSession] = None
        self.ws = self.loop.run_until_complete(self._connect(targets[0]["webSocketDebuggerUrl"]))
        self._next_id = 0

    def _alive(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"chromium exited with {self.proc.returncode}")
        return True

    @staticmethod
    def _targets(port: int) -> list:
        try:
            return json.loads(_get(f"http://127.0.0.1:{port}/json/list"))
        except OSError:
            return []

    async def _connect(self, url: str):
        self.session = aiohttp.ClientSession()
        return await self.session.ws_connect(url, max_msg_size=0)

    async def _call(self, method: str, params: dict) -> dict:
        self._next_id += 1
        await self.ws.send_json({"id": self._next_id, "method": method, "params": params})
        while True:
            message = await asyncio.wait_for(self.ws.receive_json(), 10)
            if message.get("id") == self._next_id:
                return message

    def evaluate(self, expression: str) -> Any:
        reply = self.loop.run_until_complete(
            self._call("Runtime.evaluate", {"expression": expression, "returnByValue": True}))
        result = reply["result"]
        if "exceptionDetails" in result:
            raise AssertionError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    def frontends_shown(self) -> Dict[str, Any]:
        """{stream, vpp, frontends: {name: {state, members: {backend: effective text}}}} as rendered."""
        return self.evaluate(FRONTENDS_PROBE)

    def close(self) -> None:
        if self.session is not None:
            self.loop.run_until_complete(self.ws.close())
            self.loop.run_until_complete(self.session.close())
        self.loop.close()
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)  # the browser and the helpers it started
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        self.log.close()


def page_shows(shown: Optional[Dict[str, Any]], expected: Dict[str, str]) -> bool:
    """The page has its live stream and every expected frontend in the expected state."""
    if not shown or shown.get("stream") != "events: live":
        return False
    fronts = shown.get("frontends") or {}
    return all(name in fronts and fronts[name]["state"] == state for name, state in expected.items())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("url")
    parser.add_argument("expected", nargs="+", metavar="FRONTEND=STATE")
    parser.add_argument("--timeout", type=float, default=60)
    args = parser.parse_args(argv)
    expected = dict(item.split("=", 1) for item in args.expected)
    with tempfile.TemporaryDirectory(prefix="maglev-page-") as workdir:
        browser = Browser(workdir, args.url)
        try:
            try:
                shown = wait_for(lambda: (v := browser.frontends_shown()) and page_shows(v, expected) and v,
                                 args.timeout, f"the page at {args.url} showing {expected}", 0.05, scale=1)
            except AssertionError as exc:
                print(json.dumps({"error": str(exc), "shown": browser.frontends_shown()}, indent=2))
                return 1
            print(json.dumps(shown, indent=2, sort_keys=True))
            return 0
        finally:
            browser.close()


if __name__ == "__main__":
    sys.exit(main())
