"""The data dir is private: a real server on a dir others could read tightens it, and
every file it makes there is 0600."""

from __future__ import annotations

import signal
import stat
from pathlib import Path

import pytest

from conftest import Server, free_port, make_event, post_records, wait_until

pytestmark = pytest.mark.e2e


def _modes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): stat.S_IMODE(p.stat().st_mode)
            for p in [root, *root.rglob("*")]}


def test_a_world_readable_data_dir_is_tightened_and_files_are_private(tmp_path: Path
                                                                      ) -> None:
    data = tmp_path / "data"
    data.mkdir(mode=0o755)
    data.chmod(0o755)
    server = Server(data, free_port(), extra_args=("--checkpoint-interval", "1"))
    server.start()
    try:
        ct = server.client()
        post_records(server, [make_event("RunInstances")])
        wait_until(lambda: len(ct.lookup_events(LookupAttributes=[  # type: ignore[attr-defined]
            {"AttributeKey": "EventName", "AttributeValue": "RunInstances"}])["Events"]) == 1)
        wait_until(lambda: any(p.name.startswith("tree") for p in data.rglob("*")))
    finally:
        server.kill(signal.SIGTERM)
    modes = _modes(data)
    assert len(modes) > 5, modes
    loose = {name: f"{mode:04o}" for name, mode in modes.items()
             if mode != (0o700 if (data / name).is_dir() else 0o600)}
    assert not loose, loose
    assert server.log is not None and "changed to 0700" in server.log.read_text()
