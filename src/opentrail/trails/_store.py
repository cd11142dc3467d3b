"""TrailStore: the trails of every account, kept in DATA_DIR/trails.db.

Configuration and status are separate columns so that delivery's `set_status` and the
API's `update` never overwrite each other's fields. Every change runs in one
`BEGIN IMMEDIATE` transaction, so the 5-trails rule and name uniqueness hold even with
another process writing the same file.
"""

from __future__ import annotations

import dataclasses
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from opentrail.errors import MaximumNumberOfTrailsExceeded, TrailAlreadyExists, TrailNotFound
from opentrail.trails import _buckets
from opentrail.trails._model import Trail, TrailStatus
from opentrail.trails._names import TrailRef, parse_trail_ref

__all__ = ["MAX_TRAILS_PER_REGION", "TrailStore", "trail_arn"]

MAX_TRAILS_PER_REGION = 5

SCHEMA = """
CREATE TABLE IF NOT EXISTS trails (
    arn TEXT PRIMARY KEY,
    account TEXT NOT NULL,
    home_region TEXT NOT NULL,
    name TEXT NOT NULL,
    multi_region INTEGER NOT NULL,
    config BLOB NOT NULL,
    status BLOB NOT NULL,
    UNIQUE (account, home_region, name)
);
CREATE INDEX IF NOT EXISTS trails_by_account ON trails (account, name);
"""

Trails = list[Trail]  # `TrailStore.list` hides the builtin inside the class body
_CONFIG_FIELDS = tuple(f.name for f in dataclasses.fields(Trail) if f.name != "status")
_STATUS_FIELDS = frozenset(f.name for f in dataclasses.fields(TrailStatus))


def trail_arn(account: str, region: str, name: str) -> str:
    return f"arn:aws:cloudtrail:{region}:{account}:trail/{name}"


def not_found(arn: str, account: str) -> TrailNotFound:
    """CloudTrail's TrailNotFoundException; most operations name the trail by its ARN in
    the caller's region (GetTrail names it as the caller gave it: see api/_trails.py)."""
    return TrailNotFound(f"Unknown trail: {arn} for the user: {account}")


class TrailStore:
    """Trails by account; a name resolves among the trails visible in a region."""

    def __init__(self, data_dir: Path, *, own_buckets: bool = False) -> None:
        """`own_buckets`: a bucket belongs to the first account whose trail uses it
        (folder mode, trails/_buckets.py); off where the storage enforces its own
        policy (S3)."""
        data_dir.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(data_dir / "trails.db", isolation_level=None,
                                     check_same_thread=False, timeout=30)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")  # configuration must survive a crash
        self._conn.executescript(SCHEMA + _buckets.SCHEMA)
        self._lock = threading.RLock()
        self._own_buckets = own_buckets
        if own_buckets:
            with self._write() as conn:
                _buckets.backfill_owners(conn, self._select("1", ()))

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            self._conn.execute("BEGIN IMMEDIATE")
            try:
                yield self._conn
            except BaseException:
                self._conn.execute("ROLLBACK")
                raise
            self._conn.execute("COMMIT")

    def _select(self, where: str, args: tuple[Any, ...]) -> Trails:
        with self._lock:
            rows = self._conn.execute(
                f"SELECT config, status FROM trails WHERE {where} ORDER BY name, home_region",
                args).fetchall()
        return [_load(config, status) for config, status in rows]

    # -- reads ---------------------------------------------------------------------------

    def list(self, account: str | None = None) -> Trails:
        """Every trail of `account` in every region; of every account when None."""
        if account is None:
            return self._select("1", ())
        return self._select("account = ?", (account,))

    def visible(self, account: str, region: str) -> Trails:
        """Trails that log `region`: its own, plus multi-region trails homed elsewhere."""
        return self._select("account = ? AND (home_region = ? OR multi_region = 1)",
                            (account, region))

    def find(self, account: str, region: str, name_or_arn: str | TrailRef) -> Trail | None:
        ref = _ref(name_or_arn)
        if ref.is_arn:
            if ref.account != account:
                return None
            found = self._select("arn = ?", (trail_arn(account, str(ref.region), ref.name),))
        else:
            found = [t for t in self.visible(account, region) if t.name == ref.name]
        return found[0] if found else None

    def get(self, account: str, region: str, name_or_arn: str | TrailRef) -> Trail:
        trail = self.find(account, region, name_or_arn)
        if trail is None:
            ref = _ref(name_or_arn)
            arn = trail_arn(ref.account or account, ref.region or region, ref.name)
            raise not_found(arn, account)
        return trail

    # -- writes --------------------------------------------------------------------------

    def create(self, trail: Trail) -> Trail:
        """Store a new trail, enforcing unique names and 5 trails per region."""
        with self._write() as conn:
            others = self._account_trails(conn, trail.account)
            _check_name_free(trail, others)
            _check_limit(trail, others)
            self._claim(conn, trail)
            conn.execute(
                "INSERT INTO trails (arn, account, home_region, name, multi_region, config, "
                "status) VALUES (?,?,?,?,?,?,?)",
                (trail.arn, trail.account, trail.home_region, trail.name,
                 int(trail.is_multi_region_trail), _config(trail),
                 orjson.dumps(dataclasses.asdict(trail.status))))
        return trail

    def update(self, trail: Trail) -> Trail:
        """Replace a trail's configuration; its status is left to `set_status`."""
        with self._write() as conn:
            return self._save(conn, trail)

    def modify(self, account: str, region: str, name_or_arn: str | TrailRef,
               change: Callable[[Trail], None]) -> Trail:
        """Read, change and save a trail in one transaction, so concurrent changes (AddTags
        beside PutEventSelectors) never overwrite each other. `change` may raise to abort."""
        with self._write() as conn:
            trail = self.get(account, region, name_or_arn)
            change(trail)
            return self._save(conn, trail)

    def _save(self, conn: sqlite3.Connection, trail: Trail) -> Trail:
        others: Trails = [t for t in self._account_trails(conn, trail.account)
                          if t.arn != trail.arn]
        _check_name_free(trail, others)
        _check_limit(trail, others)
        if self._bucket_of(conn, trail.arn) != trail.s3_bucket_name:
            self._claim(conn, trail)
        cursor = conn.execute(
            "UPDATE trails SET multi_region = ?, config = ? WHERE arn = ?",
            (int(trail.is_multi_region_trail), _config(trail), trail.arn))
        if cursor.rowcount == 0:
            raise not_found(trail.arn, trail.account)
        row = conn.execute("SELECT status FROM trails WHERE arn = ?", (trail.arn,)).fetchone()
        trail.status = TrailStatus(**_known(orjson.loads(row[0]), _STATUS_FIELDS))
        return trail

    def _claim(self, conn: sqlite3.Connection, trail: Trail) -> None:
        """The trail's account must own its bucket (claimed now if nobody does)."""
        if self._own_buckets and trail.s3_bucket_name:
            _buckets.claim_bucket(conn, trail.s3_bucket_name, trail.account)

    def _bucket_of(self, conn: sqlite3.Connection, arn: str) -> str | None:
        """The bucket a stored trail uses (a trail that shared a bucket before owners
        were recorded may keep it, but not move to another account's)."""
        row = conn.execute("SELECT config FROM trails WHERE arn = ?", (arn,)).fetchone()
        return None if row is None else str(orjson.loads(row[0]).get("s3_bucket_name"))

    def delete(self, account: str, region: str, name_or_arn: str | TrailRef) -> Trail:
        trail = self.get(account, region, name_or_arn)
        with self._write() as conn:
            conn.execute("DELETE FROM trails WHERE arn = ?", (trail.arn,))
        return trail

    def set_status(self, arn: str, **fields: Any) -> TrailStatus:
        """Merge `fields` (TrailStatus attribute names) into the trail's status."""
        unknown = set(fields) - _STATUS_FIELDS
        if unknown:
            raise TypeError(f"TrailStatus has no field(s) {sorted(unknown)}")
        with self._write() as conn:
            row = conn.execute("SELECT status, account FROM trails WHERE arn = ?",
                               (arn,)).fetchone()
            if row is None:
                raise not_found(arn, arn.split(":")[4] if arn.count(":") >= 5 else "")
            status = TrailStatus(**_known(orjson.loads(row[0]), _STATUS_FIELDS))
            status = dataclasses.replace(status, **fields)
            conn.execute("UPDATE trails SET status = ? WHERE arn = ?",
                         (orjson.dumps(dataclasses.asdict(status)), arn))
        return status

    def _account_trails(self, conn: sqlite3.Connection, account: str) -> Trails:
        rows = conn.execute("SELECT config, status FROM trails WHERE account = ?",
                            (account,)).fetchall()
        return [_load(config, status) for config, status in rows]


def _ref(name_or_arn: str | TrailRef) -> TrailRef:
    return name_or_arn if isinstance(name_or_arn, TrailRef) else parse_trail_ref(name_or_arn)


def _overlap(a: Trail, b: Trail) -> bool:
    return a.is_multi_region_trail or b.is_multi_region_trail or a.home_region == b.home_region


def _check_name_free(trail: Trail, others: list[Trail]) -> None:
    for other in others:
        if other.name == trail.name and _overlap(trail, other):
            raise TrailAlreadyExists(
                f"Trail {trail.name} already exists for customer: {trail.account}")


def _check_limit(trail: Trail, others: list[Trail]) -> None:
    """A multi-region trail counts in every region, so it must fit in all of them."""
    regions = {trail.home_region}
    if trail.is_multi_region_trail:
        regions |= {t.home_region for t in others}
    for region in sorted(regions):
        used = sum(1 for t in others if t.covers_region(region))
        if used >= MAX_TRAILS_PER_REGION:
            raise MaximumNumberOfTrailsExceeded(
                f"User: {trail.account} already has {used} trails in {region}.")


def _config(trail: Trail) -> bytes:
    return orjson.dumps({name: getattr(trail, name) for name in _CONFIG_FIELDS})


def _known(data: dict[str, Any], names: frozenset[str] | tuple[str, ...]) -> dict[str, Any]:
    """Drop keys a newer version wrote and this one does not know."""
    return {k: v for k, v in data.items() if k in names}


def _load(config: bytes, status: bytes) -> Trail:
    trail = Trail(**_known(orjson.loads(config), _CONFIG_FIELDS))
    trail.status = TrailStatus(**_known(orjson.loads(status), _STATUS_FIELDS))
    return trail
