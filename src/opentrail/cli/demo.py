"""`opentrail demo`: generate realistic activity and send it to a running server."""

from __future__ import annotations

import re
import secrets
import time

import click

from opentrail.cli._options import client_options
from opentrail.cli.importer import Sender, Tally, open_client, progress_bar, run_ingest

__all__ = ["demo"]

_BATCH = 1000
_DAY = 86_400.0


def _send_demo(endpoint_url: str, profile: str | None, region: str | None, tally: Tally,
               *, seed: int, count: int, days: float, account: str) -> None:
    from opentrail.sources.demo import generate  # imported here: only this command needs it

    end = time.time()
    with open_client(endpoint_url, profile, region) as client, progress_bar() as progress:
        try:
            # Events go to the region the key signs for, so a lookup there finds them.
            records = generate(seed=seed, count=count, start=end - days * _DAY, end=end,
                               account=account, regions=(client.region,))
        except ValueError as exc:  # e.g. --region is not an AWS-style region name
            raise click.UsageError(f"cannot generate demo events: {exc}.") from exc
        task = progress.add_task("events", total=count, note=f"seed {seed}")
        sender = Sender(client, tally, _BATCH, lambda n: progress.advance(task, n))
        for index, record in enumerate(records):
            sender.add(record, ("demo event", index))
        sender.flush()


def _check_account(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if not re.fullmatch(r"\d{12}", value):
        raise click.BadParameter(f"{value!r} is not a 12-digit AWS account ID.")
    return value


@click.command("demo")
@client_options
@click.option("--events", "count", type=click.IntRange(min=1), default=5000,
              show_default=True, help="How many events to generate.")
@click.option("--days", type=click.FloatRange(min=0, min_open=True), default=3.0,
              show_default=True, help="Spread them over this many days, ending now.")
@click.option("--seed", type=int,
              help="Seed for the generator: the same seed gives the same users, calls and "
                   "errors (times follow the clock). Default: random, and printed.")
@click.option("--account", default="123456789012", show_default=True, metavar="ID",
              callback=_check_account,
              help="Account ID written into the events (recipientAccountId). The key "
                   "must belong to this account, or be an organization key.")
def demo(*, endpoint_url: str, profile: str | None, region: str | None, count: int,
         days: float, seed: int | None, account: str) -> None:
    """Generate realistic demo activity and send it to a running server.

    Records shaped like a real trail's: IAM users, assumed roles, root, AWS services,
    console sign-ins, S3 and Lambda data events, service events, a realistic share of
    errors and one injected burst of failed calls by a leaked key. They are spread over
    --days, ending now, in the region the requests are signed for (--region); data
    events are stored but, as in CloudTrail, not returned by lookup-events. The burst
    shows as CloudTrail Insights once a trail of the account has Insights selectors
    (`aws cloudtrail put-insight-selectors`; `opentrail quickstart` sets one up).

    Sent like `opentrail import`, with the same exit status: 0 when everything was
    stored (or was already there), 1 if events were rejected, 2 if the server could not
    be reached or refused the credentials. The key needs the writer role.

    \b
    Examples:
      opentrail demo --endpoint-url http://127.0.0.1:8420 --events 20000 --days 7
      opentrail lookup-events --lookup-attributes EventName=ConsoleLogin --output table
    """
    seed = secrets.randbits(32) if seed is None else seed
    click.echo(f"Generating {count:,} events over {days:g} days for account {account} "
               f"(seed {seed}).", err=True)
    tally = Tally()
    run_ingest(tally, lambda: _send_demo(endpoint_url, profile, region, tally, seed=seed,
                                         count=count, days=days, account=account),
               files=False)
