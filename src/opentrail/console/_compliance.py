"""The compliance page: pick a profile and a period, run the report, watch it, download.

The report is the one `opentrail compliance report` writes (compliance/_report.py), run
by the server in a thread as the signed-in key: it calls the server's own API over
loopback with that key's credentials, so its reads are self-audited as that person's
and it proves only what the API shows, as the command would. Bundles are kept in
DATA_DIR/reports/<report id>-<time>/ and listed from there; a bundle downloads as one
zip. Running a report needs an admin key, as the command does.
"""

from __future__ import annotations

import io
import json
import re
import threading
import time
import uuid
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from opentrail.auth import Role
from opentrail.console._console import Console, Viewer, read_form
from opentrail.errors import AccessDenied, NotFound, ValidationError

__all__ = ["ReportJobs"]

REPORTS_DIR = "reports"
_BUNDLE = re.compile(r"otr-[0-9a-f]{20}-\d{8}T\d{6}Z")
PERIODS = {"24h": 1, "7d": 7, "30d": 30, "90d": 90}


@dataclass
class Job:
    id: str
    owner: str          # access key id: a job shows only to whoever started it
    account: str        # the key's account, "" for an organization key
    profile: str
    step: str = "starting"
    done: int = 0
    total: int = 1
    error: str | None = None
    bundle: str | None = None
    results: dict[str, str] = field(default_factory=dict)

    @property
    def finished(self) -> bool:
        return self.bundle is not None or self.error is not None


def _endpoint(console: Console) -> str:
    s = console.service.settings
    host = "127.0.0.1" if s.host in ("0.0.0.0", "::", "") else s.host
    return f"http://{'[' + host + ']' if ':' in host else host}:{s.port}"


class ReportJobs:
    """Report runs of this server process (their bundles outlive it on disk)."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.folder = console.service.settings.data_dir / REPORTS_DIR
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def start(self, viewer: Viewer, profile: str, start: datetime, end: datetime) -> Job:
        from opentrail.compliance._catalog import profile_named
        from opentrail.compliance._result import Period

        options_profile = profile_named(profile)
        period = Period(start, end)
        job = Job(uuid.uuid4().hex, viewer.principal.access_key_id,
                  viewer.principal.account or "", profile)
        with self._lock:
            self._jobs[job.id] = job
        threading.Thread(target=self._run, args=(job, options_profile, period),
                         name=f"report-{job.id[:8]}", daemon=True).start()
        return job

    def _run(self, job: Job, profile: Any, period: Any) -> None:
        from opentrail.compliance._report import ReportOptions, run_report

        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        scratch = self.folder / f".running-{job.id}"
        settings = self.console.service.settings
        folder = settings.data_dir / "buckets" if settings.trail_storage == "folder" else None
        try:
            options = ReportOptions(profile, period, scratch, ("html", "json"), folder,
                                    settings.s3_endpoint_url or None)
            outcome = run_report(self._source(job), options, lambda s, d, t: self._progress(
                job, s, d, t))
            final = self.folder / f"{outcome.report_id}-{stamp}"
            scratch.rename(final)
            # Whose it is, beside the bundle (a file inside would not be in its manifest).
            final.with_suffix(".owner").write_text(job.account)
            job.results, job.bundle = outcome.results, final.name
        except Exception as exc:  # shown on the job's page, in words
            job.error = f"{type(exc).__name__}: {exc}"

    def _source(self, job: Job) -> Any:
        import botocore.session

        from opentrail.compliance._source import ServerSource

        found = self.console.service.keys.lookup(job.owner)
        if found is None:
            raise AccessDenied("The access key that started this report was deleted.")
        session = botocore.session.Session()
        session.set_credentials(job.owner, found[1])
        return ServerSource(_endpoint(self.console), session=session,
                            region=self.console.service.settings.region)

    @staticmethod
    def _progress(job: Job, step: str, done: int, total: int) -> None:
        job.step, job.done, job.total = step, done, total

    def job(self, viewer: Viewer, job_id: str) -> Job:
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None or job.owner != viewer.principal.access_key_id:
            raise NotFound("There is no such report run; it may have been started before "
                           "the server restarted. Past reports are listed below.")
        return job

    @staticmethod
    def _visible(viewer: Viewer, folder: Path) -> bool:
        """An organization key sees every report; an account key its account's."""
        if viewer.principal.organization:
            return True
        try:
            return folder.with_suffix(".owner").read_text() == viewer.principal.account
        except OSError:
            return False

    def past(self, viewer: Viewer) -> list[dict[str, Any]]:
        out = []
        for folder in sorted(self.folder.glob("otr-*"), reverse=True):
            if not folder.is_dir() or not self._visible(viewer, folder):
                continue
            try:
                manifest = json.loads((folder / "manifest.json").read_text())
            except (OSError, ValueError):
                continue
            tally: dict[str, int] = {}
            for r in manifest.get("results", []):
                tally[r["result"]] = tally.get(r["result"], 0) + 1
            out.append({"name": folder.name, "id": manifest.get("report_id"),
                        "profile": manifest.get("profile"), "period": manifest.get("period"),
                        "generated": manifest.get("generated_at"), "tally": tally})
        return out

    def bundle(self, viewer: Viewer, name: str) -> Path:
        if (not _BUNDLE.fullmatch(name) or not (self.folder / name / "manifest.json").is_file()
                or not self._visible(viewer, self.folder / name)):
            raise NotFound(f"There is no report bundle {name[:60]!r}.")
        return self.folder / name


def zip_bundle(folder: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            archive.write(path, f"{folder.name}/{path.relative_to(folder)}")
    return buffer.getvalue()


def _admin(viewer: Viewer) -> None:
    if not viewer.principal.allows(Role.ADMIN):
        raise AccessDenied("Compliance reports need an admin key: the report is recorded "
                           "in the ledger and signed by the server.")


def _period(form: dict[str, str], now: float) -> tuple[datetime, datetime]:
    end = datetime.fromtimestamp(now, UTC).replace(second=0, microsecond=0)
    days = PERIODS.get(form.get("period", ""))
    if days is None:
        raise ValidationError(f"The period must be one of {', '.join(PERIODS)}.")
    return end - timedelta(days=days), end


async def compliance_page(jobs: ReportJobs, request: Request, viewer: Viewer) -> Response:
    past = await run_in_threadpool(jobs.past, viewer) if viewer.principal.allows(
        Role.ADMIN) else []
    return jobs.console.render(request, "compliance.html", viewer, past=past,
                               periods=list(PERIODS), admin=viewer.principal.allows(
                                   Role.ADMIN))


async def compliance_run(jobs: ReportJobs, request: Request, viewer: Viewer) -> Response:
    from starlette.responses import RedirectResponse

    _admin(viewer)
    form = await read_form(request)
    if not viewer.session.csrf_ok(form.get("csrf")):
        raise AccessDenied("The form was stale or came from another site; open the "
                           "Compliance page and run the report again.")
    start, end = _period(form, jobs.console.service.clock.now())
    try:
        job = jobs.start(viewer, form.get("profile", ""), start, end)
    except ValueError as exc:
        raise ValidationError(str(exc)) from None
    return RedirectResponse(f"/compliance/runs/{job.id}", 303)


async def compliance_job(jobs: ReportJobs, request: Request, viewer: Viewer) -> Response:
    job = jobs.job(viewer, request.path_params["job_id"])
    return jobs.console.render(request, "compliance_run.html", viewer, job=job)


async def compliance_download(jobs: ReportJobs, request: Request, viewer: Viewer) -> Response:
    _admin(viewer)
    folder = jobs.bundle(viewer, request.path_params["name"])
    data = await run_in_threadpool(zip_bundle, folder)
    return Response(data, media_type="application/zip", headers={
        "Content-Disposition": f'attachment; filename="{folder.name}.zip"'})


async def compliance_html(jobs: ReportJobs, request: Request, viewer: Viewer) -> Response:
    _admin(viewer)
    folder = jobs.bundle(viewer, request.path_params["name"])
    return Response((folder / "report.html").read_bytes(), media_type="text/html",
                    headers={"Content-Security-Policy": "default-src 'none'; "
                             "style-src 'unsafe-inline'; img-src data:"})
