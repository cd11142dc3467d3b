"""Every sample in shared/datasets converts to a valid record or is reported with a reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import DATASETS
from opentrail import sources
from opentrail.events import parse_record
from opentrail.sources import FORMATS, ConversionError, Converted, Options, convert

NON_AWS = DATASETS / "non-aws"
SAMPLES: dict[str, list[Path]] = {
    "gcp": [NON_AWS / "GCP.AuditLog.json"],
    "azure": [NON_AWS / "Azure.MonitorActivity.json"],
    "entra": [NON_AWS / "Azure.Audit.json"],
    "k8s": [NON_AWS / "Amazon.EKS.Audit.json"],
    "auditd": sorted((DATASETS / "auditd").rglob("*.log")),
}


def test_the_public_face_is_pinned() -> None:
    assert set(sources.__all__) == {
        "DEFAULT_REGION", "FORMATS", "OCSF_VERSION", "BucketObject", "CloudTrailBucket",
        "Conversion", "ConversionError", "Converted", "DemoAccount", "DemoBurst", "Format",
        "Options", "burst_plan", "convert", "demo_batches", "generate", "to_ocsf",
        # SIEM exports of CloudTrail records (sources/_siem.py), for `opentrail import`
        "csv_records", "export_entries", "looks_like_csv", "restore",
        # one raw auditd line's fields, for Sigma's auditd rules (detect/_source.py)
        "parse_audit_line"}
    assert set(FORMATS) == set(SAMPLES)


@pytest.mark.parametrize("fmt", sorted(SAMPLES))
def test_every_sample_converts_to_a_valid_record_or_is_reported(fmt: str) -> None:
    converted = reported = 0
    for path in SAMPLES[fmt]:
        for result in convert(fmt, path.read_bytes(), Options(account="123456789012")):
            if isinstance(result, ConversionError):
                assert result.reason.endswith(".") and len(result.reason) > 20
                reported += 1
                continue
            assert isinstance(result, Converted)
            record = parse_record(result.record, default_account="1", default_region="x")
            assert record.account == "123456789012"
            assert result.record["eventVersion"] == "1.11"
            assert result.record["additionalEventData"]["sourceFormat"] == fmt
            converted += 1
    assert converted > 0
    if fmt in ("azure", "entra"):
        assert reported == 0  # these samples all carry what the mapping needs


def test_counts_per_format_are_what_the_samples_allow() -> None:
    """Every entry is accounted for: converted + reported == entries in the file."""
    counts = {}
    for fmt in ("gcp", "azure", "entra", "k8s"):
        results = list(convert(fmt, SAMPLES[fmt][0].read_bytes()))
        counts[fmt] = (sum(isinstance(r, Converted) for r in results), len(results))
    assert counts == {"gcp": (147, 168), "azure": (214, 214), "entra": (47, 47),
                      "k8s": (14, 270)}


def test_conversion_is_deterministic_so_reimports_are_duplicates() -> None:
    data = SAMPLES["gcp"][0].read_bytes()
    first = [r.record["eventID"] for r in convert("gcp", data) if isinstance(r, Converted)]
    again = [r.record["eventID"] for r in convert("gcp", data) if isinstance(r, Converted)]
    assert first == again


def test_region_comes_from_the_import_when_the_source_has_none() -> None:
    data = SAMPLES["entra"][0].read_bytes()
    regions = {r.record["awsRegion"] for r in convert("entra", data, Options(region="dc-1"))
               if isinstance(r, Converted)}
    assert regions == {"dc-1"}
    default = next(r for r in convert("entra", data) if isinstance(r, Converted))
    assert default.record["awsRegion"] == "on-premises"
    assert "recipientAccountId" not in default.record  # the server uses the key's account


@pytest.mark.parametrize(("fmt", "data", "reason"), [
    ("gcp", b"[1, {\"protoPayload\": {}}]", "The entry is not a JSON object."),
    ("gcp", b"{\"a\": 1}\nnot json\n", "The line is not valid JSON"),
    ("azure", b"[{\"operationName\": \"x/read\"}]", "The entry has no time"),
    ("k8s", b"{\"kind\": \"EventList\", \"items\": [{\"verb\": \"get\"}]}",
     "The event has no time"),
    ("gcp", b"\x1f\x8bnot gzip", "The file cannot be read"),
    ("auditd", b"garbage line\n", "The line is not an audit record"),
])
def test_unmappable_entries_are_reported_with_their_reason(fmt: str, data: bytes,
                                                           reason: str) -> None:
    errors = [r for r in convert(fmt, data) if isinstance(r, ConversionError)]
    assert errors and any(e.reason.startswith(reason) for e in errors), errors


def test_an_unknown_format_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="Unknown format 'splunk'"):
        list(convert("splunk", b""))
