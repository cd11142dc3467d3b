"""`opentrail collect`: follow log files and trail buckets, send their events to OpenTrail.

Sources, formats, positions and the configuration file are described in docs/collect.md.
"""

from opentrail.collect._collector import Collector, Sender, SourceStatus
from opentrail.collect._config import (
    BucketSource,
    CollectConfig,
    ConfigError,
    FileSource,
    load_config,
)
from opentrail.collect._follower import Chunk, FileFollower
from opentrail.collect._positions import Position, Positions

__all__ = [
    "BucketSource",
    "Chunk",
    "CollectConfig",
    "Collector",
    "ConfigError",
    "FileFollower",
    "FileSource",
    "Position",
    "Positions",
    "Sender",
    "SourceStatus",
    "load_config",
]
