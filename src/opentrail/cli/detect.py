"""`opentrail detect`: check Sigma rules, or run them over a server's stored history.

`--check-rules DIR` loads the rules locally with the server's own loader and lists what
loads and what does not (file, rule id, reason); exit status 1 when any is rejected.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click

__all__ = ["detect"]

DIR = click.Path(exists=True, file_okay=False, path_type=Path)


@click.command()
@click.option("--check-rules", "check", type=DIR, multiple=True, metavar="DIR",
              help="List which Sigma rules of DIR load and which do not, and why "
                   "(repeatable). Needs no server.")
@click.option("--output", type=click.Choice(["table", "json", "jsonl"]), default="table",
              show_default=True, help="How to print: a table, one JSON document, or one "
                                      "JSON object per line.")
def detect(check: tuple[Path, ...], output: str) -> None:
    """Check Sigma rules (SigmaHQ YAML) against what OpenTrail's evaluator runs.

    Rules are loaded with pySigma and compiled by the same code `opentrail serve
    --sigma-rules DIR` uses; see docs/detect.md.
    """
    if not check:
        raise click.UsageError("Give --check-rules DIR.")
    _check(check, output)


def _check(folders: tuple[Path, ...], output: str) -> None:
    from opentrail.detect import load_rules

    rules = load_rules(folders)
    loaded = [r.describe() for r in rules.rules]
    rejected = [r.describe() for r in rules.rejected]
    if output == "json":
        click.echo(json.dumps({"loaded": loaded, "rejected": rejected}, indent=2))
    elif output == "jsonl":
        for item in loaded:
            click.echo(json.dumps({"status": "loaded", **item}))
        for item in rejected:
            click.echo(json.dumps({"status": "rejected", **item}))
    else:
        _table(loaded, rejected)
    sys.exit(1 if rejected else 0)


def _table(loaded: list[dict[str, Any]], rejected: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    # Piped output is not cut to 80 columns: ids and reasons stay whole for grep.
    console = Console(width=None if sys.stdout.isatty() else 240)
    table = Table("file", "rule id", "title", "level", "logsource", title="Loaded")
    for r in loaded:
        source = r["logsource"]
        table.add_row(Path(r["file"]).name, r["ruleId"], r["ruleTitle"], r["level"],
                      f"{source['product']}/{source['service']}")
    console.print(table)
    if rejected:
        bad = Table("file", "rule id", "reason", title="Not loaded")
        for r in rejected:
            bad.add_row(Path(r["file"]).name, r["ruleId"] or "-", r["reason"])
        console.print(bad)
    console.print(f"{len(loaded)} rule(s) loaded, {len(rejected)} not loaded.")
