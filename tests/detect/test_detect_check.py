"""Loading rules: what is refused and why (`opentrail detect --check-rules`), and the
`--sigma-rules` setting."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from sigmahq_rules import RULES

from opentrail.config import settings_from

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "cli"))
from clirun import run_cli

GOOD = RULES["DISABLE_LOGGING"]
HEAD = "title: t\nid: {id}\nlogsource:\n  product: aws\n  service: cloudtrail\n"
BAD = {
    "yaml.yml": "title: [unclosed\n",
    "modifier.yml": HEAD.format(id="11111111-0000-0000-0000-000000000001")
    + "detection:\n  sel:\n    eventName|nosuchmodifier: x\n  condition: sel\n",
    "logsource.yml": "title: t\nid: 11111111-0000-0000-0000-000000000002\nlogsource:\n"
    "  category: process_creation\n  product: windows\ndetection:\n  sel:\n    Image: x\n"
    "  condition: sel\n",
    "field.yml": HEAD.format(id="11111111-0000-0000-0000-000000000003")
    + "detection:\n  sel:\n    status: success\n  condition: sel\n",
    "expand.yml": HEAD.format(id="11111111-0000-0000-0000-000000000004")
    + "detection:\n  sel:\n    eventName|expand: '%names%'\n  condition: sel\n",
    "condition.yml": HEAD.format(id="11111111-0000-0000-0000-000000000005")
    + "detection:\n  sel:\n    eventName: x\n  condition: sel and missing\n",
    "noid.yml": "title: t\nlogsource:\n  product: aws\ndetection:\n  sel:\n    eventName: x\n"
    "  condition: sel\n",
    "correlation.yml": "title: c\nid: 11111111-0000-0000-0000-000000000006\n"
    "correlation:\n  type: event_count\n  rules: [x]\n  group-by: [a]\n  timespan: 1h\n"
    "  condition:\n    gte: 10\n",
}
REASONS = {
    "yaml.yml": "not valid YAML",
    "modifier.yml": "nosuchmodifier",
    "logsource.yml": "logsource category 'process_creation', product 'windows'",
    "field.yml": "field 'status' is not a CloudTrail record field",
    "expand.yml": "placeholder",
    "condition.yml": "missing",
    "noid.yml": "no id",
    "correlation.yml": "correlation rules are not supported",
}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "rules"
    root.mkdir()
    (root / "good.yml").write_text(GOOD)
    for name, text in BAD.items():
        (root / name).write_text(text)
    (root / "notes.txt").write_text("not a rule file")
    return root


def test_check_rules_lists_loaded_and_refused(folder: Path) -> None:
    proc = run_cli("detect", "--check-rules", str(folder), "--output", "jsonl")
    assert proc.returncode == 1, proc.stderr  # some rules were refused
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    loaded = [x for x in lines if x["status"] == "loaded"]
    assert [x["ruleId"] for x in loaded] == ["4db60cc0-36fb-42b7-9b58-a5b53019fb74"]
    assert loaded[0]["author"] == "vitaliy0x1"
    refused = {Path(x["file"]).name: x for x in lines if x["status"] == "rejected"}
    assert set(refused) == set(BAD)
    for name, reason in REASONS.items():
        assert reason in refused[name]["reason"], (name, refused[name])
    assert refused["field.yml"]["ruleId"] == "11111111-0000-0000-0000-000000000003"
    assert refused["yaml.yml"]["ruleId"] is None


def test_check_rules_table_and_exit_zero_when_all_load(tmp_path: Path) -> None:
    (tmp_path / "a.yml").write_text(GOOD)
    proc = run_cli("detect", "--check-rules", str(tmp_path))
    assert proc.returncode == 0, proc.stderr
    assert "AWS CloudTrail Important Change" in proc.stdout
    assert "1 rule(s) loaded, 0 not loaded." in proc.stdout


def test_sigma_rules_setting_flags_and_file(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    config = tmp_path / "opentrail.toml"
    config.write_text(f'sigma_rules = ["{a}"]\n')
    assert settings_from(config, {"sigma_rules": ()}).sigma_rules == (str(a),)
    assert settings_from(config, {"sigma_rules": (str(b),)}).sigma_rules == (str(b),)
    with pytest.raises(ValueError, match=r"--sigma-rules .* is not a folder"):
        settings_from(None, {"sigma_rules": (str(tmp_path / "missing"),)})
    config.write_text('sigma_rules = "one"\n')
    with pytest.raises(ValueError, match="must be a TOML list of strings"):
        settings_from(config, {})


def test_serve_refuses_a_missing_rules_folder(tmp_path: Path) -> None:
    proc = run_cli("serve", "--data-dir", str(tmp_path / "d"), "--sigma-rules",
                   str(tmp_path / "nope"))
    assert proc.returncode == 2
    assert "--sigma-rules" in proc.stderr and "is not a folder" in proc.stderr
