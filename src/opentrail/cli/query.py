"""`opentrail query "SELECT ..."`: a CloudTrail Lake query through boto3, printed.

StartQuery, then DescribeQuery until the query ends (or --wait runs out), then every page
of GetQueryResults, printed as a table, CSV or JSON. The same wire as
`aws cloudtrail start-query` / `get-query-results`.
"""

from __future__ import annotations

import csv
import json
import sys
import time
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from opentrail.cli._options import client_options
from opentrail.cli.lookup import _aws_errors, cloudtrail_client

__all__ = ["query"]

ENDED = ("FINISHED", "FAILED", "CANCELLED", "TIMED_OUT")


def _statement(sql: str) -> str:
    if sql == "-":
        return sys.stdin.read()
    if sql.startswith("file://"):
        return Path(sql.removeprefix("file://")).read_text()
    return sql


def _wait(client: Any, query_id: str, wait: float) -> dict[str, Any]:
    """DescribeQuery until the query ends or `wait` seconds passed."""
    deadline, pause = time.monotonic() + wait, 0.1
    while True:
        info: dict[str, Any] = client.describe_query(QueryId=query_id)
        if info["QueryStatus"] in ENDED or time.monotonic() >= deadline:
            return info
        time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
        pause = min(pause * 2, 2.0)


def _rows(client: Any, query_id: str) -> list[list[dict[str, str]]]:
    rows: list[list[dict[str, str]]] = []
    token = None
    while True:
        kw: dict[str, Any] = {"QueryId": query_id}
        if token:
            kw["NextToken"] = token
        page = client.get_query_results(**kw)
        rows += page.get("QueryResultRows", [])
        token = page.get("NextToken")
        if not token:
            return rows


def _columns(rows: list[list[dict[str, str]]]) -> list[str]:
    return [next(iter(cell)) for cell in rows[0]] if rows else []


def _values(row: list[dict[str, str]]) -> list[str]:
    return [next(iter(cell.values())) for cell in row]


def _print(output: str, info: dict[str, Any], rows: list[list[dict[str, str]]]) -> None:
    if output == "json":
        result: dict[str, Any] = {k: info[k] for k in ("QueryId", "QueryStatus",
                                                        "QueryStatistics") if k in info}
        result["QueryResultRows"] = rows
        click.echo(json.dumps(result, indent=4, ensure_ascii=False, default=str))
    elif output == "csv":
        writer = csv.writer(sys.stdout)
        if rows:
            writer.writerow(_columns(rows))
        writer.writerows(_values(row) for row in rows)
    else:
        console = Console()
        if not console.is_terminal:
            console.width = 250
        table = Table(*_columns(rows))
        for row in rows:
            table.add_row(*_values(row))
        console.print(table)
        stats = info.get("QueryStatistics", {})
        click.echo(f"{len(rows):,} rows; {stats.get('EventsScanned', 0):,} events and "
                   f"{stats.get('BytesScanned', 0):,} bytes scanned in "
                   f"{stats.get('ExecutionTimeInMillis', 0):,} ms.", err=True)


@click.command("query")
@click.argument("sql")
@client_options
@click.option("--output", type=click.Choice(["table", "csv", "json"]), default="table",
              show_default=True,
              help="table: one line per row; csv: a header, then the rows; json: QueryId, "
                   "QueryStatus, QueryStatistics and QueryResultRows as the API returns them.")
@click.option("--wait", type=click.FloatRange(min=0), default=3600, show_default=True,
              metavar="SECONDS",
              help="How long to wait for the query to end; then its QueryId is printed and "
                   "the query keeps running on the server.")
@click.option("--delivery-s3-uri", metavar="S3URI",
              help="Also deliver the results as CSV (with a signed result_sign.json) to "
                   "s3://BUCKET/PREFIX of the server's trail storage.")
@click.option("--owner-account-id", metavar="ACCOUNT",
              help="EventDataStoreOwnerAccountId: the account whose stores FROM names "
                   "(organization keys).")
def query(sql: str, endpoint_url: str, profile: str | None, region: str | None,
          output: str, wait: float, delivery_s3_uri: str | None,
          owner_account_id: str | None) -> None:
    """Run a CloudTrail Lake SQL query and print its rows.

    SQL is the statement itself, `-` to read it from stdin, or file://PATH. Name event
    data stores by their ID in FROM (hyphens and all, unquoted). Errors print as
    `error: <Code>: <message>` (exit status 1); a query that fails, times out or is
    cancelled exits with 1 after saying why; connection or credential problems exit
    with 2.

    \b
    Example:
      opentrail query "SELECT eventname, count(*) AS n FROM 6b1c5a62-0c2e-4e8f-8bd1-bcf6c3ee1f01
                       WHERE eventtime > '2024-01-01' GROUP BY eventname ORDER BY n DESC"
    """
    params: dict[str, Any] = {"QueryStatement": _statement(sql)}
    if delivery_s3_uri:
        params["DeliveryS3Uri"] = delivery_s3_uri
    if owner_account_id:
        params["EventDataStoreOwnerAccountId"] = owner_account_id
    with _aws_errors():
        client = cloudtrail_client(endpoint_url, profile, region)
        query_id = client.start_query(**params)["QueryId"]
        info = _wait(client, query_id, wait)
        status = info["QueryStatus"]
        if status not in ENDED:
            click.echo(f"Query {query_id} is still {status} after {wait:g} s; read it later "
                       f"with `aws cloudtrail get-query-results --query-id {query_id}`.",
                       err=True)
            sys.exit(1)
        if status != "FINISHED":
            reason = info.get("ErrorMessage") or "no reason given"
            click.echo(f"error: query {query_id} ended {status}: {reason}", err=True)
            sys.exit(1)
        _print(output, info, _rows(client, query_id))
