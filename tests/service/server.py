"""The real service on uvicorn in a background thread on a free loopback port, and a small HTTP client for it."""
from __future__ import annotations

import json
import socket
import threading
import time
import urllib.error
import urllib.request

import uvicorn


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Running:
    def __init__(self, app, **config):
        """`config`: more uvicorn settings (the board's open streams want `timeout_graceful_shutdown`)."""
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning",
                                                    **config))
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> "Running":
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("the service did not start")
            time.sleep(0.05)
        return self

    def __exit__(self, *exc) -> None:
        self.server.should_exit = True
        self.thread.join(30)

    def call(self, method: str, path: str, body=None, token: str | None = None, form: str | None = None,
             headers: dict | None = None) -> tuple[int, dict, bytes]:
        data, all_headers = None, dict(headers or {})
        if form is not None:
            data, all_headers["Content-Type"] = form.encode(), "application/x-www-form-urlencoded"
        elif body is not None:
            data, all_headers["Content-Type"] = json.dumps(body).encode(), "application/json"
        if token:
            all_headers["Authorization"] = f"Bearer {token}"
        request = urllib.request.Request(self.url + path, data=data, method=method, headers=all_headers)
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                return response.status, dict(response.headers), response.read()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read()

    def token(self, client_id: str, secret: str) -> str:
        status, _, content = self.call("POST", "/oauth/token",
                                       form=f"grant_type=client_credentials&client_id={client_id}&client_secret={secret}")
        assert status == 200, content
        return json.loads(content)["access_token"]
