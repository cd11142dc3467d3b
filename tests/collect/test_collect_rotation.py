"""File following across rotation (rename), truncation (copytruncate) and restarts."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from test_collect_restart import append, stored_ids

from conftest import DATASETS, Server, wait_until
from opentrail.client import IngestClient, IngestResult
from opentrail.collect import (
    CollectConfig,
    Collector,
    ConfigError,
    FileFollower,
    FileSource,
    load_config,
)
from opentrail.sources import FORMATS, Converted, Options, convert


class Recording:
    """A sender that keeps what it was given (and answers as a server would)."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def send(self, records: Sequence[object]) -> IngestResult:
        self.records.extend(r for r in records if isinstance(r, dict))
        return IngestResult(accepted=len(records), event_ids=[None] * len(records))


def collector_for(tmp_path: Path, log: Path, sender: Any, fmt: str = "k8s") -> Collector:
    config = CollectConfig(tmp_path / "state", files=(FileSource(log, fmt, "on-premises",
                                                                 None),))
    return Collector(config, sender)


def drain(collector: Collector) -> None:
    for _ in range(4):  # rotation is noticed at the end of the old file: a few turns
        collector.poll_once()


@pytest.mark.e2e
def test_rename_truncate_and_restart_across_rotation(live_server: Server,
                                                     tmp_path: Path) -> None:
    key = live_server.key("writer")
    session = botocore.session.Session()
    session.set_credentials(key.access_key_id, key.secret)
    client = IngestClient(live_server.endpoint, session=session, region="us-east-1")
    log = tmp_path / "audit.log"
    append(log, range(0, 5))
    collector = collector_for(tmp_path, log, client)
    drain(collector)
    log.rename(tmp_path / "audit.log.1")  # logrotate's rename...
    append(tmp_path / "audit.log.1", range(5, 8))  # ...while the writer still has it open
    append(log, range(8, 12))
    drain(collector)
    log.write_text("")  # copytruncate
    append(log, range(12, 14))
    drain(collector)
    collector.close()
    append(log, range(14, 16))  # the collector is stopped; the file is rotated again
    log.rename(tmp_path / "audit.log.2")
    append(log, range(16, 19))
    restarted = collector_for(tmp_path, log, client)
    drain(restarted)
    restarted.close()
    wait_until(lambda: len(stored_ids(live_server)) >= 19, timeout=60)
    ids = stored_ids(live_server)
    assert len(ids) == len(set(ids)) == 19
    client.close()


def test_auditd_event_is_held_until_its_records_are_complete(tmp_path: Path) -> None:
    log, sender = tmp_path / "audit.log", Recording()
    first = ('type=SYSCALL msg=audit(1700000000.100:42): arch=c000003e syscall=59 '
             'success=yes exit=0 auid=1000 uid=1000 exe="/usr/bin/id"\n')
    rest = ('type=EXECVE msg=audit(1700000000.100:42): argc=1 a0="id"\n'
            'type=EOE msg=audit(1700000000.100:42): \n')
    log.write_text(first)
    collector = collector_for(tmp_path, log, sender, fmt="auditd")
    collector.poll_once()
    assert sender.records == []  # the SYSCALL may be joined by more records
    with log.open("a") as out:
        out.write(rest)
    collector.poll_once()
    assert len(sender.records) == 1
    assert sender.records[0]["requestParameters"]["argv"] == ["id"]


def test_a_lone_auditd_record_is_sent_once_the_file_is_quiet(tmp_path: Path) -> None:
    log, sender = tmp_path / "audit.log", Recording()
    log.write_text("type=USER_LOGIN msg=audit(1700000000.200:43): pid=1 uid=0 auid=1000 "
                   "msg='op=login acct=\"bob\" exe=\"/usr/sbin/sshd\" res=success'\n")
    collector = collector_for(tmp_path, log, sender, fmt="auditd")
    collector.poll_once()
    assert sender.records == []
    collector.poll_once()  # nothing new for one poll: the event is complete
    assert [r["eventName"] for r in sender.records] == ["USER_LOGIN"]


def test_unacknowledged_chunk_is_sent_again_and_position_kept(tmp_path: Path) -> None:
    class Down(Recording):
        def send(self, records: Sequence[object]) -> IngestResult:
            from opentrail.client import IngestConnectionError

            raise IngestConnectionError("ConnectionError", "down")

    log = tmp_path / "audit.log"
    append(log, range(3))
    collector = collector_for(tmp_path, log, Down())
    collector.poll_once()
    assert collector.status()[0].errors == 1
    assert not (tmp_path / "state" / "positions.json").exists()
    with pytest.raises(ValueError, match="Another collector"):
        collector_for(tmp_path, log, Recording())
    collector.close()
    sender = Recording()
    collector = collector_for(tmp_path, log, sender)
    collector.poll_once()
    assert len(sender.records) == 3
    positions = json.loads((tmp_path / "state" / "positions.json").read_text())
    assert next(iter(positions["files"].values()))["offset"] == log.stat().st_size


def test_long_line_and_missing_file(tmp_path: Path) -> None:
    follower = FileFollower(tmp_path / "later.log", None, chunk_bytes=8)
    assert follower.read() is None
    (tmp_path / "later.log").write_bytes(b"0123456789abc\nxy\n")
    chunks = [follower.read() for _ in range(3)]
    assert [c.data for c in chunks if c] == [b"01234567", b"89abc\n", b"xy\n"]


def test_config_errors_name_the_field(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    cases = {
        'state_dir = "s"\n': "names no source",
        '[[file]]\npath = "x"\nformat = "k8s"\n': "state_dir is required",
        'state_dir = "s"\n[[file]]\npath = "x"\nformat = "syslog"\n': "format must be one of",
        'state_dir = "s"\n[[bucket]]\nprefix = "p"\n': "bucket is required",
        'state_dir = "s"\npoll_interval = "fast"\n[[bucket]]\nbucket = "b"\n':
            "poll_interval must be",
        "state_dir = [": "not valid TOML",
    }
    for text, message in cases.items():
        config.write_text(text)
        with pytest.raises(ConfigError, match=message):
            load_config(config, set(FORMATS))
    config.write_text(f'state_dir = "{tmp_path}"\nregion = "dc-1"\n'
                      '[[file]]\npath = "/var/log/audit/audit.log"\nformat = "auditd"\n'
                      '[[bucket]]\nbucket = "trail"\nendpoint_url = "http://127.0.0.1:9"\n')
    loaded = load_config(config, set(FORMATS))
    assert loaded.files[0].region == "dc-1"
    assert loaded.buckets[0].s3_endpoint_url == "http://127.0.0.1:9"


def test_cloudtrail_lines_get_stable_event_ids(tmp_path: Path) -> None:
    log, sender = tmp_path / "events.ndjson", Recording()
    when = (datetime.now(UTC) - timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    log.write_text(json.dumps({"eventTime": when, "eventName": "Run",
                               "eventSource": "batch.internal"}) + "\nnot json\n")
    collector_for(tmp_path / "a", log, sender, fmt="cloudtrail").poll_once()
    collector_for(tmp_path / "b", log, sender, fmt="cloudtrail").poll_once()
    assert len(sender.records) == 2
    assert sender.records[0]["eventID"] == sender.records[1]["eventID"]
    assert sender.records[0]["awsRegion"] == "on-premises"


@pytest.mark.parametrize("sample", ["testdata/normal.log", "testdata/lost_messages.log",
                                    "testdata/rollover.log", "testdata/out_of_order.log"])
def test_auditd_log_written_in_pieces_gives_the_events_of_the_whole(
        tmp_path: Path, sample: str) -> None:
    data = (DATASETS / "auditd" / "go-libaudit" / sample).read_bytes()
    lines = data.splitlines(keepends=True)
    whole = {c.record["eventID"]: c.record for c in convert("auditd", data, Options())
             if isinstance(c, Converted)}
    log, sender = tmp_path / "audit.log", Recording()
    collector = collector_for(tmp_path, log, sender, fmt="auditd")
    step = max(1, len(lines) // 7)
    for start in range(0, len(lines), step):  # cut anywhere, also inside an event
        with log.open("ab") as out:
            out.writelines(lines[start:start + step])
        collector.poll_once()
    collector.poll_once()
    collector.poll_once()
    assert len(whole) > 3
    assert {r["eventID"]: r for r in sender.records} == whole
    assert len(sender.records) == len(whole)
