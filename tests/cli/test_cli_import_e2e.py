"""`opentrail import` end to end: the real CLI against a real server on loopback."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest
from clirun import run_cli

from conftest import ACCOUNT, DATASETS, Server, free_port, make_event

pytestmark = pytest.mark.e2e

INVICTUS = DATASETS / "invictus-aws" / "CloudTrail"
INVICTUS_ACCOUNT = "123837392027"


def invictus_counts() -> tuple[int, int]:
    files = sorted(INVICTUS.glob("*.json"))
    return len(files), sum(len(json.loads(f.read_bytes())["Records"]) for f in files)


def test_invictus_imports_cleanly_and_a_second_run_only_finds_duplicates(
        live_server: Server) -> None:
    files, events = invictus_counts()
    env = live_server.env(role="writer", account=INVICTUS_ACCOUNT)
    first = run_cli("import", str(INVICTUS), "--endpoint-url", live_server.endpoint, env=env)
    assert first.returncode == 0, first.stderr
    assert f"Files:  {files:,} read, 0 unreadable" in first.stdout
    assert f"Events: {events:,} accepted, 0 duplicates, 0 rejected" in first.stdout
    again = run_cli("import", str(INVICTUS), "--endpoint-url", live_server.endpoint,
                    "--batch-size", "333", env=env)
    assert again.returncode == 0, again.stderr
    assert f"Events: 0 accepted, {events:,} duplicates, 0 rejected" in again.stdout


def mixed_folder(root: Path) -> None:
    """3 readable files (7 good events, 3 bad), 1 unreadable file, 1 digest file."""
    good = [make_event(f"Call{i}") for i in range(7)]
    no_name = make_event()
    del no_name["eventName"]
    foreign = make_event(account="999999999999")
    (root / "2024/05").mkdir(parents=True)
    (root / "2024/05/a.json.gz").write_bytes(
        gzip.compress(json.dumps({"Records": good[:3]}).encode()))
    lines = [json.dumps(good[3]), "{not json", json.dumps(no_name), json.dumps(good[4])]
    (root / "2024/05/b.ndjson").write_text("\n".join(lines) + "\n")
    (root / "c.json").write_text(json.dumps([good[5], foreign, good[6]]))
    (root / "broken.json").write_text("eventName,eventTime\n")
    (root / "CloudTrail-Digest").mkdir()
    (root / "CloudTrail-Digest/digest.json").write_text('{"digestStartTime": "x"}')


def test_rejections_are_grouped_by_reason_and_bad_files_do_not_stop_the_import(
        live_server: Server, tmp_path: Path) -> None:
    mixed_folder(tmp_path / "logs")
    env = live_server.env(role="writer", account=ACCOUNT)
    env["OPENTRAIL_ENDPOINT_URL"] = live_server.endpoint  # the flag's environment variable
    result = run_cli("import", str(tmp_path / "logs"), env=env)
    out = result.stdout
    assert result.returncode == 1, result.stderr
    assert "Files:  3 read, 1 unreadable" in out
    assert "Events: 7 accepted, 0 duplicates, 3 rejected" in out
    assert f"{tmp_path / 'logs' / 'broken.json'}: not JSON" in out
    assert "InvalidData: The line is not valid JSON." in out and "b.ndjson:1" in out
    assert "FieldNotFound" in out and "eventName" in out and "b.ndjson:2" in out
    assert "InvalidRecipient" in out and "c.json:1" in out
    assert "Traceback" not in result.stderr


def test_a_reader_key_is_refused_with_exit_code_2(live_server: Server) -> None:
    env = live_server.env(role="reader", account=INVICTUS_ACCOUNT)
    result = run_cli("import", str(INVICTUS), "--endpoint-url", live_server.endpoint, env=env)
    assert result.returncode == 2
    assert result.stderr.startswith("error: AccessDeniedException: ")
    assert "Traceback" not in result.stderr


def test_a_wrong_secret_is_refused_with_exit_code_2(live_server: Server) -> None:
    env = live_server.env(role="writer", account=INVICTUS_ACCOUNT)
    env["AWS_SECRET_ACCESS_KEY"] = "not-the-secret"
    result = run_cli("import", str(INVICTUS), "--endpoint-url", live_server.endpoint, env=env)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ")
    assert "not-the-secret" not in result.stdout + result.stderr


def test_an_unreachable_server_gives_exit_code_2(tmp_path: Path) -> None:
    (tmp_path / "a.json").write_text(json.dumps([make_event()]))
    env = {"AWS_ACCESS_KEY_ID": "AKIDEXAMPLE", "AWS_SECRET_ACCESS_KEY": "secret",
           "AWS_EC2_METADATA_DISABLED": "true", "PATH": "/usr/bin:/bin"}
    result = run_cli("import", str(tmp_path), "--endpoint-url",
                     f"http://127.0.0.1:{free_port()}", env=env)
    assert result.returncode == 2
    assert result.stderr.startswith("error: ConnectionError: Could not reach")
