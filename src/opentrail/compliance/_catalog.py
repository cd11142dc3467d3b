"""The 22 checks of spec compliance.md §5: what each verifies, its rule, its clauses;
and the profiles (which frameworks' clauses a report prints, with their thresholds)."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CHECKS", "PROFILES", "CheckInfo", "Profile", "profile_named"]


@dataclass(frozen=True)
class CheckInfo:
    id: str
    title: str
    rule: str
    clauses: dict[str, tuple[str, ...]]  # framework -> clause numbers


def _c(id: str, title: str, rule: str, **clauses: str) -> CheckInfo:
    return CheckInfo(id, title, rule, {k: tuple(v.split(", ")) for k, v in clauses.items()})


CHECKS: tuple[CheckInfo, ...] = (
    _c("OT-01", "A trail logs read and write management events for every account and region",
       "no hour of the period without a logging trail", pci="10.2.1, 10.2.1.2",
       hipaa="164.312(b)", soc2="CC7.2", iso="A.8.15"),
    _c("OT-02", "Log file validation enabled all period", "always true",
       pci="10.3.2, 10.3.4", hipaa="164.312(c)"),
    _c("OT-03", "Every digest and log file of the period valid (validate-logs)", "0 INVALID",
       pci="10.3.2, 10.3.4, 10.5.1", hipaa="164.312(c)", iso="A.8.15"),
    _c("OT-04", "Digest chain continuous (previousDigestHashValue, no gap or restart)",
       "no gap or restart unless CreateTrail/StartLogging/validation-on <= 1 h before",
       pci="10.2.1.6, 10.3.4, 10.7.2"),
    _c("OT-05", "Ledger Merkle tree consistent across the period's checkpoints",
       "every consistency proof verifies", pci="10.3.2, 10.3.4", hipaa="164.312(c)",
       iso="A.8.15"),
    _c("OT-06", "Logging-configuration changes, with who and when",
       "every change by an approved principal", pci="10.2.1.6, 10.7.2", soc2="CC7.2, CC7.3"),
    _c("OT-07", "Logging-off intervals: start, end, duration, initiator",
       "none, or each within the tolerance", pci="10.2.1.6, 10.7.2, 10.7.3"),
    _c("OT-08", "Delivery and digest errors, with duration",
       "no error open longer than 1 h", pci="10.3.3, 10.7.2, 10.7.3",
       hipaa="164.308(a)(1)(ii)(D)"),
    _c("OT-09", "Every source sent events or a heartbeat hourly", "no silent hour",
       pci="10.2.1, 10.7.2", hipaa="164.312(b)", soc2="CC7.2"),
    _c("OT-10", "Fields of 10.2.2 filled (user, type, time, outcome, origin, resource)",
       "100 % for user, type, time, outcome", pci="10.2.2", iso="A.8.15"),
    _c("OT-11", "Capture path and count for each of 10.2.1.1-.7",
       "a path for each (0 events = WARN)", pci="10.2.1.1, 10.2.1.7", hipaa="164.312(b)"),
    _c("OT-12", "Who read the audit trail (self-audit of reads and sign-ins)",
       "every reader approved", pci="10.2.1.3, 10.3.1", hipaa="164.308(a)(1)(ii)(D)"),
    _c("OT-13", "Bucket not public; only the writer may delete or change retention",
       "all hold", pci="10.3.1, 10.3.2"),
    _c("OT-14", "Object Lock (WORM) on every delivered object", "COMPLIANCE mode >= policy",
       pci="10.3.2, 10.3.3, 10.5.1", hipaa="164.312(c), 164.316(b)(2)"),
    _c("OT-15", "Encryption at rest of the destination", "SSE-KMS, key enabled",
       pci="10.3.2", hipaa="164.312(a)(2)(iv)"),
    _c("OT-16", "Retention settings long enough", "retention >= policy; query window >= 92 d",
       pci="10.5.1", hipaa="164.316(b)(2)", iso="A.8.15"),
    _c("OT-17", "Retention achieved: oldest record and old files verify",
       "oldest record >= min(go-live, now - 12 months); samples verify", pci="10.5.1",
       hipaa="164.316(b)(2)"),
    _c("OT-18", "Server clock synchronised", "synced >= 99.9 % of samples, error <= 1 s, "
       "a sample every 5 min", pci="10.6.1, 10.6.2, 10.6.3", iso="A.8.17"),
    _c("OT-19", "Insights and rules ran each day; findings reviewed",
       "no missed day or overdue alert", pci="10.4.1, 10.4.1.1, 10.4.3",
       hipaa="164.308(a)(1)(ii)(D)", soc2="CC7.2, CC7.3"),
    _c("OT-20", "Alert rules present and a test notification delivered",
       "present, delivery proven", pci="10.4.1.1, 10.7.2", soc2="CC7.2"),
    _c("OT-21", "Each digest's key published for its time; key rotations logged",
       "all hold", pci="10.3.2", hipaa="164.312(c)(2)"),
    _c("OT-22", "Background verifier ran hourly and logged its results", "no missed hour",
       pci="10.3.4, 10.7.2", soc2="CC4.1"),
)

FRAMEWORK_NAMES = {"pci": "PCI DSS v4.0.1", "hipaa": "HIPAA Security Rule",
                   "soc2": "SOC 2 (TSC 2017)", "iso": "ISO/IEC 27001:2022"}


@dataclass(frozen=True)
class Profile:
    name: str
    frameworks: tuple[str, ...]
    retention_days: int          # OT-16: how long logs must be kept
    query_window_days: int = 92  # OT-16: "last 3 months immediately available"
    stop_tolerance_seconds: int = 3600  # OT-07: longest acceptable logging-off interval
    error_tolerance_seconds: int = 3600  # OT-08: longest a delivery error may stay open
    review_window_seconds: int = 86400  # OT-19: a finding is acknowledged within (daily)

    def checks(self) -> tuple[CheckInfo, ...]:
        return tuple(c for c in CHECKS if any(f in c.clauses for f in self.frameworks))

    def clauses(self, check: CheckInfo) -> list[str]:
        return [f"{FRAMEWORK_NAMES[f]} {n}" for f in self.frameworks
                for n in check.clauses.get(f, ())]


PROFILES = {
    "pci-dss-4": Profile("pci-dss-4", ("pci",), 365),
    "hipaa": Profile("hipaa", ("hipaa",), 6 * 365),
    "soc2": Profile("soc2", ("soc2",), 365),
    "iso27001": Profile("iso27001", ("iso",), 365),
    "all": Profile("all", ("pci", "hipaa", "soc2", "iso"), 6 * 365),
}


def profile_named(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"Unknown profile {name!r}; use one of "
                         f"{', '.join(PROFILES)}.") from None
