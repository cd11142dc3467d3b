"""The README's first command: quickstart prints a key and an aws CLI line that works."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from conftest import free_port, wait_until

pytestmark = pytest.mark.e2e


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def test_quickstart_serves_demo_activity_and_the_printed_command_works(tmp_path: Path) -> None:
    port = free_port()
    out = tmp_path / "quickstart.out"
    with out.open("w") as sink:
        proc = subprocess.Popen(
            [sys.executable, "-m", "opentrail", "quickstart", "--data-dir",
             str(tmp_path / "data"), "--port", str(port), "--events", "2000"],
            stdout=sink, stderr=subprocess.STDOUT, text=True)
    try:
        wait_until(lambda: _healthy(f"http://127.0.0.1:{port}"), timeout=90)
        wait_until(lambda: "Press Ctrl+C" in out.read_text(), timeout=30)
        text = out.read_text()
        assert "Demo activity loaded: 2000 events" in text
        line = re.search(r"^\s*(AWS_ACCESS_KEY_ID=.*?)\\\n\s*(aws cloudtrail .*?)\\\n\s*(.*?)$",
                         text, re.M)
        assert line, text
        words = shlex.split(" ".join(line.groups()))
        env = {k: v for k, v in (w.split("=", 1) for w in words[:2])}
        command = words[2:]

        def found() -> list[object]:
            proc2 = subprocess.run(command, capture_output=True, text=True, timeout=120,
                                   env={**_base_env(), **env})
            assert proc2.returncode == 0, proc2.stderr
            return list(json.loads(proc2.stdout)["Events"])

        wait_until(found, timeout=60)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _base_env() -> dict[str, str]:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    return env
