"""Access tokens already verified, so a token's later requests skip the signature and the user.

Keyed by the SHA-256 of the token itself: only the very same token hits. An entry holds the
verified claims and the id of the session the token stands for, and lives until the token
expires (least recently used entries go first when the cache is full). The session row is still
read on every request, so a revoke takes effect at once, on every worker and every instance.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class VerifiedToken:
    claims: dict[str, Any]
    scopes: frozenset[str]
    session_id: Any


class TokenCache:
    """An in-process LRU of verified tokens; each worker keeps its own."""

    def __init__(self, size: int = 10_000, leeway: int = 30):
        self._entries: OrderedDict[bytes, VerifiedToken] = OrderedDict()
        self._lock = threading.Lock()
        self.size = size
        self.leeway = leeway

    @staticmethod
    def _key(raw: str) -> bytes:
        return hashlib.sha256(raw.encode()).digest()

    def get(self, raw: str) -> VerifiedToken | None:
        key = self._key(raw)
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry.claims["exp"] + self.leeway <= time.time():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry

    def put(self, raw: str, entry: VerifiedToken) -> None:
        key = self._key(raw)
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
