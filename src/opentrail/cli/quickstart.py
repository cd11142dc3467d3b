"""`opentrail quickstart`: a running server with demo activity and a key, in one command.

Everything a new user should see on the first run is set up through the real API, as a
user would do it (so it is self-audited like any other change): a trail `quickstart`
delivering to the local folder with log file validation and Insights selectors, an event
data store `quickstart` (CloudTrail Lake), then the demo activity, which both receive. The
Insights engine follows the ledger as soon as the trail asks for Insights, so the demo's
injected burst becomes an Insight within a minute. Once the Lake writer has written the
demo to the store, one of CloudTrail Lake's sample queries runs through StartQuery, and
the banner prints it, its answer, and how to run it again (`opentrail query`, the
console's Lake page).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from opentrail.config import DEFAULT_PORT, Settings, default_data_dir, validate_settings

if TYPE_CHECKING:
    from opentrail.service import Service

__all__ = ["DEMO_BUCKET", "DEMO_STORE", "DEMO_TRAIL", "quickstart", "sample_query"]

DEMO_ACCOUNT = "123456789012"
DEMO_TRAIL = "quickstart"
DEMO_BUCKET = "quickstart-trail"
DEMO_STORE = "quickstart"
INSIGHT_TYPES = ("ApiCallRateInsight", "ApiErrorRateInsight")
SAMPLE_TITLE = "the top IAM actions by principal"
SAMPLE_ROWS = 5
LAKE_WAIT = 60.0  # seconds the banner waits for the demo to be written and queried


@dataclass(frozen=True)
class Loaded:
    """What `_load_demo` stored: every record, and how many of them are management events
    (what the default event data store selects)."""

    events: int
    management: int


@dataclass(frozen=True)
class LakeShown:
    """The quickstart store and the sample query's answer (None: the Lake part failed)."""

    store_id: str
    sql: str
    rows: list[list[dict[str, str]]] | None
    problem: str | None = None


def sample_query(store_id: str, since: float) -> str:
    """CloudTrail Lake's "top IAM actions by principal" sample over `store_id` (by ARN
    rather than principal id, which is easier to read), bounded by time as CloudTrail
    advises, on one line (it is pasted into a shell). Ties are ordered by name and ARN,
    so the printed command gives the banner's rows again: without that, which of equal
    counts make the LIMIT depends on file order, and compaction rewrites the files."""
    start = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(since))
    return (f"SELECT COUNT(*) AS apiCount, eventName, userIdentity.arn FROM {store_id} "
            f"WHERE eventTime >= '{start}' AND eventSource = 'iam.amazonaws.com' "
            f"GROUP BY eventName, userIdentity.arn "
            f"ORDER BY apiCount DESC, eventName, userIdentity.arn LIMIT {SAMPLE_ROWS}")


def _load_demo(service: object, count: int, region: str) -> Loaded:
    from opentrail.events import Category, parse_record
    from opentrail.service import Service
    from opentrail.sources.demo import generate

    assert isinstance(service, Service)
    end = time.time()
    records = [parse_record(r, default_account=DEMO_ACCOUNT, default_region=region)
               for r in generate(seed=7, count=count, start=end - 3 * 86400, end=end,
                                 account=DEMO_ACCOUNT, regions=(region,))]
    for i in range(0, len(records), 5000):
        service.writer.submit(records[i : i + 5000]).result()
    return Loaded(len(records), sum(r.category == Category.MANAGEMENT for r in records))


def _wait_healthy(endpoint: str, timeout: float = 60.0) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{endpoint}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise RuntimeError(f"the server at {endpoint} did not answer /health")


def _client(endpoint: str, region: str, key_id: str, secret: str) -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "cloudtrail", endpoint_url=endpoint, region_name=region,
        aws_access_key_id=key_id, aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 3}))


def _demo_trail(client: Any) -> None:
    """The trail `quickstart`: logging, log file validation, both Insights types."""
    if not client.describe_trails(trailNameList=[DEMO_TRAIL])["trailList"]:
        client.create_trail(Name=DEMO_TRAIL, S3BucketName=DEMO_BUCKET,
                            EnableLogFileValidation=True)
        client.put_insight_selectors(
            TrailName=DEMO_TRAIL,
            InsightSelectors=[{"InsightType": kind} for kind in INSIGHT_TYPES])
    client.start_logging(Name=DEMO_TRAIL)


def _demo_store(client: Any) -> str:
    """The event data store `quickstart` (management events, the default selectors):
    created before the demo is loaded, so it receives the demo. Returns its id."""
    arn: str = client.create_event_data_store(Name=DEMO_STORE)["EventDataStoreArn"]
    return arn.rsplit("/", 1)[1]


def _write_lake(service: Service, until: float) -> None:
    """Have the Lake writer write what the ledger holds now, without waiting for its
    batch to fill (it would write within seconds anyway: this only saves the wait)."""
    writer, target = service.lake_writer, service.writer.size
    while writer is not None and writer.cursor < target and time.monotonic() < until:
        if not writer.step(force=True):
            time.sleep(0.05)


def _run_sample(client: Any, sql: str, until: float) -> list[list[dict[str, str]]]:
    """StartQuery, DescribeQuery until it ends, its first page of rows."""
    query_id = client.start_query(QueryStatement=sql)["QueryId"]
    while True:
        info = client.describe_query(QueryId=query_id)
        if info["QueryStatus"] not in ("QUEUED", "RUNNING"):
            break
        if time.monotonic() >= until:
            raise RuntimeError(f"the sample query {query_id} is still {info['QueryStatus']}")
        time.sleep(0.05)
    if info["QueryStatus"] != "FINISHED":
        raise RuntimeError(f"the sample query ended {info['QueryStatus']}: "
                           f"{info.get('ErrorMessage') or 'no reason given'}")
    rows: list[list[dict[str, str]]] = client.get_query_results(
        QueryId=query_id)["QueryResultRows"]
    return rows


def _show_lake(service: Service, client: Any, store_id: str) -> LakeShown:
    sql = sample_query(store_id, (time.time() - 3 * 86400) // 86400 * 86400)  # the demo's days
    until = time.monotonic() + LAKE_WAIT
    try:
        _write_lake(service, until)
        return LakeShown(store_id, sql, _run_sample(client, sql, until))
    except Exception as exc:  # the rest of the first run is still worth showing
        return LakeShown(store_id, sql, None, str(exc))


def _loaded(loaded: Loaded, fresh: bool, region: str) -> str:
    if fresh:
        return (f"Demo activity loaded: {loaded.events} events for account {DEMO_ACCOUNT}, "
                f"region {region} ({loaded.management} management events, "
                f"{loaded.events - loaded.management} data events).")
    return ("The data dir already had events: no demo activity loaded, no trail and no event "
            "data store created (a fresh --data-dir gets all three).")


def _table(rows: list[list[dict[str, str]]]) -> list[str]:
    """Rows of GetQueryResults as aligned text lines (header first)."""
    if not rows:
        return ["(no rows)"]
    header = [next(iter(cell)) for cell in rows[0]]
    values = [[next(iter(cell.values())) for cell in row] for row in rows]
    widths = [max(len(str(v)) for v in column) for column in zip(header, *values, strict=True)]
    return ["  ".join(str(v).ljust(w) for v, w in zip(line, widths, strict=True)).rstrip()
            for line in (header, *values)]


def _lake_text(lake: LakeShown | None, endpoint: str, region: str, key_id: str,
               secret: str) -> str:
    if lake is None:
        return ""
    intro = (f"Event data store '{DEMO_STORE}' (CloudTrail Lake, id {lake.store_id})\n"
             "holds the demo's management events as Parquet files. CloudTrail Lake's sample "
             f"query for\n{SAMPLE_TITLE}")
    if lake.rows is None:
        answer = f" could not run yet ({lake.problem}).\n"
    else:
        answer = " answers:\n" + "".join(f"    {line}\n" for line in _table(lake.rows))
    return f"""
{intro}{answer}Run it, or your own SQL, in the console's SQL editor at {endpoint}/lake, or:
  AWS_ACCESS_KEY_ID={key_id} AWS_SECRET_ACCESS_KEY={secret} \\
  opentrail query --endpoint-url {endpoint} --region {region} \\
    "{lake.sql}"
"""


def _banner(settings: Settings, loaded: Loaded, key_id: str, secret: str, *,
            fresh: bool = True, lake: LakeShown | None = None) -> str:
    endpoint = f"http://{settings.host}:{settings.port}"
    bucket = settings.data_dir / "buckets" / DEMO_BUCKET
    lake_text = _lake_text(lake, endpoint, settings.region, key_id, secret)
    return f"""
OpenTrail is running at {endpoint}   (data: {settings.data_dir})
{_loaded(loaded, fresh, settings.region)}

This key was created for you (the secret is shown only now):
  AWS_ACCESS_KEY_ID={key_id}
  AWS_SECRET_ACCESS_KEY={secret}

Open the console at {endpoint}/ and sign in with that key, then look at:
  {endpoint}/activity   events per hour: the spike of errors is the injected incident
  {endpoint}/insights   the same burst as CloudTrail Insights (they appear within a minute)
  {endpoint}/trails     trail '{DEMO_TRAIL}': log files and signed digests, "Validate now"
  {endpoint}/events     event history, filter by user, event name, IP address ...
  {endpoint}/lake       event data stores: SQL over the events (CloudTrail Lake)

Trail '{DEMO_TRAIL}' delivers log files every {settings.delivery_interval:g} s and digests every \
{settings.digest_interval:g} s to
  {bucket}
{lake_text}
Try it from another terminal:
  AWS_ACCESS_KEY_ID={key_id} AWS_SECRET_ACCESS_KEY={secret} \\
  aws cloudtrail lookup-events --endpoint-url {endpoint} --region {settings.region} \\
    --lookup-attributes AttributeKey=EventName,AttributeValue=ConsoleLogin --max-items 5
  AWS_ACCESS_KEY_ID={key_id} AWS_SECRET_ACCESS_KEY={secret} \\
  opentrail insights list --endpoint-url {endpoint} --region {settings.region}

Press Ctrl+C to stop.
"""


def _set_up(service: Service, settings: Settings, events: int, key_id: str,
            secret: str, *, fresh: bool) -> None:
    """Runs beside the server: the trail and the event data store through the API, then
    the demo, then the sample query, then the banner. A data dir that already had events
    gets none of them (never demo data in real data)."""
    loaded, lake = Loaded(0, 0), None
    try:
        endpoint = f"http://{settings.host}:{settings.port}"
        _wait_healthy(endpoint)
        if fresh:
            client = _client(endpoint, settings.region, key_id, secret)
            _demo_trail(client)
            store_id = _demo_store(client)
            loaded = _load_demo(service, events, settings.region)
            lake = _show_lake(service, client, store_id)
    except Exception as exc:  # the server keeps running; say what is missing
        click.echo(f"quickstart: could not set up the demo ({exc}).", err=True)
        return
    click.echo(_banner(settings, loaded, key_id, secret, fresh=fresh, lake=lake))


@click.command()
@click.option("--data-dir", type=click.Path(path_type=Path), default=default_data_dir,
              show_default="per-user data dir", help="Where the ledger and keys live.")
@click.option("--port", type=int, default=DEFAULT_PORT, show_default=True, help="TCP port.")
@click.option("--events", type=click.IntRange(min=0), default=5000, show_default=True,
              help="Demo events to load into a new data dir (3 days of activity).")
@click.option("--delivery-interval", type=int, default=60, show_default=True,
              help="Seconds between the demo trail's log files (serve's default is 300).")
@click.option("--digest-interval", type=int, default=300, show_default=True,
              help="Seconds between the demo trail's digests (serve's default is 3600).")
def quickstart(data_dir: Path, port: int, events: int, delivery_interval: int,
               digest_interval: int) -> None:
    """Start OpenTrail on its embedded default (SQLite, local folder, DuckDB) with demo
    activity, a trail with log file validation and Insights, an event data store holding
    the demo for SQL, and a fresh admin key; print where to look in the console, a sample
    Lake query with its answer, and ready-to-paste `aws cloudtrail lookup-events` and
    `opentrail query` lines.
    """
    from opentrail.auth import KeyStore, Role
    from opentrail.cli.serve import serve_service
    from opentrail.service import Service

    settings = replace(Settings(), data_dir=data_dir, port=port,
                       delivery_interval=delivery_interval, digest_interval=digest_interval)
    try:
        settings = validate_settings(settings)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from exc
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    principal, secret = KeyStore(settings.data_dir).create(
        account=DEMO_ACCOUNT, organization=False, role=Role.ADMIN, name="quickstart")
    service = Service.open(settings)
    threading.Thread(target=_set_up, name="quickstart-setup", daemon=True,
                     args=(service, settings, events, principal.access_key_id, secret),
                     kwargs={"fresh": service.writer.size == 0}).start()
    serve_service(service)
