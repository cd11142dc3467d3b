"""The docs and --help tell the same story as the code."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from opentrail.cli import COMMANDS
from opentrail.config import SETTINGS

ROOT = Path(__file__).resolve().parents[2]


def _help(*args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "opentrail", *args, "--help"],
                          capture_output=True, text=True, check=True)
    return proc.stdout


def test_every_setting_is_documented_and_a_serve_flag() -> None:
    doc = (ROOT / "docs" / "configuration.md").read_text()
    serve_help = _help("serve")
    for setting in SETTINGS:
        flag = "--" + setting.name.replace("_", "-")
        assert f"`{flag}`" in doc, flag
        assert flag in serve_help, flag


def test_every_command_has_help() -> None:
    top = _help()
    for name in COMMANDS:
        assert name in top
        assert "Usage:" in _help(name)


def test_the_architecture_tour_lists_every_package() -> None:
    """docs/design/architecture.md's layout names every package under src/opentrail."""
    tour = (ROOT / "docs" / "design" / "architecture.md").read_text()
    layout = tour[tour.index("src/opentrail/"):tour.index("```", tour.index("src/opentrail/"))]
    packages = sorted(p.parent.name for p in (ROOT / "src" / "opentrail").glob("*/__init__.py"))
    missing = [name for name in packages if f"\n  {name}/" not in layout]
    assert not missing, f"add to docs/design/architecture.md's layout: {missing}"
