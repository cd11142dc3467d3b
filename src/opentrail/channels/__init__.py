"""Channels for PutAuditEvents (CloudTrail Lake integrations)."""

from opentrail.channels._registry import CHANNEL_ARN, MAX_CHANNELS, Channel, ChannelRegistry

__all__ = ["CHANNEL_ARN", "MAX_CHANNELS", "Channel", "ChannelRegistry"]
