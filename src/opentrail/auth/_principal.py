"""Who a request acts as: an access key's account scope and role."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

__all__ = ["AuthContext", "Principal", "Role"]


class Role(StrEnum):
    """What a key may do; each role includes the ones before it."""

    READER = "reader"
    WRITER = "writer"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Role.READER: 0, Role.WRITER: 1, Role.ADMIN: 2}


@dataclass(frozen=True, slots=True)
class Principal:
    """An access key without its secret, so it is safe to log and to pass around."""

    access_key_id: str
    account: str | None  # None for organization keys
    organization: bool
    role: Role
    name: str
    created: float  # epoch seconds, UTC

    def may_access(self, account: str) -> bool:
        """Own account only, or any account for an organization key."""
        return self.organization or self.account == account

    def allows(self, needed: Role) -> bool:
        """reader < writer < admin."""
        return self.role.rank >= needed.rank


@dataclass(frozen=True, slots=True)
class AuthContext:
    """The outcome of a verified request: who signed it, for which region and service."""

    principal: Principal
    region: str
    service: str
