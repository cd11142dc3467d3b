"""Run the real `opentrail` CLI in a subprocess, as a user would."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"


def run_cli(*args: str, env: dict[str, str] | None = None,
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`python -m opentrail ARGS` with src/ importable; never raises on a non-zero exit."""
    full = dict(os.environ if env is None else env)
    full["PYTHONPATH"] = os.pathsep.join(filter(None, [str(SRC), full.get("PYTHONPATH")]))
    return subprocess.run([sys.executable, "-m", "opentrail", *args], capture_output=True,
                          text=True, env=full, timeout=timeout, check=False)
