"""The Findings page: Sigma findings the viewer's key may see, and the rules behind them.

Each finding shows its rule's title, level, author and link (the rule's licence, SigmaHQ's
DRL 1.1, asks every finding to keep the author), the event it matched (linked to the
event's page), when, and its state; an admin key acknowledges from here. The page also
lists the rules the server loaded and the ones it refused, with the reason. Acknowledging
runs the API's AcknowledgeSigmaFinding and is recorded in the ledger like the API call.
"""

from __future__ import annotations

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from opentrail.api._detect import acknowledge_sigma_finding
from opentrail.auth import Role
from opentrail.console._console import Console, Viewer, read_form
from opentrail.console._lake import _audited
from opentrail.detect import STATES, RuleSet
from opentrail.errors import AccessDenied

__all__ = ["acknowledge_submit", "findings_page"]

SHOWN = 200


async def findings_page(console: Console, request: Request, viewer: Viewer) -> Response:
    state = request.query_params.get("state") or None
    if state not in (None, *STATES):
        state = None
    service = console.service
    store = service.findings
    found = [] if store is None else await run_in_threadpool(
        store.listed, viewer.accounts, state, SHOWN)
    rules: RuleSet = service.sigma_rules or RuleSet()
    return console.render(request, "findings.html", viewer, findings=[f.describe() for f in found],
                          state=state, rules=rules.rules, rejected=rules.rejected,
                          shown=SHOWN, running=bool(rules.rules),
                          may_acknowledge=viewer.principal.allows(Role.ADMIN))


async def acknowledge_submit(console: Console, request: Request, viewer: Viewer) -> Response:
    """POST /findings/acknowledge: AcknowledgeSigmaFinding for the finding of the form."""
    form = await read_form(request)
    if not viewer.session.csrf_ok(form.get("csrf")):
        return console.render(request, "error.html", viewer, status=403,
                              title="Acknowledging was refused",
                              message="The form was stale or came from another site. Open "
                                      "the Findings page and acknowledge again.")
    if not viewer.principal.allows(Role.ADMIN):
        raise AccessDenied("Acknowledging a finding needs an admin key; "
                           f"{viewer.principal.access_key_id} is a {viewer.principal.role} key.")
    ctx = viewer.auth(console.service.settings.region)
    await _audited(console, request, ctx, "AcknowledgeSigmaFinding", acknowledge_sigma_finding,
                   {"FindingId": form.get("finding", "")})
    back = form.get("state")
    return RedirectResponse("/findings" + (f"?state={back}" if back in STATES else ""), 303)
