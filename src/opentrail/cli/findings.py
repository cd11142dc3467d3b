"""`opentrail findings`: list the server's Sigma findings and acknowledge them.

`list` pages through ListSigmaFindings (newest first; `--state open` for the work queue);
`acknowledge ID...` marks findings acknowledged (an admin key); `rules` shows which rules
the server loaded and which it refused. Every finding names its rule's author and link,
as the rule's licence (SigmaHQ's DRL 1.1) asks.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from typing import Any

import click

from opentrail.cli._operation import call_operation
from opentrail.cli._options import client_options

__all__ = ["findings"]


@click.group()
def findings() -> None:
    """Sigma findings of a running server (`opentrail serve --sigma-rules DIR`)."""


@findings.command("list")
@click.option("--state", type=click.Choice(["open", "acknowledged"]),
              help="Only findings in this state.")
@click.option("--account-id", help="With an organization key: only this account.")
@click.option("--max-items", type=click.IntRange(1), default=1000, show_default=True,
              help="Stop after this many findings.")
@click.option("--output", type=click.Choice(["table", "json", "jsonl"]), default="table",
              show_default=True)
@client_options
def list_(state: str | None, account_id: str | None, max_items: int, output: str,
          endpoint_url: str, profile: str | None, region: str | None) -> None:
    """List findings, newest first."""
    params: dict[str, Any] = {"MaxResults": min(max_items, 1000)}
    if state:
        params["State"] = state
    if account_id:
        params["AccountId"] = account_id
    found: list[dict[str, Any]] = []
    while len(found) < max_items:
        answer = call_operation(endpoint_url, "ListSigmaFindings", params, profile, region)
        found += answer.get("Findings", [])
        if "NextToken" not in answer:
            break
        params["NextToken"] = answer["NextToken"]
    _print(found[:max_items], output)


@findings.command()
@click.argument("finding_ids", nargs=-1, required=True)
@client_options
def acknowledge(finding_ids: tuple[str, ...], endpoint_url: str, profile: str | None,
                region: str | None) -> None:
    """Acknowledge findings by their findingId (needs an admin key)."""
    for finding_id in finding_ids:
        answer = call_operation(endpoint_url, "AcknowledgeSigmaFinding",
                                {"FindingId": finding_id}, profile, region)
        finding = answer["Finding"]
        click.echo(f"{finding['findingId']}: {finding['state']} "
                   f"({finding['ruleTitle']}, event {finding['eventId']})")


@findings.command()
@click.option("--output", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@client_options
def rules(output: str, endpoint_url: str, profile: str | None, region: str | None) -> None:
    """The Sigma rules the server loaded, and the ones it refused with the reason."""
    answer = call_operation(endpoint_url, "ListSigmaRules", {}, profile, region)
    if output == "json":
        click.echo(json.dumps(answer, indent=2))
        return
    for rule in answer["Rules"]:
        click.echo(f"loaded   {rule['ruleId']}  {rule['level']:<13} {rule['ruleTitle']}")
    for bad in answer["Rejected"]:
        click.echo(f"refused  {bad['ruleId'] or '-'}  {bad['file']}: {bad['reason']}")


def _print(found: list[dict[str, Any]], output: str) -> None:
    if output == "json":
        click.echo(json.dumps(found, indent=2))
        return
    if output == "jsonl":
        for finding in found:
            click.echo(json.dumps(finding))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("found", "state", "level", "rule", "author", "event", "eventTime",
                  "findingId")
    for f in found:
        when = datetime.fromtimestamp(f["createdAt"], UTC).strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(when, f["state"], f["level"], f["ruleTitle"], f["author"],
                      f"{f.get('eventName')} {f['eventId']}", str(f.get("eventTime")),
                      f["findingId"])
    console = Console(width=None if sys.stdout.isatty() else 240)
    console.print(table)
    console.print(f"{len(found)} finding(s).")
