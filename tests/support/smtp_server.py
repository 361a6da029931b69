"""A real SMTP server process for tests (aiosmtpd), keeping each mail it accepts as a file.

server = SmtpServer.start()      # python -m aiosmtpd on 127.0.0.1, a free port
server.messages()                # every mail received so far (email.message.EmailMessage)
server.stop(); server.restart()  # a mail server that goes away and comes back on its port

``MailDir`` is the handler the process runs (``-c support.smtp_server.MailDir DIR``): it
writes each mail to DIR, and refuses recipients whose address starts with ``bounce`` with a
550, as a server does for a mailbox that does not exist.
"""

from __future__ import annotations

import email
import email.policy
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

from .idp import free_port

TESTS = Path(__file__).resolve().parent.parent


class MailDir:
    """aiosmtpd handler: each accepted mail becomes one ``.eml`` file in a directory."""

    def __init__(self, directory: str):
        self.directory = Path(directory)

    @classmethod
    def from_cli(cls, parser, *args):
        if len(args) != 1:
            parser.error("MailDir needs the directory to write mail to")
        return cls(args[0])

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address.lower().startswith("bounce"):
            return "550 5.1.1 No such mailbox here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        name = f"{time.time_ns()}-{uuid.uuid4().hex}"
        tmp = self.directory / f"{name}.tmp"
        tmp.write_bytes(envelope.original_content or envelope.content)
        tmp.rename(self.directory / f"{name}.eml")  # whole files only, for the reader
        return "250 Message accepted for delivery"


class SmtpServer:
    """``python -m aiosmtpd`` on 127.0.0.1 with the ``MailDir`` handler."""

    def __init__(self, port: int, root: str):
        self.port = port
        self.root = root
        self.mail_dir = os.path.join(root, "mail")
        os.makedirs(self.mail_dir, exist_ok=True)
        self._proc: subprocess.Popen | None = None

    @classmethod
    def start(cls, port: int | None = None) -> SmtpServer:
        server = cls(port or free_port(), tempfile.mkdtemp(prefix="portal-smtp-"))
        server.restart()
        return server

    def restart(self, timeout: float = 15.0) -> None:
        env = {**os.environ, "PYTHONPATH": str(TESTS)}
        log = open(os.path.join(self.root, "smtp.log"), "a")  # noqa: SIM115 (the process keeps it)
        self._proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                f"127.0.0.1:{self.port}",
                "-c",
                "support.smtp_server.MailDir",
                self.mail_dir,
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    if s.recv(3) == b"220":
                        return
            except OSError:
                pass
            if self._proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"SmtpServer: aiosmtpd did not answer on {self.port}:\n{self.log}"
                )
            time.sleep(0.05)

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def log(self) -> str:
        try:
            return Path(self.root, "smtp.log").read_text()
        except OSError:
            return ""

    def messages(self) -> list[email.message.EmailMessage]:
        files = sorted(Path(self.mail_dir).glob("*.eml"))
        return [
            email.message_from_bytes(f.read_bytes(), policy=email.policy.default) for f in files
        ]

    def clear(self) -> None:
        for f in Path(self.mail_dir).glob("*.eml"):
            f.unlink()

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


class HangingServer:
    """A port that accepts connections and never says a word: a mail server that hangs."""

    def __init__(self):
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port = self._sock.getsockname()[1]
        self._held: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        self._sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
                self._held.append(conn)  # kept open, never answered
            except OSError:
                continue

    @property
    def connections(self) -> int:
        return len(self._held)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        for conn in self._held:
            conn.close()
        self._sock.close()
