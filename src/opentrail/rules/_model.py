"""The nouns of event rules: rules, connections, API destinations, deliveries.

Invariant: these are plain values; a Connection never carries its secrets (they stay
sealed in the store and are opened only by the sender, `RuleStore.secrets`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["ApiDestination", "Connection", "Delivery", "Rule", "rule_arn"]

PARTITION = "aws"


def rule_arn(account: str, region: str, name: str) -> str:
    return f"arn:{PARTITION}:events:{region}:{account}:rule/{name}"


@dataclass
class Rule:
    account: str
    region: str
    name: str
    pattern: str | None
    state: str  # ENABLED | DISABLED | ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS
    description: str = ""
    created: float = 0.0

    @property
    def arn(self) -> str:
        return rule_arn(self.account, self.region, self.name)


@dataclass
class Connection:
    account: str
    region: str
    name: str
    uuid: str
    auth_type: str  # BASIC | API_KEY | OAUTH_CLIENT_CREDENTIALS
    params: dict[str, Any]  # AuthParameters with every secret value removed
    description: str = ""
    state: str = "AUTHORIZED"
    created: float = 0.0
    modified: float = 0.0
    authorized: float = 0.0

    @property
    def arn(self) -> str:
        return (f"arn:{PARTITION}:events:{self.region}:{self.account}:connection/"
                f"{self.name}/{self.uuid}")


@dataclass
class ApiDestination:
    account: str
    region: str
    name: str
    uuid: str
    connection_arn: str
    endpoint: str
    method: str
    rate: int | None = None
    description: str = ""
    created: float = 0.0
    modified: float = 0.0
    state: str = "ACTIVE"

    @property
    def arn(self) -> str:
        return (f"arn:{PARTITION}:events:{self.region}:{self.account}:api-destination/"
                f"{self.name}/{self.uuid}")


@dataclass
class Delivery:
    """One event on its way to one target (a row of the outbox)."""

    id: int
    account: str
    region: str
    rule: str
    target: dict[str, Any]
    event: dict[str, Any]  # the envelope
    enqueued: float
    attempts: int = 0
    next_try: float = 0.0
    state: str = "PENDING"  # PENDING | DEAD
    last_error: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
