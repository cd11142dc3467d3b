"""`opentrail quickstart`: a running server with demo activity and a key, in one command.

Everything a new user should see on the first run is set up through the real API, as a
user would do it (so it is self-audited like any other change): a trail `quickstart`
delivering to the local folder with log file validation and Insights selectors, then the
demo activity. The Insights engine follows the ledger as soon as the trail asks for
Insights, so the demo's injected burst becomes an Insight within a minute.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import click

from opentrail.config import DEFAULT_PORT, Settings, default_data_dir, validate_settings

__all__ = ["DEMO_BUCKET", "DEMO_TRAIL", "quickstart"]

DEMO_ACCOUNT = "123456789012"
DEMO_TRAIL = "quickstart"
DEMO_BUCKET = "quickstart-trail"
INSIGHT_TYPES = ("ApiCallRateInsight", "ApiErrorRateInsight")


def _load_demo(service: object, count: int, region: str) -> int:
    from opentrail.events import parse_record
    from opentrail.service import Service
    from opentrail.sources.demo import generate

    assert isinstance(service, Service)
    end = time.time()
    records = [parse_record(r, default_account=DEMO_ACCOUNT, default_region=region)
               for r in generate(seed=7, count=count, start=end - 3 * 86400, end=end,
                                 account=DEMO_ACCOUNT, regions=(region,))]
    for i in range(0, len(records), 5000):
        service.writer.submit(records[i : i + 5000]).result()
    return len(records)


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


def _demo_trail(endpoint: str, region: str, key_id: str, secret: str) -> None:
    """The trail `quickstart`: logging, log file validation, both Insights types."""
    import boto3
    from botocore.config import Config

    client: Any = boto3.client(
        "cloudtrail", endpoint_url=endpoint, region_name=region,
        aws_access_key_id=key_id, aws_secret_access_key=secret,
        config=Config(retries={"max_attempts": 3}))
    if not client.describe_trails(trailNameList=[DEMO_TRAIL])["trailList"]:
        client.create_trail(Name=DEMO_TRAIL, S3BucketName=DEMO_BUCKET,
                            EnableLogFileValidation=True)
        client.put_insight_selectors(
            TrailName=DEMO_TRAIL,
            InsightSelectors=[{"InsightType": kind} for kind in INSIGHT_TYPES])
    client.start_logging(Name=DEMO_TRAIL)


def _loaded(loaded: int, fresh: bool, region: str) -> str:
    if fresh:
        return (f"Demo activity loaded: {loaded} events for account {DEMO_ACCOUNT}, "
                f"region {region}.")
    return ("The data dir already had events: no demo activity loaded and no trail created "
            "(a fresh --data-dir gets both).")


def _banner(settings: Settings, loaded: int, key_id: str, secret: str, *,
            fresh: bool = True) -> str:
    endpoint = f"http://{settings.host}:{settings.port}"
    bucket = settings.data_dir / "buckets" / DEMO_BUCKET
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

Trail '{DEMO_TRAIL}' delivers log files every {settings.delivery_interval:g} s and digests every \
{settings.digest_interval:g} s to
  {bucket}

Try it from another terminal:
  AWS_ACCESS_KEY_ID={key_id} AWS_SECRET_ACCESS_KEY={secret} \\
  aws cloudtrail lookup-events --endpoint-url {endpoint} --region {settings.region} \\
    --lookup-attributes AttributeKey=EventName,AttributeValue=ConsoleLogin --max-items 5
  AWS_ACCESS_KEY_ID={key_id} AWS_SECRET_ACCESS_KEY={secret} \\
  opentrail insights list --endpoint-url {endpoint} --region {settings.region}

Press Ctrl+C to stop.
"""


def _set_up(service: Any, settings: Settings, events: int, key_id: str,
            secret: str, *, fresh: bool) -> None:
    """Runs beside the server: the trail through the API, then the demo, then the banner.
    A data dir that already had events gets neither (never demo data in real data)."""
    loaded = 0
    try:
        endpoint = f"http://{settings.host}:{settings.port}"
        _wait_healthy(endpoint)
        if fresh:
            _demo_trail(endpoint, settings.region, key_id, secret)
            loaded = _load_demo(service, events, settings.region)
    except Exception as exc:  # the server keeps running; say what is missing
        click.echo(f"quickstart: could not set up the demo ({exc}).", err=True)
        return
    click.echo(_banner(settings, loaded, key_id, secret, fresh=fresh))


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
    """Start OpenTrail on its embedded default (SQLite, local folder) with demo activity,
    a trail with log file validation and Insights, and a fresh admin key; print where to
    look in the console and a ready-to-paste `aws cloudtrail lookup-events` line.
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
