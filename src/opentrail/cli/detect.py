"""`opentrail detect`: check Sigma rules, or run them over a server's stored history.

`--check-rules DIR` loads the rules locally with the server's own loader and lists what
loads and what does not (file, rule id, reason); exit status 1 when any is rejected.

`--rules DIR` sends the rule files to the server's RunSigmaRules operation, page by page
of its ledger (the caller's account only), and prints one JSON object per finding; rules
the server refuses are reported on stderr. Nothing is stored: continuous detection is
`opentrail serve --sigma-rules DIR`.
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any

import click

from opentrail.cli._operation import call_operation
from opentrail.cli._options import client_options
from opentrail.cli.lookup import parse_time

__all__ = ["detect"]

DIR = click.Path(exists=True, file_okay=False, path_type=Path)


def _time_callback(ctx: click.Context, param: click.Parameter,
                   value: str | None) -> datetime | None:
    try:
        return None if value is None else parse_time(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


@click.command()
@click.option("--check-rules", "check", type=DIR, multiple=True, metavar="DIR",
              help="List which Sigma rules of DIR load and which do not, and why "
                   "(repeatable). Needs no server.")
@click.option("--rules", "rules", type=DIR, multiple=True, metavar="DIR",
              help="Run the Sigma rules of DIR (repeatable) over the server's stored "
                   "history and print the findings.")
@click.option("--start-time", callback=_time_callback, metavar="TIME",
              help="With --rules: only events at or after TIME (ISO 8601 or epoch seconds).")
@click.option("--end-time", callback=_time_callback, metavar="TIME",
              help="With --rules: only events before TIME.")
@click.option("--output", type=click.Choice(["table", "json", "jsonl"]), default=None,
              help="How to print: a table, one JSON document, or one JSON object per line "
                   "[default: table for --check-rules, jsonl for --rules].")
@client_options
def detect(check: tuple[Path, ...], rules: tuple[Path, ...], start_time: datetime | None,
           end_time: datetime | None, output: str | None, endpoint_url: str,
           profile: str | None, region: str | None) -> None:
    """Check Sigma rules (SigmaHQ YAML), or run them over stored history.

    Rules are loaded with pySigma and compiled by the same code `opentrail serve
    --sigma-rules DIR` uses; see docs/detect.md. With --rules, each finding is one JSON
    object with ruleId, ruleTitle, level, author, link, eventId, eventName, eventTime.
    """
    if bool(check) == bool(rules):
        raise click.UsageError("Give either --check-rules DIR or --rules DIR.")
    if check:
        _check(check, output or "table")
        return
    where = (endpoint_url, profile, region)
    _run(rules, start_time, end_time, output or "jsonl", where)


def _rule_files(folders: tuple[Path, ...]) -> list[dict[str, str]]:
    files = sorted(p for folder in folders for p in folder.rglob("*")
                   if p.suffix in (".yml", ".yaml") and p.is_file())
    if not files:
        raise click.UsageError("No *.yml or *.yaml rule files under " +
                               ", ".join(map(str, folders)) + ".")
    return [{"File": str(p), "Body": p.read_text(encoding="utf-8")} for p in files]


def _run(folders: tuple[Path, ...], start: datetime | None, end: datetime | None,
         output: str, where: tuple[str, str | None, str | None]) -> None:
    params: dict[str, Any] = {"Rules": _rule_files(folders)}
    if start is not None:
        params["StartTime"] = start.timestamp()
    if end is not None:
        params["EndTime"] = end.timestamp()
    found: list[dict[str, Any]] = []
    while True:
        endpoint, profile, region = where
        answer = call_operation(endpoint, "RunSigmaRules", params, profile, region)
        for finding in answer.get("Findings", []):
            if output == "jsonl":
                click.echo(json.dumps(finding))
            else:
                found.append(finding)
        if "NextToken" not in answer:
            break
        params["NextToken"] = answer["NextToken"]
    for bad in answer.get("Rejected", []):
        click.echo(f"not loaded: {bad['file']} ({bad['ruleId'] or '-'}): {bad['reason']}",
                   err=True)
    if output == "json":
        click.echo(json.dumps(found, indent=2))
    elif output == "table":
        _findings_table(found)


def _findings_table(found: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table("eventTime", "level", "rule", "eventName", "eventId", "author")
    for f in found:
        table.add_row(str(f.get("eventTime")), f["level"], f["ruleTitle"],
                      str(f.get("eventName")), f["eventId"], f["author"])
    console = Console(width=None if sys.stdout.isatty() else 240)
    console.print(table)
    console.print(f"{len(found)} finding(s).")


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
