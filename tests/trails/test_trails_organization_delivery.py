"""Organization trail delivery in process (no HTTP): the layout and per-account chains,
and a trail switched to and from IsOrganizationTrail closing its old chains."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from test_trails_delivery_layout import OTHER, Rig

from conftest import ACCOUNT, make_event
from opentrail.trails import selects
from opentrail.trails._delivery import Delivery

ORG = "o-zz9yy8xx7w"


class OrgRig(Rig):
    def new_delivery(self) -> Delivery:
        return Delivery(self.data_dir, self.clock, self.store, self.storage, self.keys,
                        selects, delivery_interval=self.delivery_interval,
                        digest_interval=self.digest_interval, organization_id=ORG)


@pytest.fixture
def rig(tmp_path: Path) -> Iterator[OrgRig]:
    r = OrgRig(tmp_path / "data")
    yield r
    r.close()


def _digests(rig: Rig) -> dict[str, dict[str, object]]:
    return {k: json.loads(gzip.decompress(o.body))
            for k, o in rig.objects(kind="CloudTrail-Digest/").items()}


def test_switching_organization_on_and_off_closes_the_old_chains(rig: OrgRig) -> None:
    trail = rig.trail(log_file_validation_enabled=True)
    rig.ingest(make_event(), make_event(account=OTHER))
    rig.tick(300)
    assert all(f"/{ACCOUNT}/CloudTrail/" in k and "/o-" not in k for k in rig.objects())
    trail.is_organization_trail = True
    rig.store.update(trail)
    rig.ingest(make_event(), make_event(account=OTHER))
    rig.tick(300)
    keys = set(rig.objects())
    assert any(k.startswith(f"AWSLogs/{ORG}/{OTHER}/CloudTrail/") for k in keys)
    assert any(k.startswith(f"AWSLogs/{ORG}/{ACCOUNT}/CloudTrail/") for k in keys)
    digests = _digests(rig)
    old = [d for k, d in digests.items() if k.startswith(f"AWSLogs/{ACCOUNT}/")]
    assert len(old) == 1 and old[0]["logFiles"]  # the plain chain got its final digest
    rig.tick(3600)
    digests = _digests(rig)
    for account in (ACCOUNT, OTHER):
        chain = sorted(k for k in digests if k.startswith(f"AWSLogs/{ORG}/{account}/"))
        assert chain and all(digests[k]["awsAccountId"] == account for k in chain)
        assert digests[chain[0]]["previousDigestS3Object"] is None  # a new chain
    assert len([k for k in digests if k.startswith(f"AWSLogs/{ACCOUNT}/")]) == 1
    # And back: the per-account chains get their final digests; a plain chain starts.
    before = set(_digests(rig))
    trail.is_organization_trail = False
    rig.store.update(trail)
    rig.ingest(make_event())
    rig.tick(300)
    closed = {k for k in set(_digests(rig)) - before if k.startswith(f"AWSLogs/{ORG}/")}
    assert {k.split("/")[2] for k in closed} == {ACCOUNT, OTHER}
    rig.tick(3600)
    plain = sorted(k for k in _digests(rig) if k.startswith(f"AWSLogs/{ACCOUNT}/"))
    assert len(plain) == 2 and _digests(rig)[plain[1]]["previousDigestS3Object"] is None
    assert not {k for k in set(_digests(rig)) - before - closed if "/o-" in k}
