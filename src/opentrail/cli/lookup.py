"""`opentrail lookup-events` and `opentrail download`: event history through boto3.

Both use boto3's cloudtrail client and its LookupEvents paginator against --endpoint-url,
so they exercise exactly the wire that `aws cloudtrail lookup-events` uses.
"""

from __future__ import annotations

import csv
import json
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, TypeVar

import boto3.session
import botocore.session
import click
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from opentrail import __version__
from opentrail.cli._options import DEFAULT_REGION, client_options
from opentrail.history import CSV_COLUMNS, csv_row, escape_cell, event_record, time_text

__all__ = [
    "CSV_COLUMNS", "csv_row", "download", "escape_cell", "lookup_events",
    "parse_lookup_attributes", "parse_time",
]

F = TypeVar("F", bound=Callable[..., Any])
Event = Mapping[str, Any]
_PAGE_MAX = 50  # LookupEvents' MaxResults cap


# --- arguments -------------------------------------------------------------------------

_SHORTHAND = (
    re.compile(r"AttributeKey=(?P<key>[^,]*),AttributeValue=(?P<value>.*)", re.S),
    re.compile(r"AttributeValue=(?P<value>.*),AttributeKey=(?P<key>[^,]*)", re.S),
    re.compile(r"(?P<key>(?!Attribute(Key|Value)=)[A-Za-z]+)=(?P<value>.*)", re.S),
)
_ATTRIBUTE_FORMS = ("AttributeKey=<key>,AttributeValue=<value>, <key>=<value>, or the JSON "
                    'list [{"AttributeKey": ..., "AttributeValue": ...}]')


def _attribute(key: object, value: object) -> dict[str, str]:
    if not isinstance(key, str) or not key or not isinstance(value, str) or not value:
        raise ValueError(f"a lookup attribute needs a key and a non-empty value: "
                         f"{_ATTRIBUTE_FORMS}.")
    if len(value) > 1 and value[0] == value[-1] and value[0] in "\"'":
        value = value[1:-1]  # the aws CLI's shorthand allows quoting a value
    return {"AttributeKey": key, "AttributeValue": value}


def _from_json(text: str) -> list[dict[str, str]]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"the lookup attributes are not valid JSON ({exc}).") from exc
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(i, dict) and set(i) == {"AttributeKey", "AttributeValue"}
               for i in items):
        raise ValueError(f"each JSON lookup attribute must have exactly AttributeKey and "
                         f"AttributeValue: {_ATTRIBUTE_FORMS}.")
    return [_attribute(i["AttributeKey"], i["AttributeValue"]) for i in items]


def _parse_one(text: str) -> list[dict[str, str]]:
    text = text.strip()
    if text.startswith("file://"):  # as in the aws CLI: the value is read from a file
        text = Path(text.removeprefix("file://")).read_text().strip()
    if text.startswith(("[", "{")):
        return _from_json(text)
    for pattern in _SHORTHAND:
        if match := pattern.fullmatch(text):
            return [_attribute(match["key"], match["value"])]
    raise ValueError(f"cannot read {text!r}: use {_ATTRIBUTE_FORMS}.")


def parse_lookup_attributes(values: Iterable[str]) -> list[dict[str, str]]:
    """Every --lookup-attributes value, in order; the server ANDs them."""
    return [item for value in values for item in _parse_one(value)]


def parse_time(text: str) -> datetime:
    """ISO 8601 (naive means UTC, as botocore sends it) or epoch seconds."""
    text = text.strip()
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return datetime.fromtimestamp(float(text), UTC)
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"{text!r} is neither ISO 8601 (2024-05-01T12:00:00Z) nor "
                         f"epoch seconds.") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _time_callback(ctx: click.Context, param: click.Parameter,
                   value: str | None) -> datetime | None:
    # A callback, not a ParamType subclass: ParamType is generic only from click 8.2 on.
    try:
        return None if value is None else parse_time(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from exc


def _attributes_callback(ctx: click.Context, param: click.Parameter,
                         values: tuple[str, ...]) -> list[dict[str, str]]:
    try:
        return parse_lookup_attributes(values)
    except (ValueError, OSError) as exc:
        raise click.BadParameter(str(exc)) from exc


def filter_options(f: F) -> F:
    """The LookupEvents filters, plus the client options."""
    f = click.option("--event-category", type=click.Choice(["insight"]),
                     help="Return Insights events instead of management events.")(f)
    f = click.option("--end-time", callback=_time_callback, metavar="TIME",
                     help="Latest event time, inclusive (ISO 8601 or epoch seconds).")(f)
    f = click.option("--start-time", callback=_time_callback, metavar="TIME",
                     help="Earliest event time, inclusive (ISO 8601 or epoch seconds; "
                          "a time without an offset is UTC).")(f)
    f = click.option(
        "--lookup-attributes", "lookup_attributes", multiple=True, metavar="ATTR",
        callback=_attributes_callback,
        help="Filter: AttributeKey=EventName,AttributeValue=ConsoleLogin (or the short "
             "EventName=ConsoleLogin, or the aws CLI's JSON list, or file://path). "
             "Repeat it to AND several attributes. Keys: EventId, EventName, ReadOnly, "
             "Username, ResourceType, ResourceName, EventSource, AccessKeyId, and on "
             "OpenTrail also ErrorCode, UserIdentityArn, SourceIPAddress, EventType, "
             "RecipientAccountId.",
    )(f)
    return client_options(f)


def _lookup_params(attributes: list[dict[str, str]], start: datetime | None,
                   end: datetime | None, category: str | None) -> dict[str, Any]:
    params: dict[str, Any] = {"LookupAttributes": attributes, "StartTime": start,
                              "EndTime": end, "EventCategory": category}
    return {k: v for k, v in params.items() if v}


# --- talking to the server -------------------------------------------------------------

def cloudtrail_client(endpoint_url: str, profile: str | None, region: str | None) -> Any:
    """A boto3 cloudtrail client for the server, with the standard credential chain."""
    core = botocore.session.Session(profile=profile)
    # Timestamps stay as sent (epoch seconds), which is what aws CLI v1 prints.
    core.get_component("response_parser_factory").set_parser_defaults(
        timestamp_parser=lambda value: value)
    session = boto3.session.Session(botocore_session=core)
    config = Config(user_agent_extra=f"opentrail-cli/{__version__}",
                    retries={"mode": "standard", "max_attempts": 4})
    return session.client("cloudtrail", endpoint_url=endpoint_url, config=config,
                          region_name=region or core.get_config_variable("region")
                          or DEFAULT_REGION)


@contextmanager
def _aws_errors() -> Iterator[None]:
    """One clear line instead of a traceback: 1 for server errors, 2 for the rest."""
    try:
        yield
    except ClientError as exc:
        error = exc.response.get("Error", {})
        click.echo(f"error: {error.get('Code', 'Unknown')}: {error.get('Message', '')}",
                   err=True)
        sys.exit(1)
    except BotoCoreError as exc:  # no credentials, connection refused, bad profile…
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)


def _pages(client: Any, params: Mapping[str, Any],
           pagination: Mapping[str, Any]) -> Any:
    paginator = client.get_paginator("lookup_events")
    return paginator.paginate(**params, PaginationConfig=dict(pagination))


# --- rendering -------------------------------------------------------------------------

def _table(events: Sequence[Event]) -> Table:
    table = Table("Time", "EventName", "Username", "EventSource", "Resources", "ReadOnly",
                  "ErrorCode", "SourceIP", show_lines=False)
    for event in events:
        record = event_record(event)
        resources = "\n".join(f"{r.get('ResourceType', '')}: {r.get('ResourceName', '')}"
                              for r in event.get("Resources") or [])
        table.add_row(time_text(event.get("EventTime")), event.get("EventName", ""),
                      event.get("Username", ""), event.get("EventSource", ""), resources,
                      event.get("ReadOnly", ""), record.get("errorCode", ""),
                      record.get("sourceIPAddress", ""))
    return table


def _write_csv(out: IO[str], events: Iterable[Event]) -> int:
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    count = 0
    for event in events:
        writer.writerow(csv_row(event))
        count += 1
    return count


def _write_json(out: IO[str], events: Iterable[Event]) -> int:
    # Written record by record: the CloudTrailEvent string is already the record's JSON.
    out.write('{"Records":[')
    count = 0
    for count, event in enumerate(events, 1):
        out.write(("\n" if count == 1 else ",\n") + str(event.get("CloudTrailEvent") or "{}"))
    out.write("\n]}\n")
    return count


# --- lookup-events ---------------------------------------------------------------------

def _print_events(output: str, client: Any, params: dict[str, Any],
                  pagination: dict[str, Any]) -> None:
    pages = _pages(client, params, pagination)
    if output == "json":  # exactly what aws CLI v1 prints
        result = pages.build_full_result()
        click.echo(json.dumps(result, indent=4, ensure_ascii=False, default=str))
        return
    events = (event for page in pages for event in page.get("Events", []))
    if output == "csv":
        _write_csv(sys.stdout, events)
    else:
        console = Console()
        if not console.is_terminal:  # piped: no terminal width to fit, so do not squeeze
            console.width = 250
        console.print(_table(list(events)))
    if pages.resume_token:
        click.echo(f"More events: --starting-token {pages.resume_token}", err=True)


@click.command("lookup-events")
@filter_options
@click.option("--max-items", type=click.IntRange(min=1),
              help="Total events to return across pages; when more remain, a NextToken "
                   "is returned for --starting-token.")
@click.option("--page-size", type=click.IntRange(1, _PAGE_MAX),
              help="Events per request (MaxResults, 1-50).")
@click.option("--starting-token", help="The NextToken of an earlier, truncated call.")
@click.option("--output", "output", type=click.Choice(["json", "table", "csv"]),
              default="json", show_default=True,
              help='json: {"Events": [...], "NextToken": ...} as the aws CLI prints it; '
                   "table: one line per event; csv: the columns of `opentrail download`.")
def lookup_events(*, lookup_attributes: list[dict[str, str]], start_time: datetime | None,
                  end_time: datetime | None, event_category: str | None,
                  endpoint_url: str, profile: str | None, region: str | None,
                  max_items: int | None, page_size: int | None,
                  starting_token: str | None, output: str) -> None:
    """Look up events, like `aws cloudtrail lookup-events`, newest first.

    Management events of the region (or Insights events with --event-category insight),
    filtered by lookup attributes and a time range. All pages are fetched unless
    --max-items is given. Server errors are printed as `error: <Code>: <message>`
    (exit status 1); connection or credential problems exit with 2.

    \b
    Examples:
      opentrail lookup-events --lookup-attributes AttributeKey=EventName,AttributeValue=ConsoleLogin
      opentrail lookup-events --lookup-attributes EventName=DeleteBucket \\
          --lookup-attributes Username=alice --start-time 2024-05-01 --output table
    """
    params = _lookup_params(lookup_attributes, start_time, end_time, event_category)
    pagination = {"MaxItems": max_items, "PageSize": page_size,
                  "StartingToken": starting_token}
    with _aws_errors():
        client = cloudtrail_client(endpoint_url, profile, region)
        _print_events(output, client, params, {k: v for k, v in pagination.items() if v})


# --- download --------------------------------------------------------------------------

@contextmanager
def _output_file(target: str) -> Iterator[IO[str]]:
    """stdout for "-"; else a temporary file renamed into place only when complete."""
    if target == "-":
        yield sys.stdout
        return
    path = Path(target)
    partial = path.with_name(f".{path.name}.partial")
    try:
        with partial.open("w", encoding="utf-8", newline="") as out:
            yield out
        partial.replace(path)
    finally:
        partial.unlink(missing_ok=True)


def _counted(events: Iterator[Event], progress: Progress) -> Iterator[Event]:
    task = progress.add_task("download", total=None)
    for event in events:
        progress.advance(task)
        yield event


def _download(client: Any, params: dict[str, Any], fmt: str, target: str) -> int:
    pages = _pages(client, params, {"PageSize": _PAGE_MAX})
    console = Console(stderr=True)
    progress = Progress(SpinnerColumn(), TextColumn("{task.completed:,.0f} events"),
                        TimeElapsedColumn(), console=console,
                        disable=not console.is_terminal)
    with progress, _output_file(target) as out:
        events = _counted((e for page in pages for e in page.get("Events", [])), progress)
        return (_write_csv if fmt == "csv" else _write_json)(out, events)


@click.command("download")
@filter_options
@click.option("--format", "fmt", type=click.Choice(["csv", "json"]),
              help="File format. Default: csv when FILE ends in .csv, else json.")
@click.option("-o", "--output-file", "target", required=True, metavar="FILE",
              help='Where to write ("-" for stdout).')
def download(*, lookup_attributes: list[dict[str, str]], start_time: datetime | None,
             end_time: datetime | None, event_category: str | None, endpoint_url: str,
             profile: str | None, region: str | None, fmt: str | None,
             target: str) -> None:
    """Write every event matching the filters to a CSV or JSON file.

    Pages through LookupEvents and writes each page as it arrives, so memory stays
    flat however many events match. The file appears only when complete (it is written
    under a temporary name first).

    \b
    json: {"Records": [...]} with the full CloudTrail records, as in a trail's log file.
    csv:  the columns of the CloudTrail console's download: Event ID, Event time,
          User name, Event name, Resource type, Resource name, AWS access key,
          Event source, AWS region, Error code, Source IP address, Read-only,
          CloudTrail event.

    CSV injection: a cell that starts with = + - @, a tab or a carriage return gets a
    leading single quote (') so spreadsheets show it as text instead of running it as
    a formula. Strip that quote if you feed the CSV to anything but a spreadsheet.

    \b
    Example:
      opentrail download --lookup-attributes Username=alice --start-time 2024-05-01 \\
          --format csv -o alice.csv
    """
    fmt = fmt or ("csv" if target.lower().endswith(".csv") else "json")
    params = _lookup_params(lookup_attributes, start_time, end_time, event_category)
    with _aws_errors():
        count = _download(cloudtrail_client(endpoint_url, profile, region), params, fmt,
                          target)
    where = "stdout" if target == "-" else target
    click.echo(f"Wrote {count:,} events to {where}.", err=target == "-")
