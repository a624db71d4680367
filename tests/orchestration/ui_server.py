"""`safecity ui` (that is `dagster dev`) as a test server: started on a free loopback port against a given
SAFECITY_HOME, ready once /server_info answers, stopped with its whole process group."""
from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

SAFECITY = str(Path(sys.executable).with_name("safecity"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class UiServer:
    url: str
    process: subprocess.Popen

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(f"{self.url}/graphql", body, {"Content-Type": "application/json"})
        answer = json.loads(urllib.request.urlopen(request, timeout=30).read())
        assert "errors" not in answer, answer["errors"]
        return answer["data"]


@contextlib.contextmanager
def running_ui(home: Path, timeout: float = 120, log: Path | None = None) -> Iterator[UiServer]:
    """Start `safecity ui` on `home`; wait until it serves; on exit stop it and its children (webserver, code
    server, daemon). Its output goes to `log` when given (read it when the UI misbehaves)."""
    port = free_port()
    env = {**os.environ, "SAFECITY_HOME": str(home)}
    out = open(log, "wb") if log else subprocess.DEVNULL
    # A session of its own, so that stopping it also stops the webserver and code-server children.
    ui = subprocess.Popen([SAFECITY, "ui", "--port", str(port)], env=env, stdout=out, stderr=subprocess.STDOUT,
                          start_new_session=True)
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + timeout
        while True:
            try:
                urllib.request.urlopen(f"{url}/server_info", timeout=2)
                break
            except OSError:
                assert ui.poll() is None, f"the UI exited with {ui.returncode} before serving"
                assert time.monotonic() < deadline, f"the UI did not answer on {url} within {timeout:.0f} s"
                time.sleep(1)
        yield UiServer(url, ui)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(ui.pid, signal.SIGINT)  # what Ctrl-C sends: dagster dev stops the webserver and code server
        try:
            ui.wait(timeout=60)
        except subprocess.TimeoutExpired:
            pass
        with contextlib.suppress(ProcessLookupError):
            os.killpg(ui.pid, signal.SIGKILL)
        ui.wait(timeout=10)
        if log:
            out.close()
