"""A throwaway Redis server for tests (Debian's ``redis-server``).

server = RedisServer.start()   # 127.0.0.1, a free port, no persistence
server.url                     # redis://127.0.0.1:PORT/0
server.stop()
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time

import redis

from .idp import free_port


def redis_server_binary() -> str:
    found = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not os.access(found, os.X_OK):
        raise RuntimeError(
            "RedisServer: `redis-server` not found; run scripts/install-test-deps.sh "
            "(apt-get install redis-server)"
        )
    return found


class RedisServer:
    """A running ``redis-server`` on 127.0.0.1 that keeps nothing on disk."""

    def __init__(self, proc: subprocess.Popen, port: int, root: str) -> None:
        self._proc = proc
        self._root = root
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"

    @classmethod
    def start(cls, timeout: float = 15.0) -> RedisServer:
        binary = redis_server_binary()
        root = tempfile.mkdtemp(prefix="portal-redis-")
        port = free_port()
        log = open(os.path.join(root, "redis.log"), "w")  # noqa: SIM115 (the process keeps it)
        proc = subprocess.Popen(
            [
                binary,
                "--bind",
                "127.0.0.1",
                "--port",
                str(port),
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                root,
                "--daemonize",
                "no",
            ],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        server = cls(proc, port, root)
        client = redis.Redis(host="127.0.0.1", port=port, socket_connect_timeout=1)
        deadline = time.monotonic() + timeout
        try:
            while True:
                try:
                    client.ping()
                    break
                except redis.ConnectionError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError(
                            f"RedisServer: redis-server did not answer on port {port}:\n"
                            + server.log
                        ) from None
                    time.sleep(0.05)
        except BaseException:
            server.stop()
            raise
        finally:
            client.close()
        return server

    @property
    def log(self) -> str:
        try:
            with open(os.path.join(self._root, "redis.log")) as f:
                return f.read()
        except OSError:
            return ""

    def client(self) -> redis.Redis:
        return redis.Redis.from_url(self.url)

    def stop(self) -> None:
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
        shutil.rmtree(self._root, ignore_errors=True)

    def __enter__(self) -> RedisServer:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()
