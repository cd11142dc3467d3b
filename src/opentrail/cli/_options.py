"""Options shared by the commands that talk to a running server as an AWS client."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

__all__ = ["DEFAULT_ENDPOINT", "DEFAULT_REGION", "ENDPOINT_ENV", "client_options"]

DEFAULT_ENDPOINT = "http://127.0.0.1:8420"
ENDPOINT_ENV = "OPENTRAIL_ENDPOINT_URL"
DEFAULT_REGION = "us-east-1"  # when neither --region, the environment nor a profile names one

F = TypeVar("F", bound=Callable[..., Any])


def _check_url(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if not value.startswith(("http://", "https://")):
        raise click.BadParameter(f"{value!r} is not an http:// or https:// URL.")
    return value.rstrip("/")


def client_options(f: F) -> F:
    """--endpoint-url, --profile and --region, with the standard AWS credential chain."""
    f = click.option(
        "--region", metavar="REGION",
        help="Region to sign requests for and to read from. Default: AWS_REGION / "
             "AWS_DEFAULT_REGION, the profile's region, else us-east-1.",
    )(f)
    f = click.option(
        "--profile", metavar="NAME",
        help="Named profile from ~/.aws/credentials or ~/.aws/config. Without it, the "
             "standard AWS chain applies: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, "
             "AWS_PROFILE, the default profile.",
    )(f)
    return click.option(
        "--endpoint-url", envvar=ENDPOINT_ENV, default=DEFAULT_ENDPOINT, show_default=True,
        show_envvar=True, callback=_check_url, metavar="URL",
        help="Base URL of the OpenTrail server.",
    )(f)
