"""The activity overview moved to `opentrail.history._activity` (it reads history, it is
not console code). This name stays the same module object for existing imports."""

import sys

from opentrail.history import _activity

__all__: list[str] = []

sys.modules[__name__] = _activity
