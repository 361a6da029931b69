"""Access tokens already verified, so a token's later requests skip the signature and the user.

Keyed by the SHA-256 of the token itself: only the very same token hits. An entry holds the
verified claims and the id of the session the token stands for, and lives until the token
expires (least recently used entries go first when the cache is full). Each worker keeps its
own; with ``PORTAL_REDIS_URL`` every instance also shares them through Redis, so a token first
seen by one worker is known to all. The session row is still read on every request, so a
revoke takes effect at once, everywhere. Redis being down only costs a verification.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, cast

import redis

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VerifiedToken:
    claims: dict[str, Any]
    scopes: frozenset[str]
    session_id: Any


class TokenCache:
    """An in-process LRU of verified tokens; each worker keeps its own."""

    def __init__(self, size: int = 10_000, leeway: int = 30, shared: redis.Redis | None = None):
        self._entries: OrderedDict[bytes, VerifiedToken] = OrderedDict()
        self._lock = threading.Lock()
        self.size = size
        self.leeway = leeway
        self.shared = shared

    @staticmethod
    def _key(raw: str) -> bytes:
        return hashlib.sha256(raw.encode()).digest()

    def get(self, raw: str) -> VerifiedToken | None:
        key = self._key(raw)
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and self._alive(entry):
                self._entries.move_to_end(key)
                return entry
            self._entries.pop(key, None)
        entry = self._shared_get(key)
        if entry is not None and self._alive(entry):
            self._remember(key, entry)
            return entry
        return None

    def put(self, raw: str, entry: VerifiedToken) -> None:
        key = self._key(raw)
        self._remember(key, entry)
        self._shared_put(key, entry)

    def _alive(self, entry: VerifiedToken) -> bool:
        return entry.claims["exp"] + self.leeway > time.time()

    def _remember(self, key: bytes, entry: VerifiedToken) -> None:
        with self._lock:
            self._entries[key] = entry
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)

    @staticmethod
    def _shared_key(key: bytes) -> str:
        return "portal:token:" + key.hex()

    def _shared_get(self, key: bytes) -> VerifiedToken | None:
        if self.shared is None:
            return None
        try:
            # redis-py types every command as "Awaitable or not", for its async client too;
            # this (synchronous) client's GET answers the stored bytes, or None.
            raw = cast("bytes | None", self.shared.get(self._shared_key(key)))
        except redis.RedisError as exc:
            log.warning("token cache: Redis unavailable (%s); verifying the token instead", exc)
            return None
        if raw is None:
            return None
        data = json.loads(raw)
        return VerifiedToken(data["claims"], frozenset(data["scopes"]), data["session_id"])

    def _shared_put(self, key: bytes, entry: VerifiedToken) -> None:
        if self.shared is None:
            return
        ttl = int(entry.claims["exp"] + self.leeway - time.time())
        if ttl <= 0:
            return
        value = json.dumps(
            {
                "claims": entry.claims,
                "scopes": sorted(entry.scopes),
                "session_id": str(entry.session_id),
            }
        )
        try:
            self.shared.set(self._shared_key(key), value, ex=ttl)
        except redis.RedisError as exc:
            log.warning("token cache: Redis unavailable (%s); kept in this worker only", exc)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
