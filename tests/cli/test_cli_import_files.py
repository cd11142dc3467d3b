"""`opentrail import` without a server: finding files, detecting layouts, counting results."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest

from opentrail.cli.importer import (
    BadEntry,
    LogFileError,
    Sender,
    Tally,
    discover,
    parse_log,
    read_log_file,
)
from opentrail.client import IngestAuthError, IngestError, IngestResult
from opentrail.client._result import FailedRecord

A = {"eventID": "a", "eventName": "ListBuckets"}
B = {"eventID": "b", "eventName": "GetObject"}


def write(path: Path, data: bytes | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    return path


# --- discovery ---

def test_folders_are_searched_recursively_for_log_files_in_sorted_order(tmp_path: Path) -> None:
    root = tmp_path / "AWSLogs"
    b = write(root / "123/CloudTrail/us-east-1/2024/05/02/b.json.gz", b"")
    a = write(root / "123/CloudTrail/us-east-1/2024/05/01/a.json", "")
    n = write(root / "export/events.ndjson", "")
    j = write(root / "export/events.jsonl", "")
    write(root / "123/CloudTrail-Digest/us-east-1/2024/05/01/digest.json.gz", b"")
    write(root / "123/CloudTrail/us-east-1/2024/05/01/._a.json", "")  # macOS resource fork
    write(root / "notes.txt", "")
    assert discover([root]) == [a, b, j, n]


def test_named_files_are_taken_whatever_their_name_and_only_once(tmp_path: Path) -> None:
    odd = write(tmp_path / "trail.log", "")
    a = write(tmp_path / "dir/a.json", "")
    assert discover([odd, tmp_path / "dir", a]) == [odd, a]


# --- layouts ---

def test_records_wrapper() -> None:
    assert list(parse_log(json.dumps({"Records": [A, B]}).encode())) == [A, B]


def test_json_array_with_bom_and_whitespace() -> None:
    assert list(parse_log(b"\xef\xbb\xbf \n" + json.dumps([A, B]).encode() + b"\n")) == [A, B]


def test_ndjson_keeps_positions_and_marks_lines_that_are_not_json() -> None:
    text = f"{json.dumps(A)}\r\n\n  \n{{broken\n{json.dumps(B)}\n"
    log = parse_log(text.encode())
    entries = list(log)
    assert len(log) == 3
    assert entries[0] == A and entries[2] == B
    assert isinstance(entries[1], BadEntry) and "not valid JSON" in entries[1].reason


def test_ndjson_may_start_with_a_bad_line() -> None:
    entries = list(parse_log(f"{{broken\n{json.dumps(A)}\n".encode()))
    assert isinstance(entries[0], BadEntry) and entries[1] == A


def test_a_single_record_is_a_one_line_ndjson_file() -> None:
    assert list(parse_log(json.dumps(A).encode())) == [A]


def test_gzip_is_detected_by_content_not_by_name(tmp_path: Path) -> None:
    path = write(tmp_path / "plain-name.json", gzip.compress(json.dumps({"Records": [A]}).encode()))
    assert list(read_log_file(path)) == [A]
    ndjson = write(tmp_path / "x.ndjson.gz", gzip.compress(b"\n".join(
        json.dumps(r).encode() for r in (A, B))))
    assert list(read_log_file(ndjson)) == [A, B]


def test_an_uncompressed_file_named_gz_is_still_read(tmp_path: Path) -> None:
    assert list(read_log_file(write(tmp_path / "a.json.gz", json.dumps([A])))) == [A]


@pytest.mark.parametrize(("data", "reason"), [
    (b"", "empty"),
    (b"  \n", "empty"),
    # A CSV with CloudTrail column names is now an Athena-style export (sources/_siem.py);
    # one with other columns is still no log file.
    (b"name,time\nX,Y\n", "not JSON, nor CSV"),
    (b'{"Records":[{"eventID":"a"},', "not valid JSON"),
    (b'{\n  "Records": [\n    {"eventID": "a"},\n', "not valid JSON"),
    (b'[{"eventID":"a"}', "not valid JSON"),
    (b'{"Records": {"eventID": "a"}}', "not a list"),
    (b'{"awsAccountId": "1", "digestStartTime": "x"}', "without a Records list"),
    (b"{nope\n{nope either\n", "not valid JSON"),
])
def test_files_that_hold_no_records_say_why(data: bytes, reason: str) -> None:
    with pytest.raises(LogFileError, match=reason):
        parse_log(data)


def test_broken_gzip_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path / "a.json.gz", gzip.compress(b'{"Records": []}')[:12])
    with pytest.raises(LogFileError, match="gzip"):
        read_log_file(path)


def test_real_cloudtrail_file_from_the_invictus_dataset(invictus_file: Path) -> None:
    entries = list(read_log_file(invictus_file))
    assert entries and all(isinstance(e, dict) and e["eventID"] for e in entries)


@pytest.fixture
def invictus_file() -> Path:
    folder = Path(__file__).resolve().parents[2].parent / "shared/datasets/invictus-aws/CloudTrail"
    return sorted(folder.glob("*.json"))[0]


# --- counting and sending ---

def test_tally_groups_rejections_by_reason_with_a_few_examples() -> None:
    tally = Tally(files=2)
    origins = [("a.json", i) for i in range(6)]
    failed = [FailedRecord(i, "FieldNotFound", "eventName is required.") for i in (0, 2, 3, 5)]
    failed.append(FailedRecord(4, "InvalidData", "eventTime is not a time."))
    tally.add(IngestResult(accepted=1, rejected=5, failed=failed), origins)
    tally.unreadable.append(("bad.json", "not JSON"))
    text = "\n".join(tally.summary())
    assert "Files:  2 read, 1 unreadable" in text
    assert "Events: 1 accepted, 0 duplicates, 5 rejected" in text
    assert "bad.json: not JSON" in text
    assert "4  FieldNotFound: eventName is required.  (e.g. a.json:0, a.json:2, a.json:3)" in text
    assert text.index("FieldNotFound") < text.index("InvalidData")
    assert tally.exit_code == 1


def test_exit_code_is_zero_when_everything_was_stored_or_already_there() -> None:
    tally = Tally(files=1)
    tally.add(IngestResult(accepted=3, duplicates=2), [("f", i) for i in range(5)])
    assert tally.exit_code == 0


class FakeClient:
    def __init__(self, error: IngestError | None = None) -> None:
        self.batches: list[list[Any]] = []
        self.error = error

    def send(self, records: list[Any]) -> IngestResult:
        self.batches.append(records)
        if self.error:
            raise self.error
        return IngestResult(accepted=len(records))


def test_sender_batches_and_reports_progress() -> None:
    client, tally, sent = FakeClient(), Tally(), []
    sender = Sender(client, tally, 2, sent.append)  # type: ignore[arg-type]
    for i in range(5):
        sender.add({"eventID": str(i)}, ("f", i))
    sender.flush()
    assert [len(b) for b in client.batches] == [2, 2, 1]
    assert (sent, tally.accepted) == ([2, 2, 1], 5)


def test_a_request_error_rejects_its_batch_and_the_import_goes_on() -> None:
    tally = Tally()
    client = FakeClient(IngestError("ValidationException", "Body is broken.", status=400))
    sender = Sender(client, tally, 10)  # type: ignore[arg-type]
    sender.add({}, ("f", 0))
    sender.add({}, ("f", 1))
    sender.flush()
    assert tally.rejected == 2
    assert "ValidationException: Body is broken." in tally.reasons


@pytest.mark.parametrize("error", [
    IngestAuthError("UnrecognizedClientException", "Unknown key.", status=403),
    IngestError("ThrottlingException", "Still busy.", status=400),
])
def test_auth_failures_and_exhausted_retries_stop_the_import(error: IngestError) -> None:
    sender = Sender(FakeClient(error), Tally(), 1)  # type: ignore[arg-type]
    with pytest.raises(IngestError):
        sender.add({}, ("f", 0))
