"""A webhook receiver on 127.0.0.1 for the alert tests: it records every POST's JSON body
and answers with a status the test chooses."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class Receiver:
    """`with Receiver() as hook:` gives `hook.url` and `hook.posts` (the JSON bodies)."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.posts: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.posts.append(json.loads(body))
                receiver.headers.append(dict(self.headers))
                self.send_response(receiver.status)
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/T000/B000"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def wait(self, n: int = 1, timeout: float = 60.0) -> list[dict[str, Any]]:
        """The posts, once at least `n` have arrived (a generous deadline, never a sleep)."""
        deadline = time.monotonic() + timeout
        while len(self.posts) < n:
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{len(self.posts)} webhook posts after {timeout} s, wanted {n}"
                )
            time.sleep(0.05)
        return self.posts
