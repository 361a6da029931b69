"""A push receiver (RFC 8935) for the delivery tests: a small HTTP server in a thread that
keeps every SET it is sent, with its headers, and answers each with the next of the statuses
(and bodies) a test queued, 202 when none is queued."""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    path: str
    content_type: str | None
    authorization: str | None
    token: str


@dataclass
class SetReceiver:
    server: ThreadingHTTPServer
    received: list[Received] = field(default_factory=list)
    answers: deque = field(default_factory=deque)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_port}/events"

    def answer_next(self, status: int, body: dict | None = None) -> None:
        self.answers.append((status, body))

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def start() -> SetReceiver:
    receiver: SetReceiver

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            token = self.rfile.read(length).decode()
            receiver.received.append(
                Received(
                    self.path,
                    self.headers.get("Content-Type"),
                    self.headers.get("Authorization"),
                    token,
                )
            )
            status, body = receiver.answers.popleft() if receiver.answers else (202, None)
            data = json.dumps(body).encode() if body is not None else b""
            self.send_response(status)
            if body is not None:
                self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    receiver = SetReceiver(ThreadingHTTPServer(("127.0.0.1", 0), Handler))
    threading.Thread(target=receiver.server.serve_forever, daemon=True).start()
    return receiver
