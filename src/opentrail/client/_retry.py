"""How often and how long to wait before sending a request again."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

__all__ = ["RetryPolicy"]


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter (AWS Architecture Blog, "Exponential Backoff
    And Jitter"): attempt n waits uniformly in [0, min(cap, base * 2**(n-1))]."""

    max_attempts: int = 6
    base: float = 0.25
    cap: float = 20.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1.")

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based)."""
        return self.rng.uniform(0, min(self.cap, self.base * 2 ** (attempt - 1)))
