"""Channel operations of the cloudtrail API (CreateChannel, GetChannel, ...)."""

from __future__ import annotations

from typing import Any

from opentrail.auth import AuthContext
from opentrail.channels import Channel, ChannelRegistry
from opentrail.errors import ValidationError

__all__ = ["CHANNEL_OPERATIONS"]


def _account(ctx: AuthContext) -> str:
    if ctx.principal.account is None:
        raise ValidationError("Channels belong to one account; use an account key, not an "
                              "organization key.", code="OperationNotPermittedException")
    return ctx.principal.account


def _required(params: dict[str, Any], name: str) -> Any:
    if params.get(name) in (None, ""):
        raise ValidationError(f"{name} is required.")
    return params[name]


def _shape(channel: Channel) -> dict[str, Any]:
    return {"ChannelArn": channel.arn, "Name": channel.name, "Source": channel.source,
            "Destinations": channel.destinations}


def create_channel(reg: ChannelRegistry, params: dict[str, Any], ctx: AuthContext) -> Any:
    tags = params.get("Tags") or []
    channel = reg.create(_account(ctx), ctx.region, _required(params, "Name"),
                         _required(params, "Source"), _required(params, "Destinations"), tags)
    return {**_shape(channel), "Tags": channel.tags}


def get_channel(reg: ChannelRegistry, params: dict[str, Any], ctx: AuthContext) -> Any:
    channel = reg.get(_account(ctx), ctx.region, _required(params, "Channel"))
    return {**_shape(channel),
            "SourceConfig": {"ApplyToAllRegions": False, "AdvancedEventSelectors": []},
            "IngestionStatus": channel.ingestion}


def list_channels(reg: ChannelRegistry, params: dict[str, Any], ctx: AuthContext) -> Any:
    # At most 25 channels per account and region: one page always holds them all.
    channels = reg.list(_account(ctx), ctx.region)
    return {"Channels": [{"ChannelArn": c.arn, "Name": c.name} for c in channels]}


def delete_channel(reg: ChannelRegistry, params: dict[str, Any], ctx: AuthContext) -> Any:
    reg.delete(_account(ctx), ctx.region, _required(params, "Channel"))
    return {}


def update_channel(reg: ChannelRegistry, params: dict[str, Any], ctx: AuthContext) -> Any:
    channel = reg.update(_account(ctx), ctx.region, _required(params, "Channel"),
                         params.get("Name"), params.get("Destinations"))
    return _shape(channel)


CHANNEL_OPERATIONS = {
    "CreateChannel": create_channel,
    "GetChannel": get_channel,
    "ListChannels": list_channels,
    "DeleteChannel": delete_channel,
    "UpdateChannel": update_channel,
}
