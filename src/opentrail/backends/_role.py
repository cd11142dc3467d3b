"""Elected roles: jobs that must run on one node at a time, chosen through the backend.

A `Role` is a lease on one name ("checkpoint-signer", "trail-delivery", ...). `held()`
says whether this node holds it now, taking it when it is free, and checking that a hold
is still alive. Exactly one holder per name at any moment is the invariant: on
PostgreSQL a session advisory lock on a connection of its own (a node that dies or loses
the database loses its session, so the lock is free at once for the next node to take);
embedded, an exclusive lock on a file in the data dir (freed when the holder's process
ends). No home-made consensus: the database or the kernel decides.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["Role", "TrackedRole"]


class Role(Protocol):
    name: str

    def held(self) -> bool:
        """Whether this node holds the role now: takes it when free, and reports False
        (and lets it go) when the hold was lost. Never raises; returns within seconds."""
        ...

    def release(self) -> None:
        """Let the role go (another node may take it); `held()` takes it again."""
        ...


class TrackedRole:
    """A `Role` that remembers its last answer, so a node can say which roles it holds
    (`/readyz?verbose`) without asking for them: `held()` takes a free role, which a
    probe must never do."""

    def __init__(self, role: Role) -> None:
        self.name = role.name
        self._role = role
        self.last = False  # what the last held() answered

    def held(self) -> bool:
        self.last = self._role.held()
        return self.last

    def release(self) -> None:
        self.last = False
        self._role.release()
