"""Units of the compliance package: the health recorder's records and rates, the clock
check's pass and fail rules, the catalog's profiles, and the internal-record contract."""

from __future__ import annotations

import json
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from opentrail.backends.sqlite import FolderSigningKeyRows
from opentrail.compliance import STATUS_EVERY, ClockState, HealthRecorder
from opentrail.compliance._catalog import CHECKS, PROFILES, profile_named
from opentrail.compliance._checks_health import ot18, ot22
from opentrail.compliance._evidence import Evidence
from opentrail.compliance._health import SETTINGS_SNAPSHOT
from opentrail.compliance._result import CheckResult, Period
from opentrail.errors import InvalidRecord
from opentrail.events import (
    Category,
    Record,
    check_unclaimed,
    internal_record,
    is_internal,
    parse_record,
)
from opentrail.trails import Trail, TrailStore

T0 = datetime(2026, 12, 1, 0, 0, tzinfo=UTC)


class FakeClock:
    def __init__(self) -> None:
        self.t = T0.timestamp()

    def now(self) -> float:
        return self.t


class Collecting:
    """The ledger writer's submit: records kept, acknowledged at once."""

    def __init__(self) -> None:
        self.records: list[Record] = []

    def submit(self, records: list[Record]) -> Future[None]:
        self.records.extend(records)
        done: Future[None] = Future()
        done.set_result(None)
        return done


def _names(writer: Collecting) -> list[str]:
    return [json.loads(r.body)["eventName"] for r in writer.records]


def test_health_recorder_samples_clock_status_and_delivery_errors(tmp_path: Path) -> None:
    store = TrailStore(tmp_path)
    trail = store.create(Trail("main", "123456789012", "us-east-1", "bucket",
                               log_file_validation_enabled=True))
    writer, clock = Collecting(), FakeClock()
    recorder = HealthRecorder(writer, clock, store, account="000000000000",  # type: ignore[arg-type]
                              region="us-east-1", interval=300,
                              clock_state=lambda: ClockState(True, 0.01, 0.002, "test"))
    recorder.sample()
    assert _names(writer) == ["ClockSample", "ClockSample", "TrailStatusSample"]
    assert {r.account for r in writer.records} == {"000000000000", "123456789012"}
    assert all(r.category == Category.INTERNAL for r in writer.records)
    writer.records.clear()
    recorder.sample()  # nothing changed, not the hourly look: clock samples only
    assert _names(writer) == ["ClockSample", "ClockSample"]
    writer.records.clear()
    store.set_status(trail.arn, is_logging=True, latest_delivery_error="AccessDenied")
    recorder.sample()
    assert _names(writer) == ["ClockSample", "ClockSample", "TrailStatusSample",
                              "DeliveryError"]
    writer.records.clear()
    store.set_status(trail.arn, latest_delivery_error=None)
    recorder.sample()
    assert _names(writer)[-1] == "DeliveryRecovered"
    writer.records.clear()
    for _ in range(STATUS_EVERY - 3):
        recorder.sample()
    assert "TrailStatusSample" in _names(writer)  # the hourly look
    store.close()


def test_internal_records_cannot_be_ingested() -> None:
    record = internal_record("ClockSample", "123456789012", "us-east-1", {"synchronized": True})
    assert is_internal(record)
    assert parse_record(record, default_account="1", default_region="x").category \
        == Category.INTERNAL
    with pytest.raises(InvalidRecord):  # what the batch ingest API runs on every record
        check_unclaimed(record)
    without = {k: v for k, v in record.items() if k != "opentrailOrigin"}
    assert parse_record(without, default_account="1", default_region="x").category \
        == Category.MANAGEMENT


class NoRules:
    def list_rules(self) -> dict[str, Any]:
        return {"Rules": []}


class NoSource:
    endpoint = "http://127.0.0.1:8420"
    region = "us-east-1"

    def events_client(self) -> NoRules:
        return NoRules()


def _evidence(samples: list[dict[str, Any]]) -> Evidence:
    period = Period(T0, T0 + timedelta(hours=1))
    return Evidence(NoSource(), profile_named("pci-dss-4"), period,  # type: ignore[arg-type]
                    {"healthSampleInterval": 300}, [], {}, [], samples, [], [], {})


def _clock(minute: int, synced: bool, error: float) -> dict[str, Any]:
    return internal_record("ClockSample", "123456789012", "us-east-1",
                           {"synchronized": synced, "maxErrorSeconds": error},
                           now=(T0 + timedelta(minutes=minute)).timestamp())


def test_ot18_passes_on_synchronised_samples_every_five_minutes() -> None:
    result = ot18(_evidence([_clock(m, True, 0.05) for m in range(0, 60, 5)]))
    assert result.result == "PASS", result.reason
    assert result.counts["samples"] == 12


@pytest.mark.parametrize(("samples", "why"), [
    ([_clock(m, False, 16.0) for m in range(0, 60, 5)], "synchronised in 0.0%"),
    ([_clock(m, True, 2.5) for m in range(0, 60, 5)], "maximum clock error reached 2.5"),
    ([_clock(0, True, 0.01)], "1 clock samples where 12 were due"),
])
def test_ot18_fails(samples: list[dict[str, Any]], why: str) -> None:
    result = ot18(_evidence(samples))
    assert result.result == "FAIL"
    assert why in result.reason


def test_catalog_has_the_22_checks_and_profiles_pick_their_clauses() -> None:
    assert [c.id for c in CHECKS] == [f"OT-{n:02d}" for n in range(1, 23)]
    assert len(PROFILES["all"].checks()) == 22
    assert {c.id for c in PROFILES["soc2"].checks()} == {"OT-01", "OT-06", "OT-09", "OT-19",
                                                        "OT-20", "OT-22"}
    assert PROFILES["hipaa"].retention_days == 6 * 365
    with pytest.raises(ValueError, match="Unknown profile"):
        profile_named("pci")
    with pytest.raises(ValueError):
        CheckResult("OT-01", "OK", "not a result")


def test_setting_changes_never_record_a_secret(tmp_path: Path) -> None:
    """URLs that carry credentials are recorded without them (ledger and snapshot)."""
    writer = Collecting()
    recorder = HealthRecorder(writer, FakeClock(), TrailStore(tmp_path),  # type: ignore[arg-type]
                              account="000000000000", region="us-east-1", interval=300,
                              clock_state=lambda: ClockState(None, None, None, "test"))
    recorder.record_settings([("smtp_url", ""), ("spark_remote", "")], tmp_path)
    assert recorder.record_settings([
        ("smtp_url", "smtp://alerts:hunter2@mail.example:587"),
        ("spark_remote", "sc://spark.example:15002/;token=s3cr3t;user_id=ops"),
        ("database_url", "postgresql://ot:pa55@db/ot?sslpassword=k3y")], tmp_path) == 3
    written = b"".join(r.body for r in writer.records) + (tmp_path / SETTINGS_SNAPSHOT
                                                          ).read_bytes()
    for secret in (b"hunter2", b"s3cr3t", b"pa55", b"k3y"):
        assert secret not in written
    assert b"smtp://alerts:***@mail.example:587" in written
    assert b";token=***;user_id=ops" in written


def test_setting_changes_and_new_signing_keys_are_recorded(tmp_path: Path) -> None:
    store = TrailStore(tmp_path)
    store.create(Trail("main", "123456789012", "us-east-1", "bucket"))
    keys = tmp_path / "signing-keys"
    writer, clock = Collecting(), FakeClock()
    recorder = HealthRecorder(writer, clock, store, account="000000000000",  # type: ignore[arg-type]
                              region="us-east-1", interval=300,
                              signing_keys=FolderSigningKeyRows(keys).listed,
                              clock_state=lambda: ClockState(None, None, None, "test"))
    assert recorder.record_settings([("history_retention_days", 90)], tmp_path) == 0
    assert recorder.record_settings([("history_retention_days", 30)], tmp_path,
                                    ["123456789012"]) == 2
    details = [json.loads(r.body)["serviceEventDetails"] for r in writer.records]
    assert details[0] == {"setting": "history_retention_days", "old": 90, "new": 30}
    writer.records.clear()
    recorder.sample()  # no key folder yet: the first key to appear is news
    (keys / "us-east-1").mkdir(parents=True)
    pem = keys / "us-east-1" / "001764547200-0123456789abcdef0123456789abcdef.pem"
    pem.write_text("key")
    pem.chmod(0o600)
    writer.records.clear()
    recorder.sample()
    rotated = [json.loads(r.body) for r in writer.records
               if json.loads(r.body)["eventName"] == "KeyRotated"]
    assert len(rotated) == 2  # the organization account and the trail's
    assert rotated[0]["serviceEventDetails"] == {
        "region": "us-east-1", "fingerprint": "0123456789abcdef0123456789abcdef",
        "validFrom": "2025-12-01T00:00:00Z", "fileMode": "0o600"}
    writer.records.clear()
    recorder.sample()
    assert "KeyRotated" not in _names(writer)
    # Another node seeing the same new key records the same eventIDs: the ledger keeps one.
    other = HealthRecorder(writer, clock, store, account="000000000000",  # type: ignore[arg-type]
                           region="us-east-1", interval=300, signing_keys=lambda: [],
                           clock_state=lambda: ClockState(None, None, None, "test"))
    other.sample()
    other._signing_keys = FolderSigningKeyRows(keys).listed
    writer.records.clear()
    other.sample()
    assert sorted(json.loads(r.body)["eventID"] for r in writer.records
                  if json.loads(r.body)["eventName"] == "KeyRotated") == sorted(
        r["eventID"] for r in rotated)
    store.close()


def test_public_face_is_pinned() -> None:
    from opentrail import compliance

    assert sorted(compliance.__all__) == ["BackgroundVerifier", "ClockState",
                                          "HealthRecorder", "STATUS_EVERY",
                                          "manifest_note_text", "read_clock_state"]


def _run(minute: int, result: str) -> dict[str, Any]:
    return internal_record("VerifierRun", "123456789012", "us-east-1",
                           {"trailARN": "arn:aws:cloudtrail:us-east-1:123456789012:trail/t",
                            "result": result, "ledger": {"result": "PASS"}},
                           now=(T0 + timedelta(minutes=minute)).timestamp())


def test_ot22_passes_on_hourly_passing_runs_and_fails_on_a_failed_or_missing_one() -> None:
    assert ot22(_evidence([_run(10, "PASS")])).result == "PASS"
    failed = ot22(_evidence([_run(10, "PASS"), _run(40, "FAIL")]))
    assert failed.result == "FAIL" and "found problems, first at 2026-12-01T00:40:00Z" \
        in failed.reason
    period = Period(T0, T0 + timedelta(hours=2))
    evidence = _evidence([_run(10, "PASS")])
    evidence.period = period
    missed = ot22(evidence)
    assert missed.result == "FAIL" and "1 of 2 hour(s)" in missed.reason


def test_object_lock_facts_from_a_storage_that_reports_them() -> None:
    """The system description's objectLock, from a storage with `lock_config` (the WORM
    storage's seam); a storage without it reports none (OT-14: not evidenced)."""
    from types import SimpleNamespace

    from opentrail.api._compliance import object_lock
    from opentrail.compliance._checks_storage import _lock_result

    configs = {"a": SimpleNamespace(enabled=True, mode="COMPLIANCE", days=400, years=None),
               "b": SimpleNamespace(enabled=True, mode="GOVERNANCE", days=None, years=2)}
    trails = [SimpleNamespace(s3_bucket_name=name) for name in configs]
    ctx = SimpleNamespace(principal=SimpleNamespace(account="123456789012"))
    service = SimpleNamespace(
        trail_storage=SimpleNamespace(lock_config=configs.__getitem__),
        settings=SimpleNamespace(object_lock_mode="", object_lock_days=0),
        trails=SimpleNamespace(list=lambda account: trails))
    facts = object_lock(service, ctx)  # type: ignore[arg-type]
    assert facts is not None
    assert (facts["enabled"], facts["mode"], facts["days"]) == (True, "GOVERNANCE", 400)
    assert _lock_result(facts, 365)[0] == "WARN"
    service.settings = SimpleNamespace(object_lock_mode="COMPLIANCE", object_lock_days=365)
    facts = object_lock(service, ctx)  # type: ignore[arg-type]
    assert facts is not None and _lock_result(facts, 365)[0] == "PASS"
    assert _lock_result(facts, 6 * 365)[0] == "FAIL"
    assert _lock_result({**facts, "enabled": False}, 365)[0] == "FAIL"
    service.trail_storage = SimpleNamespace()
    assert object_lock(service, ctx) is None  # type: ignore[arg-type]


class SigmaSource(NoSource):
    """One Sigma rule loaded, no findings."""

    def operation(self, name: str, params: dict[str, Any]) -> dict[str, Any]:
        return {"ListSigmaRules": {"Rules": [{"id": "r1"}]},
                "ListSigmaFindings": {"Findings": []}}[name]


def _detector_run(hours: float, running: bool = True) -> dict[str, Any]:
    return internal_record("DetectorRun", "123456789012", "us-east-1",
                           {"detector": "sigma", "rules": 1, "running": running},
                           now=(T0 + timedelta(hours=hours)).timestamp())


def test_ot19_needs_a_running_detector_every_utc_day() -> None:
    from opentrail.compliance._checks_review import ot19

    def judged(runs: list[dict[str, Any]]) -> CheckResult:
        evidence = _evidence(runs)
        evidence.source = SigmaSource()  # type: ignore[assignment]
        evidence.period = Period(T0, T0 + timedelta(days=3))
        return ot19(evidence)

    daily = judged([_detector_run(h) for h in (5, 30, 60)])
    assert daily.result == "PASS", daily.reason
    assert daily.counts["detectorRuns"] == 3 and daily.counts["daysWithoutRun"] == 0
    gap = judged([_detector_run(5), _detector_run(30, running=False), _detector_run(60)])
    assert gap.result == "FAIL" and "1 UTC day(s)" in gap.reason
    assert "first 2026-12-02" in gap.reason
    # A run in the hour before the period attests its first day; none at all fails.
    early = judged([_detector_run(-0.5), _detector_run(30), _detector_run(60)])
    assert early.result == "PASS", early.reason
    assert judged([]).result == "FAIL"


def test_health_recorder_records_detector_runs_hourly(tmp_path: Path) -> None:
    store = TrailStore(tmp_path)
    writer, clock = Collecting(), FakeClock()
    recorder = HealthRecorder(writer, clock, store, account="000000000000",  # type: ignore[arg-type]
                              region="us-east-1", interval=300,
                              clock_state=lambda: ClockState(True, 0.01, 0.002, "test"),
                              detectors=lambda: [{"detector": "sigma", "running": True}])
    for _ in range(STATUS_EVERY + 1):
        recorder.sample()
    runs = [json.loads(r.body) for r in writer.records
            if json.loads(r.body)["eventName"] == "DetectorRun"]
    assert len(runs) == 2  # the first look and the hourly one
    assert runs[0]["serviceEventDetails"] == {"detector": "sigma", "running": True}
    store.close()


class DigestSource(NoSource):
    """A delivery record of digests; `session` for the (fake) validator."""

    session = None

    def __init__(self, deliveries: list[datetime]) -> None:
        self.objects = [{"Kind": "digest", "Bucket": "b", "DeliveryTime": d.timestamp(),
                         "Key": f"AWSLogs/1/CloudTrail-Digest/x_{d:%Y%m%dT%H%M%SZ}.json.gz"}
                        for d in deliveries]

    def trail_objects(self, arn: str, start: Any, end: datetime, kind: str | None = None
                      ) -> dict[str, Any]:
        assert start is None and kind == "digest"  # from the first object, digests only
        return {"Objects": [o for o in self.objects if o["DeliveryTime"] < end.timestamp()]}


def _retention(deliveries: list[datetime], invalid: set[str] = frozenset()  # type: ignore[assignment]
               ) -> tuple[CheckResult, list[str]]:
    from opentrail.compliance import _retention_sample
    from opentrail.compliance._checks_storage import ot17
    from opentrail.compliance._validation import TrailValidation

    validated: list[str] = []

    def validate(arn: str, start: datetime, end: datetime, options: dict[str, Any],
                 session: Any) -> TrailValidation:
        stamp = f"{end:%Y%m%dT%H%M%SZ}"
        key = next(o["Key"] for o in source.objects if stamp in o["Key"])
        validated.append(key)
        return TrailValidation(arn, f"opentrail validate-logs ... {stamp}", digests=[{
            "key": key, "invalid": 1 if stamp in invalid else 0}], logs=[])

    source = DigestSource(deliveries)
    evidence = _evidence([])
    evidence.source = source  # type: ignore[assignment]
    evidence.system = {"trailStorage": "s3", "digestInterval": 3600}
    evidence.trails = [{"TrailARN": "arn:t", "LogFileValidationEnabled": True}]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(_retention_sample, "validate_trail", validate)
        return ot17(evidence), validated


def _daily(days: int) -> list[datetime]:
    """A digest a day at 00:30 for `days` days before T0 (the period ends at T0 + 1 h)."""
    return [T0 - timedelta(days=d) + timedelta(minutes=30) for d in range(days, 0, -1)]


def test_ot17_samples_months_4_to_12_and_fails_on_a_bad_or_missing_month() -> None:
    from opentrail.compliance._retention_sample import minus_months

    assert minus_months(datetime(2026, 3, 31, tzinfo=UTC), 1) == datetime(2026, 2, 28,
                                                                          tzinfo=UTC)
    result, validated = _retention(_daily(400))  # live 13 months: months 4-12 sampled
    assert result.result == "PASS", result.reason
    assert result.counts["monthsSampled"] == 9 and result.counts["digestsValidated"] == 27
    assert len(set(validated)) == 27
    months = [r for r in result.rows if r.get("state") == "sampled"]
    assert [r["month"] for r in months] == list(range(4, 13))
    # Month 4 is [2026-08-01T01:00Z, 2026-09-01T01:00Z): its first, middle, last digests.
    assert [s["deliveredAt"] for s in months[0]["samples"]] == [
        "2026-08-02T00:30:00Z", "2026-08-17T00:30:00Z", "2026-09-01T00:30:00Z"]

    bad, _ = _retention(_daily(400), invalid={"20260817T003000Z"})
    assert bad.result == "FAIL" and "month 4" in bad.reason and "INVALID" in bad.reason

    month_6 = (datetime(2026, 6, 1, 1, tzinfo=UTC), datetime(2026, 7, 1, 1, tzinfo=UTC))
    gap = [d for d in _daily(400) if not month_6[0] <= d < month_6[1]]
    missing, _ = _retention(gap)
    assert missing.result == "FAIL" and "no digest delivered in month 6" in missing.reason

    young, _ = _retention(_daily(150))  # live 5 months: months 4-5 sampled, the rest N/A
    assert young.result == "PASS" and young.counts["monthsSampled"] == 2
    assert sum(1 for r in young.rows if r.get("state") == "before go-live") == 7
    new, checked = _retention(_daily(40))
    assert new.result == "N/A" and checked == []


def test_digest_account_reads_the_organization_layout() -> None:
    from opentrail.compliance._accounts import digest_account

    key = ("AWSLogs/o-abc123def4/222222222222/CloudTrail-Digest/us-east-1/2026/12/01/"
           "222222222222_CloudTrail-Digest_us-east-1_org_us-east-1_20261201T010000Z.json.gz")
    assert digest_account(key, "o-abc123def4") == "222222222222"
    assert digest_account(f"team/audit/{key}", "o-abc123def4") == "222222222222"
    assert digest_account(key, "o-other00000") is None  # another organization's folder
    assert digest_account(key, None) is None  # a server without an organization
    plain = "AWSLogs/111111111111/CloudTrail-Digest/us-east-1/2026/12/01/x.json.gz"
    assert digest_account(plain, "o-abc123def4") is None
