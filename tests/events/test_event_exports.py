"""The public face of opentrail.events is exactly this (httpx's test_exported_members)."""

from __future__ import annotations

from opentrail import events


def test_all_is_pinned() -> None:
    assert sorted(events.__all__) == [
        "ACTIVITY_EVENT_VERSION",
        "Category",
        "INTERNAL_EVENT_NAMES",
        "INTERNAL_SOURCE",
        "MAX_BATCH_BYTES",
        "MAX_BATCH_RECORDS",
        "MAX_RECORD_BYTES",
        "ORIGIN_FIELD",
        "Owner",
        "ParserPool",
        "Prepared",
        "Record",
        "SERVER_ORIGIN",
        "canonical_bytes",
        "check_unclaimed",
        "internal_record",
        "is_internal",
        "is_server_made",
        "parse_record",
        "prepare_batch",
        "split_batch",
        "wrap_audit_event",
    ]


def test_every_exported_name_exists_and_is_public() -> None:
    for name in events.__all__:
        member = getattr(events, name)
        assert not name.startswith("_")
        if hasattr(member, "__module__") and callable(member):
            assert member.__module__.startswith("opentrail.events")


def test_contract_values() -> None:
    assert [(c.name, c.value) for c in events.Category] == [
        ("MANAGEMENT", 0), ("DATA", 1), ("INSIGHT", 2), ("INTERNAL", 3)]
    assert events.MAX_RECORD_BYTES == 262144
    assert events.MAX_BATCH_BYTES == 64 * 1024 * 1024
