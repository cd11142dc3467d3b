"""Sources of CloudTrail records that do not come from a client (demo activity)."""

from opentrail.sources.demo import DemoAccount, DemoBurst, burst_plan, demo_batches, generate

__all__ = ["DemoAccount", "DemoBurst", "burst_plan", "demo_batches", "generate"]
