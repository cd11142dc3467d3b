"""`opentrail validate-logs --local-folder`: the folder destination (bucket NAME is
DIR/NAME/, each object's metadata in KEY.meta.json beside it), offline with a saved
ListPublicKeys answer, and online against a real `opentrail serve` that delivered it."""

from __future__ import annotations

import gzip
import json
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from trails_validate_bucket import (
    T0,
    FolderStore,
    Run,
    SigningKey,
    Trail,
    client_env,
    ours_in_process,
    records,
    run_ours,
    window,
)

from conftest import ACCOUNT, Server, free_port, make_event, post_records, wait_until

HOUR = timedelta(hours=1)


def _offline(tmp_path: Path) -> tuple[Trail, list[str], dict[str, str]]:
    """A 4-hour trail in tmp/buckets and the ListPublicKeys answer saved beside it."""
    key = SigningKey(T0 - 30 * 24 * HOUR, T0 + 30 * 24 * HOUR)
    trail = Trail(FolderStore(tmp_path / "buckets", "audit-bucket"), [key]).build()
    saved = tmp_path / "keys.json"
    saved.write_text(json.dumps({"PublicKeyList": [key.listing()]}))
    args = ["--local-folder", str(tmp_path / "buckets"), "--s3-bucket", "audit-bucket",
            "--public-keys", str(saved), *window(T0, T0 + 4 * HOUR)]
    return trail, args, client_env(tmp_path)


def test_offline_folder_untouched_is_valid(tmp_path: Path) -> None:
    trail, args, env = _offline(tmp_path)
    run = run_ours(trail, env, *args)   # the real command, no network at all
    assert run.returncode == 0, run.stderr
    assert "4/4 digest files valid" in run.stdout
    assert "8/8 log files valid" in run.stdout


def test_offline_folder_catches_tampering(tmp_path: Path) -> None:
    trail, args, env = _offline(tmp_path)
    appended = trail.digests[0].logs[0].key
    body, _ = trail.store.get(appended)
    trail.store.put(appended, body + gzip.compress(records(T0, 1)))
    trail.store.delete(trail.digests[3].key)   # the newest digest: a cut-off chain
    meta = tmp_path / "buckets" / "audit-bucket" / (trail.digests[1].key + ".meta.json")
    meta.unlink()                              # signature metadata gone
    run = ours_in_process(trail, env, *args)
    assert run.returncode == 1
    assert f"{appended}\tINVALID: invalid format (data after the first gzip member)" \
        in run.stderr
    assert f"{trail.digests[1].key}\tINVALID: signature verification failed" in run.stderr
    assert "INVALID: not found: 1 digest file(s) after 2026-11-20T03:00:00Z" in run.stderr


def test_public_keys_file_needs_s3_bucket(tmp_path: Path) -> None:
    trail, args, env = _offline(tmp_path)
    run = ours_in_process(trail, env, *[a for a in args if a not in ("--s3-bucket",
                                                                      "audit-bucket")])
    assert run.returncode == 2
    assert "--public-keys needs --s3-bucket" in run.stderr


# --- against the real server ----------------------------------------------------------------

FAST = ("--delivery-interval", "1", "--digest-interval", "4")
BUCKET = "audit-bucket"


def _send(server: Server, n: int) -> None:
    post_records(server, [make_event("RunInstances", when=time.strftime(
        "%Y-%m-%dT%H:%M:%SZ", time.gmtime())) for _ in range(n)])


def _delivered(server: Server) -> Any:
    """A validated trail with a few digests, then stopped so nothing changes under us."""
    ct: Any = server.client()
    ct.create_trail(Name="main", S3BucketName=BUCKET, EnableLogFileValidation=True)
    ct.start_logging(Name="main")
    digests = server.data_dir / "buckets" / BUCKET / "AWSLogs" / ACCOUNT / "CloudTrail-Digest"
    _send(server, 50)
    wait_until(lambda: len(list(digests.rglob("*.json.gz"))) >= 2, timeout=90)
    _send(server, 50)
    ct.stop_logging(Name="main")
    stopped = ct.get_trail_status(Name="main")["StopLoggingTime"]
    wait_until(lambda: ct.get_trail_status(Name="main").get("LatestDigestDeliveryTime",
                                                            stopped) > stopped, timeout=90)
    return ct


def _validate(server: Server, start: str, tmp_path: Path) -> Run:
    env = {**client_env(tmp_path), **{k: v for k, v in server.env("reader").items()
                                      if k.startswith("AWS_")}}
    return run_ours(Trail(FolderStore(tmp_path, BUCKET), [], name="main"), env,
                    "--endpoint-url", server.endpoint, "--start-time", start,
                    "--local-folder", str(server.data_dir / "buckets"))


@pytest.mark.e2e
@pytest.mark.slow
def test_real_server_folder_delivery_validates(tmp_path: Path) -> None:
    server = Server(tmp_path / "data", free_port(), extra_args=FAST)
    server.start()
    try:
        start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 60))
        _delivered(server)
        ok = _validate(server, start, tmp_path)
        assert ok.returncode == 0, ok.stdout + ok.stderr
        assert "digest files valid" in ok.stdout and "INVALID" not in ok.stdout
        logs = sorted((server.data_dir / "buckets" / BUCKET).rglob("*_CloudTrail_*.json.gz"))
        logs[0].write_bytes(logs[0].read_bytes() + gzip.compress(b'{"Records":[]}'))
        bad = _validate(server, start, tmp_path)
        assert bad.returncode == 1
        assert "INVALID: invalid format (data after the first gzip member)" in bad.stderr
    finally:
        server.kill()
