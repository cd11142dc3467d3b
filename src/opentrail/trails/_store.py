"""TrailStore: the trails of every account, in the backend's `TrailRows` (trails/_rows.py).

Configuration and status are separate columns so that delivery's `set_status` and the
API's `update` never overwrite each other's fields. Every change runs in one write
transaction, serialised against every other trail write (SQLite's `BEGIN IMMEDIATE`,
a transaction-scoped advisory lock in PostgreSQL), so the 5-trails rule and name
uniqueness hold with other processes or nodes writing too. Given a data dir instead of
rows, the store keeps its trails in DATA_DIR/trails.db (the embedded default).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from opentrail.errors import MaximumNumberOfTrailsExceeded, TrailAlreadyExists, TrailNotFound
from opentrail.trails import _buckets
from opentrail.trails._model import Trail, TrailStatus
from opentrail.trails._names import TrailRef, parse_trail_ref
from opentrail.trails._rows import TrailRow, TrailRows, TrailTx

__all__ = ["MAX_TRAILS_PER_REGION", "TrailStore", "trail_arn"]

MAX_TRAILS_PER_REGION = 5

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

    def __init__(self, rows: TrailRows | Path, *, own_buckets: bool = False) -> None:
        """`own_buckets`: a bucket belongs to the first account whose trail uses it
        (folder mode, trails/_buckets.py); off where the storage enforces its own
        policy (S3)."""
        if isinstance(rows, Path):
            from opentrail.backends.sqlite import SqliteTrailRows

            rows = SqliteTrailRows(rows)
        self._rows = rows
        self._own_buckets = own_buckets
        if own_buckets:
            with self._rows.write() as tx:
                _buckets.backfill_owners(tx, _loaded(tx.select_all()))

    def close(self) -> None:
        self._rows.close()

    # -- reads ---------------------------------------------------------------------------

    def list(self, account: str | None = None) -> Trails:
        """Every trail of `account` in every region; of every account when None."""
        with self._rows.read() as tx:
            return _loaded(tx.select_all() if account is None else tx.select_account(account))

    def visible(self, account: str, region: str) -> Trails:
        """Trails that log `region`: its own, plus multi-region trails homed elsewhere."""
        with self._rows.read() as tx:
            return _loaded(tx.select_visible(account, region))

    def find(self, account: str, region: str, name_or_arn: str | TrailRef) -> Trail | None:
        ref = _ref(name_or_arn)
        if ref.is_arn:
            if ref.account != account:
                return None
            with self._rows.read() as tx:
                found = _loaded(tx.select_arn(trail_arn(account, str(ref.region), ref.name)))
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
        with self._rows.write() as tx:
            others = _loaded(tx.select_account(trail.account))
            _check_name_free(trail, others)
            _check_limit(trail, others)
            self._claim(tx, trail)
            tx.insert(TrailRow(trail.arn, trail.account, trail.home_region, trail.name,
                               trail.is_multi_region_trail, _config(trail),
                               orjson.dumps(dataclasses.asdict(trail.status))))
        return trail

    def update(self, trail: Trail) -> Trail:
        """Replace a trail's configuration; its status is left to `set_status`."""
        with self._rows.write() as tx:
            return self._save(tx, trail)

    def modify(self, account: str, region: str, name_or_arn: str | TrailRef,
               change: Callable[[Trail], None]) -> Trail:
        """Read, change and save a trail in one transaction, so concurrent changes (AddTags
        beside PutEventSelectors) never overwrite each other. `change` may raise to abort."""
        with self._rows.write() as tx:
            trail = self.get(account, region, name_or_arn)
            change(trail)
            return self._save(tx, trail)

    def _save(self, tx: TrailTx, trail: Trail) -> Trail:
        others: Trails = [t for t in _loaded(tx.select_account(trail.account))
                          if t.arn != trail.arn]
        _check_name_free(trail, others)
        _check_limit(trail, others)
        if _bucket_of(tx, trail.arn) != trail.s3_bucket_name:
            self._claim(tx, trail)
        if not tx.update_config(trail.arn, trail.is_multi_region_trail, _config(trail)):
            raise not_found(trail.arn, trail.account)
        status = tx.status(trail.arn)
        assert status is not None  # updated just now, in this transaction
        trail.status = TrailStatus(**_known(orjson.loads(status), _STATUS_FIELDS))
        return trail

    def _claim(self, tx: TrailTx, trail: Trail) -> None:
        """The trail's account must own its bucket (claimed now if nobody does)."""
        if self._own_buckets and trail.s3_bucket_name:
            _buckets.claim_bucket(tx, trail.s3_bucket_name, trail.account)

    def delete(self, account: str, region: str, name_or_arn: str | TrailRef) -> Trail:
        trail = self.get(account, region, name_or_arn)
        with self._rows.write() as tx:
            tx.delete(trail.arn)
        return trail

    def set_status(self, arn: str, **fields: Any) -> TrailStatus:
        """Merge `fields` (TrailStatus attribute names) into the trail's status."""
        unknown = set(fields) - _STATUS_FIELDS
        if unknown:
            raise TypeError(f"TrailStatus has no field(s) {sorted(unknown)}")
        with self._rows.write() as tx:
            stored = tx.status(arn)
            if stored is None:
                raise not_found(arn, arn.split(":")[4] if arn.count(":") >= 5 else "")
            status = TrailStatus(**_known(orjson.loads(stored), _STATUS_FIELDS))
            status = dataclasses.replace(status, **fields)
            tx.set_status(arn, orjson.dumps(dataclasses.asdict(status)))
        return status


def _bucket_of(tx: TrailTx, arn: str) -> str | None:
    """The bucket a stored trail uses (a trail that shared a bucket before owners
    were recorded may keep it, but not move to another account's)."""
    config = tx.config(arn)
    return None if config is None else str(orjson.loads(config).get("s3_bucket_name"))


def _loaded(rows: list[tuple[bytes, bytes]]) -> Trails:
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
