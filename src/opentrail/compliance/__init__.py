"""Compliance evidence: the server's health log, the checks of spec compliance.md §5,
the signed report bundle and its offline verification.

The health recorder runs inside the server; the checks run in a client (`opentrail
compliance report`) over the API a reader or admin key already has, so a report proves
only what the API shows, and anyone with a key can re-run it.
"""

from opentrail.compliance._bundle import manifest_note_text
from opentrail.compliance._clock_state import ClockState, read_clock_state
from opentrail.compliance._health import STATUS_EVERY, HealthRecorder
from opentrail.compliance._verifier import BackgroundVerifier

__all__ = ["STATUS_EVERY", "BackgroundVerifier", "ClockState", "HealthRecorder",
           "manifest_note_text", "read_clock_state"]
