"""Console sessions: opaque random ids kept server-side, each with its own CSRF token.

The cookie carries only a random id (no data), so nothing in it can be forged or read;
signing out or restarting the server ends every session. Sessions expire after a fixed
lifetime and after a shorter idle period, whichever comes first.
"""

from __future__ import annotations

import hmac
import secrets
import threading
from dataclasses import dataclass

from opentrail.clock import Clock

__all__ = ["COOKIE", "Session", "SessionStore"]

COOKIE = "opentrail_session"
LIFETIME = 8 * 3600.0  # a working day; then sign in again
IDLE = 3600.0
MAX_SESSIONS = 10_000  # bounds memory if someone signs in in a loop


@dataclass
class Session:
    id: str
    access_key_id: str
    csrf: str
    created: float
    seen: float

    def csrf_ok(self, token: str | None) -> bool:
        return token is not None and hmac.compare_digest(self.csrf, token)


class SessionStore:
    """In-memory sessions, safe to use from the server's threads."""

    def __init__(self, clock: Clock, lifetime: float = LIFETIME, idle: float = IDLE) -> None:
        self._clock = clock
        self._lifetime = lifetime
        self._idle = idle
        self._lock = threading.Lock()
        self._sessions: dict[str, Session] = {}

    @property
    def lifetime(self) -> int:
        return int(self._lifetime)

    def create(self, access_key_id: str) -> Session:
        now = self._clock.now()
        session = Session(secrets.token_urlsafe(32), access_key_id,
                          secrets.token_urlsafe(32), now, now)
        with self._lock:
            self._expire(now)
            if len(self._sessions) >= MAX_SESSIONS:  # drop the oldest
                oldest = min(self._sessions.values(), key=lambda s: s.seen)
                del self._sessions[oldest.id]
            self._sessions[session.id] = session
        return session

    def get(self, session_id: str | None) -> Session | None:
        """The live session for this cookie value, touched; None when unknown or expired."""
        if not session_id:
            return None
        now = self._clock.now()
        with self._lock:
            session = self._sessions.get(session_id)
            if session is None:
                return None
            if self._expired(session, now):
                del self._sessions[session_id]
                return None
            session.seen = now
            return session

    def end(self, session_id: str) -> None:
        with self._lock:
            self._sessions.pop(session_id, None)

    def _expired(self, session: Session, now: float) -> bool:
        return now - session.created > self._lifetime or now - session.seen > self._idle

    def _expire(self, now: float) -> None:
        for sid in [s.id for s in self._sessions.values() if self._expired(s, now)]:
            del self._sessions[sid]
