"""The rule store's interface: what event rules need of where their state lives (rules,
targets, tags, connections, API destinations, the engine's ledger cursor, the delivery
outbox and the receipts of successful deliveries). `SqliteRuleStore` keeps it in
DATA_DIR/rules.db (rules/_sqlite_store.py); the PostgreSQL backend in tables every node
shares (backends/postgres/_rules.py). `Backend.rules(sealer)` hands out one.

Invariants every implementation keeps (tests/rules/test_store_contract.py):
* The engine's cursor moves in the same transaction as the deliveries it enqueued, so a
  crash never loses or doubles a match; `advance` moves it only from the value its
  caller read (compare-and-set), so an engine that lost its role without noticing cannot
  enqueue a match the new holder enqueued too.
* `fence()` starts a sender's term; `due(term=...)` hands out nothing to an older term,
  so a sender that lost its role stops taking deliveries once the new holder started.
* Connection secrets are stored only sealed with the master key (bound to the
  connection's ARN); nothing returns them except `secrets`, which the sender uses.
* Every read and change is scoped by (account, region): accounts never see each other.
* Every change to rules or targets bumps `version` in its own transaction, so a reader
  anywhere (another process, another node) sees that its armed rules are stale.
* A delivery leaves the outbox in the transaction that adds its receipt, so each success
  is recorded once.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any, Protocol

from opentrail.rules._model import ApiDestination, Connection, Delivery, Rule

__all__ = ["RULES_FILE", "Receipt", "RuleStore", "Sealer"]

RULES_FILE = "rules.db"

# One successful delivery: (account, region, rule, target Id, target kind, the matched
# record's eventID, its eventName, when delivered).
Receipt = tuple[str, str, str, str, str, str | None, str | None, float]


class Sealer(Protocol):
    def seal(self, label: str, secret: str) -> bytes: ...

    def unseal(self, label: str, blob: bytes) -> str: ...


class RuleStore(Protocol):
    @property
    def version(self) -> int:
        """Bumped by every change to rules or targets, by any process or node."""
        ...

    def close(self) -> None: ...

    # -- rules and targets
    def put_rule(self, rule: Rule) -> None:
        """Create, or replace all but the creation time of an existing rule."""
        ...

    def rule(self, account: str, region: str, name: str) -> Rule | None: ...

    def rules(self, account: str, region: str, prefix: str = "") -> list[Rule]: ...

    def all_rules(self) -> list[Rule]: ...

    def set_state(self, account: str, region: str, name: str, state: str) -> None: ...

    def delete_rule(self, account: str, region: str, name: str, arn: str) -> None: ...

    def targets(self, account: str, region: str, rule: str) -> list[dict[str, Any]]: ...

    def all_targets(self) -> dict[tuple[str, str, str], list[dict[str, Any]]]: ...

    def put_targets(self, account: str, region: str, rule: str,
                    targets: list[dict[str, Any]], limit: int | None = None) -> bool:
        """Add or replace targets by Id; False, nothing written, when the rule would then
        have more than `limit` targets (checked in the write's transaction, so two nodes
        adding at once cannot pass it together)."""
        ...

    def remove_targets(self, account: str, region: str, rule: str, ids: list[str]) -> None: ...

    # -- tags
    def tags(self, arn: str) -> dict[str, str]: ...

    def tag(self, arn: str, tags: dict[str, str]) -> None: ...

    def untag(self, arn: str, keys: list[str]) -> None: ...

    # -- connections and API destinations
    def save_connection(self, conn: Connection, secrets: dict[str, Any]) -> None:
        """Insert or replace; `secrets` is sealed, bound to the connection's ARN."""
        ...

    def connection(self, account: str, region: str, name: str) -> Connection | None: ...

    def connections(self, account: str, region: str, prefix: str = "") -> list[Connection]: ...

    def secrets(self, conn: Connection) -> dict[str, Any]: ...

    def delete_connection(self, account: str, region: str, name: str) -> None: ...

    def save_destination(self, dest: ApiDestination) -> None: ...

    def destination(self, account: str, region: str, name: str) -> ApiDestination | None: ...

    def destinations(self, account: str, region: str, prefix: str = "",
                     connection_arn: str | None = None) -> list[ApiDestination]: ...

    def delete_destination(self, account: str, region: str, name: str) -> None: ...

    # -- the engine's cursor and the outbox
    def cursor_or_none(self) -> int | None:
        """The engine's ledger cursor; None before its first run."""
        ...

    def enqueue(self, cursor: int, deliveries: list[Delivery]) -> None:
        """Add deliveries and set the cursor, in one transaction (unguarded)."""
        ...

    def advance(self, expected: int | None, cursor: int, deliveries: list[Delivery]) -> bool:
        """Add deliveries and move the cursor from `expected` (None: no cursor yet) to
        `cursor`, in one transaction; False, and nothing written, when the stored cursor
        is not `expected` (another engine moved it)."""
        ...

    def fence(self) -> int:
        """Start a new sender term: `due` hands out nothing to the older ones."""
        ...

    def due(self, now: float, limit: int, exclude: Collection[int] = (),
            term: int | None = None) -> list[Delivery]:
        """Pending deliveries due by `now`, oldest first, but those in `exclude` (the
        sender's in-flight ones); none when `term` is given and is not the latest."""
        ...

    def next_due(self) -> float | None: ...

    def delivered(self, ids: list[int], receipts: Iterable[Receipt] = ()) -> None:
        """Out of the outbox, their receipts in, in one transaction."""
        ...

    def receipts(self, limit: int) -> list[tuple[Any, ...]]:
        """Receipts not yet published, oldest first: (id, account, region, rule, target,
        kind, event_id, event_name, delivered)."""
        ...

    def drop_receipts(self, through: int) -> None:
        """Receipts up to id `through` are in the ledger."""
        ...

    def retry(self, delivery_id: int, attempts: int, next_try: float, error: str) -> None: ...

    def dead(self, delivery_id: int, attempts: int, error: str) -> None: ...

    def dead_letters(self, account: str | None, limit: int = 200) -> list[Delivery]: ...

    def pending(self) -> int: ...
