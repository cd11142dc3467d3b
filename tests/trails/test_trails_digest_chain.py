"""Digests in-process with a ManualClock: exact fields and key layout, signatures checked
the way awscli checks them (python-rsa, PKCS#1 DER), chaining, chain restarts, keys."""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
import os
import re
import stat
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import rsa
from test_trails_delivery_layout import Rig

from conftest import ACCOUNT, make_event
from opentrail.storage import StoredObject
from opentrail.trails._digest import string_to_sign

DIGEST_KEY = re.compile(
    r"^AWSLogs/(?P<acct>\d{12})/CloudTrail-Digest/(?P<region>[a-z0-9-]+)/\d{4}/\d{2}/\d{2}/"
    r"(?P=acct)_CloudTrail-Digest_(?P=region)_main_us-east-1_\d{8}T\d{6}Z\.json\.gz$")
FIELDS = {"awsAccountId", "digestStartTime", "digestEndTime", "digestS3Bucket",
          "digestS3Object", "digestPublicKeyFingerprint", "digestSignatureAlgorithm",
          "newestEventTime", "oldestEventTime", "previousDigestS3Bucket",
          "previousDigestS3Object", "previousDigestHashValue", "previousDigestHashAlgorithm",
          "previousDigestSignature", "logFiles"}
PREVIOUS = [f for f in FIELDS if f.startswith("previousDigest")]


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[Rig]:
    r = Rig(tmp_path / "data", delivery_interval=60, digest_interval=3600)
    yield r
    r.close()


def _digests(rig: Rig) -> list[tuple[str, dict[str, Any], StoredObject]]:
    """(key, document, object), oldest first (keys sort by end time within a region)."""
    out = []
    for key, obj in sorted(rig.objects(kind="CloudTrail-Digest/").items()):
        out.append((key, json.loads(gzip.decompress(obj.body)), obj))
    return out


def _verify(rig: Rig, key: str, doc: dict[str, Any], obj: StoredObject) -> None:
    """What `aws cloudtrail validate-logs` does with one digest (spec 3.4 steps b-f)."""
    assert obj.metadata["signature-algorithm"] == "SHA256withRSA"
    found = [k for k in rig.keys.between(key.split("/")[3], 0, 2**40)
             if k.fingerprint == doc["digestPublicKeyFingerprint"]]
    assert len(found) == 1
    public = rsa.PublicKey.load_pkcs1(found[0].public_der, "DER")
    raw = gzip.decompress(obj.body)
    message = string_to_sign(doc["digestEndTime"], doc["digestS3Bucket"],
                             doc["digestS3Object"], hashlib.sha256(raw).hexdigest(),
                             doc["previousDigestSignature"])
    assert rsa.verify(message, bytes.fromhex(obj.metadata["signature"]), public) == "SHA-256"
    assert len(obj.metadata["signature"]) == 512


def test_hourly_signed_digests_chain_and_list_every_log_file(rig: Rig) -> None:
    rig.trail(log_file_validation_enabled=True)
    for i in range(3):
        rig.ingest(make_event(f"Call{i}", when=f"2026-11-18T10:00:0{i}Z"))
        rig.tick(60)
    rig.tick(3600 - 180)
    rig.tick(3600)  # an hour with no events: still a digest
    digests = _digests(rig)
    assert len(digests) == 2
    (k1, d1, o1), (_, d2, _) = digests
    for key, doc, obj in digests:
        assert DIGEST_KEY.match(key), key
        assert set(doc) == FIELDS
        assert doc["digestS3Bucket"] == "audit-bucket" and doc["digestS3Object"] == key
        assert doc["awsAccountId"] == ACCOUNT
        assert time.strftime("%Y%m%dT%H%M%SZ", time.strptime(
            doc["digestEndTime"], "%Y-%m-%dT%H:%M:%SZ")) == key[-24:-8]
        _verify(rig, key, doc, obj)
    assert all(d1[f] is None for f in PREVIOUS)
    logs = rig.objects()
    assert sorted(f["s3Object"] for f in d1["logFiles"]) == sorted(logs)
    for f in d1["logFiles"]:
        assert f["hashValue"] == hashlib.sha256(gzip.decompress(logs[f["s3Object"]].body)
                                                ).hexdigest()
        assert f["hashAlgorithm"] == "SHA-256" and f["s3Bucket"] == "audit-bucket"
    assert (d1["oldestEventTime"], d1["newestEventTime"]) == ("2026-11-18T10:00:00Z",
                                                              "2026-11-18T10:00:02Z")
    assert d2["logFiles"] == [] and d2["oldestEventTime"] is None
    assert d2["digestStartTime"] == d1["digestEndTime"]
    assert d2["previousDigestS3Object"] == k1
    assert d2["previousDigestS3Bucket"] == "audit-bucket"
    assert d2["previousDigestHashValue"] == hashlib.sha256(gzip.decompress(o1.body)).hexdigest()
    assert d2["previousDigestHashAlgorithm"] == "SHA-256"
    assert d2["previousDigestSignature"] == o1.metadata["signature"]


def test_stop_logging_writes_a_final_file_and_digest_and_start_begins_a_new_chain(
        rig: Rig) -> None:
    trail = rig.trail(log_file_validation_enabled=True)
    rig.ingest(make_event("BeforeStop"))
    rig.tick(10)
    rig.stop(trail)
    rig.tick(1)
    assert [r["eventName"] for r in rig.records()] == ["BeforeStop"], "final file at once"
    ((_, final, _),) = _digests(rig)
    assert len(final["logFiles"]) == 1
    rig.tick(7200)
    assert len(_digests(rig)) == 1, "no digests while stopped"
    rig.start(trail)
    rig.tick(3600)
    newest = _digests(rig)[-1][1]
    assert all(newest[f] is None for f in PREVIOUS), "a new chain after StartLogging"


def test_no_digests_without_validation(rig: Rig) -> None:
    rig.trail()
    rig.ingest(make_event())
    rig.tick(7200)
    assert rig.objects() and _digests(rig) == []


def test_multi_region_trail_digests_each_region(rig: Rig) -> None:
    rig.trail(log_file_validation_enabled=True, is_multi_region_trail=True)
    rig.ingest(make_event(region="eu-west-1"))
    rig.tick(3600)
    regions = sorted(k.split("/")[3] for k, _, _ in _digests(rig))
    assert regions == ["eu-west-1", "us-east-1"]
    for key, doc, obj in _digests(rig):
        _verify(rig, key, doc, obj)


def test_signing_keys_rotate_and_stay_verifiable(rig: Rig) -> None:
    rig.trail(log_file_validation_enabled=True)
    rig.tick(3600)
    rig.tick(31 * 86400)
    fingerprints = [d["digestPublicKeyFingerprint"] for _, d, _ in _digests(rig)]
    assert len(set(fingerprints)) == 2
    keys = rig.keys.between("us-east-1", 0, 2**40)
    assert [k.fingerprint for k in keys] == list(dict.fromkeys(fingerprints))
    assert keys[0].valid_until == keys[1].valid_from
    for key, doc, obj in _digests(rig):
        _verify(rig, key, doc, obj)
    for path in (rig.data_dir / "signing-keys" / "us-east-1").iterdir():
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    der = keys[0].public_der
    assert base64.b64encode(der).startswith(b"MIIBCgKCAQEA")  # PKCS#1, 2048-bit
    assert keys[0].fingerprint == hashlib.md5(der).hexdigest()


def test_a_ledger_checkpoint_is_published_with_every_digest(tmp_path: Path) -> None:
    from opentrail.trails._delivery import checkpoint_key

    r = Rig(tmp_path / "data", delivery_interval=60, digest_interval=3600)
    notes = iter(f"opentrail checkpoint {i}\n" for i in range(10))
    r.delivery.checkpoint = lambda: next(notes)
    try:
        r.trail(log_file_validation_enabled=True)
        r.ingest(make_event("Call", when="2026-11-18T10:00:00Z"))
        r.tick(3600)
        r.tick(3600)
        digests = _digests(r)
        assert len(digests) == 2
        published = r.objects(kind="OpenTrail-Checkpoint/")
        assert sorted(published) == sorted(checkpoint_key(k) for k, _, _ in digests)
        assert [published[checkpoint_key(k)].body for k, _, _ in digests] == [
            b"opentrail checkpoint 0\n", b"opentrail checkpoint 1\n"]
    finally:
        r.close()
