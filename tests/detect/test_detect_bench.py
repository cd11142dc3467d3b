"""`python -m bench.sigma` runs end to end on a small sample; timings are never judged,
only that OpenTrail's findings equal the hand-written floor's."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_sigma_runs_and_agrees_with_its_floor(tmp_path: Path) -> None:
    out = tmp_path / "sigma.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), str(ROOT)])}
    proc = subprocess.run([sys.executable, "-m", "bench.sigma", "--events", "3000",
                           "--json", str(out)], capture_output=True, text=True, env=env,
                          cwd=ROOT, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert result["rules"] == 50 and result["events"] == 3000
    assert result["synthetic"]["findings"] > 0  # the bench asserts floor == OpenTrail
    assert "floor (dict look-ups)" in proc.stdout
