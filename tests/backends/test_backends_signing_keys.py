"""Digest signing keys' contract, the same test body on SQLite (files) and PostgreSQL."""

from __future__ import annotations

import threading
from typing import Any

from opentrail.clock import ManualClock

DAY = 86400.0
START = 1_800_000_000.0


def test_one_key_per_window_shared_by_every_node(backends: Any) -> None:
    clock = ManualClock(START)
    one = backends.open().signing_keys(clock, 30)
    first = one.current("us-east-1")
    assert one.current("us-east-1").fingerprint == first.fingerprint
    assert first.valid_from == START and first.valid_until == START + 30 * DAY
    assert one.between("eu-west-1", 0, START * 2) == []  # no key until one signs
    clock.advance(31 * DAY)
    second = one.current("us-east-1")
    assert second.fingerprint != first.fingerprint
    two = backends.open().signing_keys(clock, 30)
    seen = two.between("us-east-1", START, START + 40 * DAY)
    assert [k.fingerprint for k in seen] == [first.fingerprint, second.fingerprint]
    assert seen[0].valid_until == second.valid_from == START + 31 * DAY
    assert two.current("us-east-1").fingerprint == second.fingerprint
    assert second.sign(b"digest") == two.current("us-east-1").sign(b"digest")


def test_nodes_rotating_at_once_make_one_key(backends: Any) -> None:
    clock = ManualClock(START)
    nodes = [backends.open().signing_keys(clock, 1) for _ in range(2)]
    nodes[0].current("us-east-1")
    clock.advance(2 * DAY)
    made: list[str] = []

    def sign(i: int) -> None:
        made.append(nodes[i % 2].current("us-east-1").fingerprint)

    threads = [threading.Thread(target=sign, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(made)) == 1
    assert len(nodes[0].between("us-east-1", 0, START * 2)) == 2


def test_every_node_lists_every_regions_keys_without_their_private_part(backends: Any) -> None:
    """What the health log watches for rotations (KeyRotated): files with their mode
    embedded, sealed rows (no file, no mode) on PostgreSQL."""
    clock = ManualClock(START)
    one = backends.open().signing_keys(clock, 30)
    made = [one.current(region) for region in ("us-east-1", "eu-west-1")]
    listed = backends.open().signing_keys(clock, 30).listed()
    assert sorted((k.region, k.valid_from, k.fingerprint) for k in listed) == sorted(
        (region, START, key.fingerprint) for region, key in zip(
            ("us-east-1", "eu-west-1"), made, strict=True))
    modes = {k.file_mode for k in listed}
    assert modes == ({"0o600"} if backends.kind == "sqlite" else {None})
