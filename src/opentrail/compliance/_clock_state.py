"""The kernel's clock discipline state: is the clock synchronised, and how far off.

Read with `adjtimex(2)` in read-only mode (modes = 0, no privilege needed), the call
`chronyc tracking` and `timedatectl` rely on: `STA_UNSYNC` clear and a return value
other than TIME_ERROR mean an NTP/PTP daemon keeps the clock synchronised; `maxerror`
and `esterror` are its error bounds in microseconds. Elsewhere than Linux the state is
unknown, and said so.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
from dataclasses import dataclass

__all__ = ["ClockState", "read_clock_state"]

TIME_ERROR = 5
STA_UNSYNC = 0x0040


class _Timex(ctypes.Structure):
    # struct timex (linux/timex.h) up to `status`; the kernel writes the rest into _rest.
    _fields_ = [("modes", ctypes.c_uint), ("offset", ctypes.c_long), ("freq", ctypes.c_long),
                ("maxerror", ctypes.c_long), ("esterror", ctypes.c_long),
                ("status", ctypes.c_int), ("_rest", ctypes.c_byte * 256)]


@dataclass(frozen=True)
class ClockState:
    synchronized: bool | None      # None: unknown on this system
    max_error_seconds: float | None
    est_error_seconds: float | None
    source: str                    # how it was read

    def details(self) -> dict[str, object]:
        return {"synchronized": self.synchronized, "maxErrorSeconds": self.max_error_seconds,
                "estErrorSeconds": self.est_error_seconds, "source": self.source}


def read_clock_state() -> ClockState:
    if not sys.platform.startswith("linux"):
        return ClockState(None, None, None, "unavailable")
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
        timex = _Timex()
        state = libc.adjtimex(ctypes.byref(timex))
    except (OSError, AttributeError):
        return ClockState(None, None, None, "unavailable")
    if state < 0:
        return ClockState(None, None, None, "unavailable")
    synced = state != TIME_ERROR and not timex.status & STA_UNSYNC
    return ClockState(synced, timex.maxerror / 1e6, timex.esterror / 1e6, "adjtimex")
