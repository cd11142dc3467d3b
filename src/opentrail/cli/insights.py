"""`opentrail insights`: list Insights events and show one with a chart, through boto3.

`list` pairs Start and End records (LookupEvents with EventCategory=insight) by
sharedEventID, keeping only the ones this server's Insights engine made (a writer key can
ingest records that look like Insights, and imported CloudTrail logs hold AWS's own);
`show` prints one Insight's statistics and attributions and charts the per-minute rate
around it (ListInsightsMetricData) against its baseline.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import click
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console
from rich.table import Table

from opentrail.cli._options import client_options
from opentrail.cli.lookup import cloudtrail_client, parse_time
from opentrail.events import is_server_made

__all__ = ["chart", "insights", "pair_insights"]

CHART_HEIGHT = 10
CHART_WIDTH = 72


@contextmanager
def _aws_errors() -> Iterator[None]:
    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        click.echo(f"error: {error.get('Code')}: {error.get('Message')}", err=True)
        sys.exit(1)
    except BotoCoreError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


def _records(client: Any, start: datetime | None, end: datetime | None) -> list[dict[str, Any]]:
    params: dict[str, Any] = {"EventCategory": "insight"}
    if start is not None:
        params["StartTime"] = start
    if end is not None:
        params["EndTime"] = end
    pages = client.get_paginator("lookup_events").paginate(**params)
    found = [json.loads(e["CloudTrailEvent"]) for page in pages for e in page.get("Events", [])]
    made = [r for r in found if is_server_made(r)]
    if len(made) < len(found):
        click.echo(f"note: {len(found) - len(made)} ingested Insights record(s) not shown: "
                   "only Insights this server detected are listed.", err=True)
    return made


def pair_insights(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per sharedEventID: its Start and End records, oldest first."""
    pairs: dict[str, dict[str, Any]] = {}
    for record in records:
        state = record["insightDetails"]["state"]
        pairs.setdefault(record["sharedEventID"], {})[state] = record
    return sorted(pairs.values(), key=lambda p: (p.get("Start") or p["End"])["eventTime"])


def _row(pair: dict[str, Any]) -> list[str]:
    first = pair.get("Start") or pair["End"]
    details = first["insightDetails"]
    stats = (pair.get("End") or first)["insightDetails"]["insightContext"]["statistics"]
    end = pair["End"]["eventTime"] if "End" in pair else "(ongoing)"
    return [first["sharedEventID"], pair["Start"]["eventTime"] if "Start" in pair else "?",
            end, details["eventSource"], details["eventName"], details["insightType"],
            details.get("errorCode", ""), f"{stats['baseline']['average']:g}",
            f"{stats['insight']['average']:g}"]


@click.group()
def insights() -> None:
    """List Insights events and show one with its attributions and a rate chart."""


@insights.command("list")
@click.option("--start-time", help="Oldest time (ISO 8601 or epoch seconds).")
@click.option("--end-time", help="Newest time (ISO 8601 or epoch seconds).")
@click.option("--output", type=click.Choice(["table", "json"]), default="table",
              show_default=True)
@client_options
def list_(start_time: str | None, end_time: str | None, output: str, endpoint_url: str,
          profile: str | None, region: str | None) -> None:
    """Insights in a time range, one line per Insight (Start and End paired)."""
    start = parse_time(start_time) if start_time else None
    end = parse_time(end_time) if end_time else None
    with _aws_errors():
        pairs = pair_insights(_records(cloudtrail_client(endpoint_url, profile, region),
                                       start, end))
    if output == "json":
        click.echo(json.dumps(pairs, indent=2))
        return
    table = Table("Insight", "Start", "End", "Event source", "Event name", "Type",
                  "Error code", "Baseline/min", "Insight/min")
    for pair in pairs:
        table.add_row(*_row(pair))
    Console(width=200).print(table)


@insights.command("show")
@click.argument("insight_id")
@client_options
def show(insight_id: str, endpoint_url: str, profile: str | None, region: str | None) -> None:
    """One Insight (its sharedEventID): statistics, attributions and a rate chart."""
    client = cloudtrail_client(endpoint_url, profile, region)
    with _aws_errors():
        pairs = [p for p in pair_insights(_records(client, None, None))
                 if (p.get("Start") or p["End"])["sharedEventID"] == insight_id]
        if not pairs:
            click.echo(f"error: no Insight with id {insight_id} in the last 90 days.", err=True)
            sys.exit(1)
        pair = pairs[0]
        click.echo(_describe(pair))
        click.echo(_chart_for(client, pair))


def _describe(pair: dict[str, Any]) -> str:
    first = pair.get("Start") or pair["End"]
    details = first["insightDetails"]
    context = (pair.get("End") or first)["insightDetails"]["insightContext"]
    stats = context["statistics"]
    lines = [f"Insight {first['sharedEventID']}",
             f"  {details['insightType']} on {details['eventSource']} {details['eventName']}"
             + (f" ({details['errorCode']})" if details.get("errorCode") else ""),
             f"  start {_time(pair, 'Start')}   end {_time(pair, 'End')}   "
             f"duration {stats['insightDuration']} min",
             f"  baseline {stats['baseline']['average']:g}/min over "
             f"{stats['baselineDuration']} min; insight {stats['insight']['average']:g}/min"]
    for item in context.get("attributions", []):
        lines.append(f"  {item['attribute']}:")
        for which in ("insight", "baseline"):
            for entry in item[which]:
                lines.append(f"    {which:<8} {entry['average']:>10g}/min  {entry['value']}")
    return "\n".join(lines)


def _time(pair: dict[str, Any], state: str) -> str:
    return str(pair[state]["eventTime"]) if state in pair else "(ongoing)"


def _chart_for(client: Any, pair: dict[str, Any]) -> str:
    first = pair.get("Start") or pair["End"]
    details = first["insightDetails"]
    start = parse_time(first["eventTime"]) - timedelta(minutes=30)
    end_text = pair["End"]["eventTime"] if "End" in pair else first["eventTime"]
    end = min(parse_time(end_text) + timedelta(minutes=30),
              start + timedelta(minutes=CHART_WIDTH))
    params: dict[str, Any] = {
        "EventSource": details["eventSource"], "EventName": details["eventName"],
        "InsightType": details["insightType"], "StartTime": start, "EndTime": end,
        "Period": 60, "DataType": "FillWithZeros"}
    if details.get("errorCode"):
        params["ErrorCode"] = details["errorCode"]
    data = client.list_insights_metric_data(**params)
    baseline = float(first["insightDetails"]["insightContext"]["statistics"]["baseline"]
                     ["average"])
    values = [float(v) for v in data.get("Values", [])]
    stamps = [_stamp(t) for t in data.get("Timestamps", [])]
    return chart(values, baseline, stamps)


def _stamp(value: Any) -> str:
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%H:%M")
    return datetime.fromtimestamp(float(value), UTC).strftime("%H:%M")


def chart(values: list[float], baseline: float, labels: list[str]) -> str:
    """Columns of '#' per minute, with the baseline drawn as '-' where it is not covered."""
    if not values:
        return "(no data in this range)"
    top = max(*values, baseline, 1.0)
    rows = []
    for level in range(CHART_HEIGHT, 0, -1):
        floor = top * (level - 0.5) / CHART_HEIGHT
        cells = ["#" if v >= floor else ("-" if abs(baseline - floor) <= top / CHART_HEIGHT / 2
                                         else " ") for v in values]
        rows.append(f"{top * level / CHART_HEIGHT:>9.1f} |" + "".join(cells))
    rows.append(" " * 10 + "+" + "-" * len(values))
    rows.append(" " * 11 + labels[0] + " " * max(len(values) - 10, 1) + labels[-1])
    rows.append(" " * 11 + f"calls/min ('#'), baseline {baseline:g}/min ('-')")
    return "\n".join(rows)
