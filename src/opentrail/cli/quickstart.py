"""`opentrail quickstart`: a running server with demo activity and a key, in one command."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path

import click

from opentrail.config import DEFAULT_PORT, Settings, default_data_dir

__all__ = ["quickstart"]

DEMO_ACCOUNT = "123456789012"


def _load_demo(service: object, count: int, region: str) -> int:
    from opentrail.events import parse_record
    from opentrail.service import Service
    from opentrail.sources.demo import generate

    assert isinstance(service, Service)
    if service.writer.size > 0:
        return 0  # the data dir already has events: never load demo data twice
    end = time.time()
    records = [parse_record(r, default_account=DEMO_ACCOUNT, default_region=region)
               for r in generate(seed=7, count=count, start=end - 3 * 86400, end=end,
                                 account=DEMO_ACCOUNT, regions=(region,))]
    for i in range(0, len(records), 5000):
        service.writer.submit(records[i : i + 5000]).result()
    return len(records)


@click.command()
@click.option("--data-dir", type=click.Path(path_type=Path), default=default_data_dir,
              show_default="per-user data dir", help="Where the ledger and keys live.")
@click.option("--port", type=int, default=DEFAULT_PORT, show_default=True, help="TCP port.")
@click.option("--events", type=int, default=5000, show_default=True,
              help="Demo events to load into a new data dir (3 days of activity).")
def quickstart(data_dir: Path, port: int, events: int) -> None:
    """Start OpenTrail on its embedded default (SQLite, local folder) with demo activity
    and a fresh admin key, and print a ready-to-paste `aws cloudtrail lookup-events` line.
    """
    from opentrail.auth import KeyStore, Role
    from opentrail.cli.serve import serve_service
    from opentrail.service import Service

    settings = replace(Settings(), data_dir=data_dir, port=port)
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    principal, secret = KeyStore(settings.data_dir).create(
        account=DEMO_ACCOUNT, organization=False, role=Role.ADMIN, name="quickstart")
    service = Service.open(settings)
    loaded = _load_demo(service, events, settings.region)
    endpoint = f"http://{settings.host}:{settings.port}"
    click.echo(f"""
OpenTrail is running at {endpoint}   (data: {settings.data_dir})
Demo activity loaded: {loaded} events for account {DEMO_ACCOUNT}, region {settings.region}.

This key was created for you (the secret is shown only now):
  AWS_ACCESS_KEY_ID={principal.access_key_id}
  AWS_SECRET_ACCESS_KEY={secret}

Try it from another terminal:
  AWS_ACCESS_KEY_ID={principal.access_key_id} AWS_SECRET_ACCESS_KEY={secret} \\
  aws cloudtrail lookup-events --endpoint-url {endpoint} --region {settings.region} \\
    --lookup-attributes AttributeKey=EventName,AttributeValue=ConsoleLogin --max-items 5

Press Ctrl+C to stop.
""")
    serve_service(service)
