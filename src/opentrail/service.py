"""The composition root: builds every component from Settings, in one visible place.

    api  ──▶ events (parse) ──▶ ledger.LedgerWriter ──▶ ledger.db
                                        │ (cursor)
                                        ▼
                           history.HistoryIndexer (own process) ──▶ history.db
    api  ◀── history.HistoryReader ◀──────────────────────────────────┘

The indexer runs in a child process by default so that indexing uses the second core
instead of competing with request handling for the GIL.

On PostgreSQL (docs/design/scale-out.md) the ledger is the database's: this node's
writer appends through the backend's sequencer, every follower reads the shared ledger
through `backend.ledger_reader()` (in threads of this process), and the jobs that must
run once in a cluster (signing checkpoints, trail delivery, Insights, the Lake writer,
retention, the background verifier, the event rule engine and its sender) run only while
this node holds their role (`backend.role(name)`); another node takes a role over when
its holder dies.
"""

from __future__ import annotations

import dataclasses
import logging
import multiprocessing
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.process import BaseProcess
from typing import Any, Literal

from opentrail.auth import KeyStore, SigV4Verifier
from opentrail.backends import Backend, Role, TrackedRole, open_backend
from opentrail.channels import ChannelRegistry
from opentrail.clock import Clock, SystemClock
from opentrail.config import Settings, parse_workers_of
from opentrail.datadir import node_id, prepare_data_dir
from opentrail.detect import (
    Detector,
    FindingStore,
    Publisher,
    RuleSet,
    load_rules,
    run_detector_process,
)
from opentrail.events import Category, ParserPool
from opentrail.history import (
    HistoryIndexer,
    HistoryReader,
    Indexer,
    Lookups,
    create_history,
    run_indexer_process,
)
from opentrail.insights import InsightsEngine, InsightsStore
from opentrail.lake import EventDataStore, ImportRunner, LakeWriter, QueryRunner, StoreCatalog
from opentrail.ledger import Checkpointer, Journal, LedgerReader, LedgerWriter
from opentrail.rules import RuleStore
from opentrail.rules_process import rules_workers, run_rules_process
from opentrail.storage import Storage, open_storage
from opentrail.trails import Delivery, SigningKeys, TrailStore

__all__ = ["Service"]

log = logging.getLogger(__name__)

IndexerMode = Literal["process", "thread"]
MAINTENANCE_EVERY = 3600.0
LAKE_PURGE_EVERY = 60.0
ROLE_POLL = 1.0  # seconds between checks that this node (still) holds an elected role
JOURNAL_SWEEP = 10.0  # seconds between looks for journaled records of nodes that are gone
# The elected roles (backend.role): jobs that must run on one node at a time.
CHECKPOINT_SIGNER, TRAIL_DELIVERY, INSIGHTS, LAKE_WRITER, RETENTION, VERIFIER = (
    "checkpoint-signer", "trail-delivery", "insights", "lake-writer", "retention",
    "verifier")
RULES = "rules"  # the event rule engine, its sender and the AlertDelivered receipts
HISTORY_INDEXER = "history-indexer"  # on PostgreSQL: one node indexes for all (below)
DETECTOR = "detector"  # the Sigma detector and its publisher (docs/detect.md)


@dataclass
class Service:
    settings: Settings
    clock: Clock
    keys: KeyStore
    verifier: SigV4Verifier
    writer: LedgerWriter
    history: Lookups  # HistoryReader over history.db, or the database's (RowsReader)
    channels: ChannelRegistry
    trails: TrailStore
    trail_storage: Storage      # where trails deliver (folder or S3)
    signing_keys: SigningKeys   # digest signing keys, per region
    _stop: threading.Event = field(default_factory=threading.Event)
    _threads: list[threading.Thread] = field(default_factory=list)
    _process: BaseProcess | None = None
    _indexer: HistoryIndexer | Indexer | None = None
    indexer_mode: IndexerMode = "process"
    delivery: Delivery | None = None
    insights: InsightsEngine | None = None  # a ledger reader thread (docs/insights.md)
    insights_store: InsightsStore | None = None  # its counters, read by the API
    checkpoints: Checkpointer | None = None  # tree.db follower + signed checkpoints
    audit_journal: Journal | None = None  # self-audit records of changes in flight
    lake: StoreCatalog | None = None  # event data stores (lake.db), docs/lake.md
    # Deletes a purged store's Parquet files; the Lake writer's location sets it. Stores
    # pending deletion for 7 days leave the catalog only once this returned.
    lake_delete_files: Callable[[EventDataStore], None] | None = None
    lake_writer: LakeWriter | None = None  # ledger reader writing stores' Parquet files
    queries: QueryRunner | None = None  # Lake queries (lake-queries.db), docs/lake.md
    lake_imports: ImportRunner | None = None  # StartImport's thread (lake-imports.db)
    # Sigma rules (--sigma-rules), their findings (findings.db) and the ledger follower
    # that evaluates each new record once (docs/detect.md).
    sigma_rules: RuleSet | None = None
    findings: FindingStore | None = None
    detector: Detector | None = None  # in a thread (indexer="thread"); else its process:
    _detector_process: BaseProcess | None = None
    # Where keys, trails, channels and the Lake catalog live (SQLite or PostgreSQL);
    # chosen once here, by open_backend (docs/design/scale-out.md).
    backend: Backend | None = None
    organization_id: str | None = None  # o-...: organization trails' folder; None: no org
    rules: RuleStore | None = None  # event rules, targets, outbox (backend.rules), docs/rules.md
    # The rule engine (a ledger reader filling the outbox) and the sender delivering it run
    # in their own process embedded (run_rules_process), else on the `rules` role's node.
    _rules_process: BaseProcess | None = None
    sns: Any = None  # rules.SnsNotifier, with --sns-endpoint-url: trails' SnsTopicName
    # The shared ledger every follower reads on PostgreSQL; None embedded, where each
    # follower opens the data dir's ledger itself (as it always did).
    ledger: LedgerReader | None = None
    roles: dict[str, TrackedRole] = field(default_factory=dict)  # elected roles, by name
    # Large ingest bodies are parsed and validated in these processes (events/_parsers.py).
    parsers: ParserPool = field(default_factory=lambda: ParserPool(0))

    @classmethod
    def open(cls, settings: Settings, clock: Clock | None = None,
             indexer: IndexerMode = "process") -> Service:
        clock = clock or SystemClock()
        prepare_data_dir(settings.data_dir)
        backend = open_backend(settings)
        keys = backend.keys()
        writer = backend.ledger_writer(clock, max_pending=settings.max_pending_events,
                                       retention_days=settings.history_retention_days)
        ledger = None if backend.kind == "sqlite" else backend.ledger_reader()
        if ledger is not None:  # the followers' child processes read the data dir's
            indexer = "thread"
        days = settings.history_retention_days
        if ledger is None:
            create_history(settings.data_dir).close()
            history: Lookups = HistoryReader(settings.data_dir, clock, days)
        else:  # the database's index, which every node's indexer thread feeds
            history = backend.history_index().reader(clock, days, ledger)
        service = cls(settings, clock, keys, SigV4Verifier(keys, clock), writer, history,
                      backend.channels(),
                      backend.trails(own_buckets=settings.trail_storage == "folder"),
                      indexer_mode=indexer, trail_storage=open_storage(settings, clock),
                      signing_keys=backend.signing_keys(clock,
                                                        settings.signing_key_rotation_days),
                      backend=backend, ledger=ledger)
        service.checkpoints = Checkpointer(
            settings.data_dir, clock, settings.checkpoint_interval, ledger=ledger,
            signer=backend.checkpoint_signer(), store=backend.checkpoints(),
            signs=service.role(CHECKPOINT_SIGNER).held)
        service.audit_journal = backend.audit_journal()
        service.lake = backend.catalog(clock)
        service.organization_id = backend.organization_id(settings.organization_id)
        service.rules = backend.rules(keys)
        service._start()
        return service

    def _start(self) -> None:
        self.parsers = ParserPool(parse_workers_of(self.settings.parse_workers))
        self.writer.start()
        if self.audit_journal is not None:  # before any request: a change left unrecorded
            self.audit_journal.recover(self.writer)
        if self.indexer_mode == "thread":
            self._start_thread_indexer()
        else:
            self._spawn_indexer()
        self._spawn(self._maintain, "maintenance")
        if self.checkpoints is not None:
            checkpoints, stop = self.checkpoints, self._stop
            self._spawn(lambda: checkpoints.run(stop), "merkle-tree")
        self._start_delivery()
        self._start_insights()
        self._start_lake_writer()
        self._start_lake_imports()
        self._start_detect()
        self._start_rules()
        self._start_health()
        self._start_verifier()

    def _start_health(self) -> None:
        """The health log (compliance/_health.py): clock samples, trail status changes
        and delivery errors, written to the ledger as internal events."""
        from opentrail.compliance import HealthRecorder

        if self.settings.health_sample_interval <= 0:
            return
        health = HealthRecorder(self.writer, self.clock, self.trails,
                                account=self.settings.organization_account,
                                region=self.settings.region,
                                interval=self.settings.health_sample_interval,
                                signing_keys=self.signing_keys.listed,
                                detectors=self._detector_runs)
        try:
            settings = [(f.name, getattr(self.settings, f.name))
                        for f in dataclasses.fields(self.settings)]
            accounts = {t.account for t in self.trails.list(None)} | {
                p.account for p in self.keys.list() if p.account}
            health.record_settings(settings, self.settings.data_dir, accounts)
        except Exception:  # the health log must never stop the server from starting
            log.exception("health: recording setting changes failed")
        stop = self._stop
        self._spawn(lambda: health.run(stop), "health")

    def _detector_runs(self) -> list[dict[str, Any]]:
        """The DetectorRun facts the health log records hourly (spec OT-19): whether the
        Sigma detector (its thread, on the node holding the `detector` role, or its
        process alive, with rules) and Insights were running, and how far the detector's
        cursor is behind the ledger."""
        rules, findings = self.sigma_rules, self.findings
        loaded = len(rules.rules) if rules is not None else 0
        alive = (self.detector is not None and self.role(DETECTOR).held()) or (
            self._detector_process is not None and self._detector_process.is_alive())
        cursor = findings.cursor() if findings is not None else None
        size = self.writer.size
        sigma = {"detector": "sigma", "rules": loaded, "running": loaded > 0 and alive,
                 "rejected": len(rules.rejected) if rules is not None else 0,
                 "cursor": cursor, "ledgerSize": size,
                 "behind": None if cursor is None else max(0, size - cursor)}
        return [sigma, {"detector": "insights", "running": self.insights_wanted()}]

    def _start_verifier(self) -> None:
        """The background verifier (compliance/_verifier.py): validate-logs over every
        validated trail and the ledger's checkpoints, each run logged as VerifierRun."""
        from opentrail.compliance import BackgroundVerifier
        from opentrail.trails import ValidateOptions, local_fetcher

        s = self.settings
        if s.verifier_interval <= 0:
            return
        folder = s.data_dir / "buckets" if s.trail_storage == "folder" else None

        def options(trail: Any, start: Any) -> ValidateOptions:
            return ValidateOptions(trail_arn=trail.arn, start=start,
                                   s3_bucket=trail.s3_bucket_name,
                                   s3_prefix=trail.s3_key_prefix or None, local_folder=folder,
                                   s3_endpoint_url=s.s3_endpoint_url or None,
                                   digest_interval=s.digest_interval)

        verifier = BackgroundVerifier(
            self.writer, self.clock, self.trails, self.checkpoints, options=options,
            keys=lambda trail: local_fetcher(self.signing_keys, trail.home_region),
            account=s.organization_account, region=s.region, interval=s.verifier_interval)
        self._spawn_elected(VERIFIER, verifier.run, "verifier")

    def _start_delivery(self) -> None:
        from opentrail.trails import selects

        self.delivery = Delivery(
            self.settings.data_dir, self.clock, self.trails, self.trail_storage,
            self.signing_keys, selects, delivery_interval=self.settings.delivery_interval,
            digest_interval=self.settings.digest_interval,
            checkpoint=self._checkpoint_note, organization_id=self.organization_id,
            notify=self._trail_notification(), ledger=self.ledger,
            rows=self.backend.delivery_rows() if self.backend is not None else None)
        self._spawn_elected(TRAIL_DELIVERY, self.delivery.run, "trail-delivery")

    def _trail_notification(self) -> Callable[[Any, str, str], None] | None:
        """SnsTopicName: a notification per delivered log file, once SNS is configured."""
        if not self.settings.sns_endpoint_url:
            return None
        from opentrail.rules import SnsNotifier, topic_arn

        notifier = self.sns = SnsNotifier(self.settings.sns_endpoint_url)
        return lambda trail, bucket, key: notifier.log_file(
            topic_arn(trail.sns_topic_name, trail.account, trail.home_region), bucket, key)

    def _checkpoint_note(self) -> str:
        """A checkpoint of the ledger's Merkle tree, published with every digest."""
        assert self.checkpoints is not None
        return self.checkpoints.make_checkpoint().note

    def _start_lake_writer(self) -> None:
        from opentrail.lake import open_location

        assert self.lake is not None and self.backend is not None
        writer = self.lake_writer = LakeWriter(
            self.settings.data_dir, self.clock, open_location(self.settings),
            self.lake.list_all, self._lake_receives, self.backend.checkpoint_signer(),
            ledger=self.ledger, rows=self.backend.lake_writer_rows())
        self.lake_delete_files = lambda store: writer.drop_store(store.id)
        self._spawn_elected(LAKE_WRITER, writer.run, "lake-writer")
        self._start_queries(writer)

    def _start_queries(self, writer: LakeWriter) -> None:
        """Queries read the files the writer's location holds, through the engine
        `--lake-engine` names; results go to trail storage, signed with the digest keys."""
        from opentrail.lake import StoreFiles, open_engine, schema_of

        assert self.lake is not None and self.backend is not None
        catalog, location = self.lake, writer.location
        files = StoreFiles(scan=lambda store: location.scan(store.id),
                           empty=lambda store: schema_of(store.kind).empty_table(),
                           recorded=lambda store: writer.recorded(store.id))
        engine = open_engine(self.settings.lake_engine, files,
                             spark_remote=self.settings.spark_remote,
                             temp_dir=self.settings.data_dir / "lake-tmp")
        self.queries = QueryRunner(
            self.settings.data_dir, self.clock, engine,
            lambda ref, owner, region: catalog.resolve(ref, owner, region, active=True),
            storage=self.trail_storage, signing_keys=self.signing_keys,
            timeout=self.settings.query_timeout, rows=self.backend.lake_queries(),
            node=node_id(self.settings.data_dir))

    def _start_lake_imports(self) -> None:
        from opentrail.lake import source_opener

        assert self.lake is not None and self.lake_writer is not None
        assert self.backend is not None
        imports = self.lake_imports = ImportRunner(
            self.settings.data_dir, self.clock, self.lake_writer, self.lake.get_any,
            source_opener(self.settings.data_dir, self.settings.s3_endpoint_url or None),
            rows=self.backend.lake_imports())
        # On the Lake writer's node: imports write through its writer (and its lock); the
        # next holder resumes an import from its done files (docs/lake.md).
        self._spawn_elected(LAKE_WRITER, imports.run, "lake-imports")

    def _start_detect(self) -> None:
        """Load the Sigma rules (each one refused is logged with its file, id and reason);
        when at least one loaded, evaluate new records in the detector's own process (a
        thread with indexer="thread", on the node holding the `detector` role). The
        publisher always runs on that node: findings saved before a crash still reach
        the ledger."""
        rules = self.sigma_rules = load_rules(self.settings.sigma_rules)
        for rejected in rules.rejected:
            log.warning("sigma: rule %s (%s) not loaded: %s", rejected.rule_id or "-",
                        rejected.file, rejected.reason)
        if self.settings.sigma_rules:
            log.info("sigma: %d rule(s) loaded, %d not loaded", len(rules.rules),
                     len(rules.rejected))
        assert self.backend is not None
        findings = self.findings = self.backend.findings()
        publisher = Publisher(findings, self.writer)
        if not rules.rules:
            self._spawn_elected(DETECTOR, publisher.run, "sigma-publisher")
            return
        if self.indexer_mode == "thread":
            detector = self.detector = Detector(self.settings.data_dir, self.clock, rules,
                                                findings, self.ledger)
            self._spawn_elected(DETECTOR, lambda stop: _together(detector.run, publisher.run,
                                                                 stop), "sigma-detector")
            return
        self._spawn_elected(DETECTOR, publisher.run, "sigma-publisher")
        from opentrail.detect import begin, open_ledger

        ledger = open_ledger(self.settings.data_dir)
        try:  # the first start's cursor is now, not whenever the process is up
            begin(ledger, findings)
        finally:
            ledger.close()
        self._spawn_detector()

    def _spawn_detector(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._detector_process = ctx.Process(
            target=run_detector_process, name="opentrail-sigma", daemon=True,
            args=(str(self.settings.data_dir), list(self.settings.sigma_rules)))
        self._detector_process.start()

    def _close_detect(self) -> None:
        if self.detector is not None:
            self.detector.close()
        if self.findings is not None:
            self.findings.close()

    def _lake_receives(self, store: EventDataStore, account: str, region: str,
                       obj: dict[str, Any], category: Category) -> bool:
        """`lake.receives`, with an ActivityAuditLog event going only to the stores its
        channel (metadata.channelARN) names as destinations."""
        from opentrail.lake import receives

        channel_stores: set[str] | None = None
        if store.category == "ActivityAuditLog":
            metadata = obj.get("metadata")
            arn = metadata.get("channelARN") if isinstance(metadata, dict) else None
            channel = self.channels.owner_of(arn) if isinstance(arn, str) else None
            channel_stores = {str(d.get("Location")) for d in channel.destinations
                              if d.get("Type") == "EVENT_DATA_STORE"} if channel else set()
        return receives(store, account, region, obj, category, channel_stores=channel_stores)

    def _start_rules(self) -> None:
        """The rule engine follows the ledger into the outbox; the sender empties it.
        Embedded, both run in their own process and the sender's receipts become
        AlertDelivered records here, through this process's writer. With
        indexer="thread" (always on PostgreSQL) all three are threads of the node
        holding the `rules` role, which goes on from the shared cursor and outbox."""
        assert self.rules is not None
        from opentrail.rules import ReceiptPublisher

        receipts = ReceiptPublisher(self.rules, self.writer, self.clock.now)
        if self.indexer_mode == "process":
            from opentrail.rules import begin_at_head

            stop = self._stop
            self._spawn(lambda: receipts.run(stop), "alert-receipts")
            begin_at_head(self.settings.data_dir, self.rules)
            self._spawn_rules()
            return
        self._spawn_elected(RULES, lambda term: self._run_rules(receipts, term), "rules")

    def _run_rules(self, receipts: Any, stop: threading.Event) -> None:
        """One term of the `rules` role: the engine, the sender and the receipts, from
        the stored cursor and outbox, until `stop` (started again a second after a
        failure to start them, such as the database lost for a moment)."""
        _until_stopped(lambda: self._rules_term(receipts, stop), stop, "event rules")

    def _rules_term(self, receipts: Any, stop: threading.Event) -> None:
        assert self.rules is not None and self.backend is not None
        engine, sender = rules_workers(self.settings, self.clock, self.rules,
                                        self.backend.ledger_reader)
        try:
            _run_together(stop, {"rule-engine": engine.run, "rule-sender": sender.run,
                                 "alert-receipts": receipts.run})
        finally:
            engine.close()
            sender.close()

    def _spawn_rules(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._rules_process = ctx.Process(target=run_rules_process, name="opentrail-rules",
                                          daemon=True, args=(self.settings,))
        self._rules_process.start()

    def _close_rules(self) -> None:
        if self.rules is not None:
            self.rules.close()

    def _start_insights(self) -> None:
        """The engine counts on the `insights` role's node only; its state is the
        backend's (shared by every node on PostgreSQL: a new holder goes on from the
        stored cursor, and ListInsightsMetricData answers the same on every node)."""
        assert self.backend is not None
        self.insights = InsightsEngine(self.settings.data_dir, self.clock, self.writer,
                                       self.insights_enabled, ledger=self.ledger,
                                       store=self.backend.insights_store())
        self.insights_store = self.backend.insights_store()
        self._spawn_elected(INSIGHTS, self._run_insights, "insights")

    def _run_insights(self, stop: threading.Event) -> None:
        """The engine follows the ledger only while some trail wants Insights (or
        insights_always): counting costs ingest CPU nobody asked for otherwise. When one
        starts to, the engine catches up from its cursor, so its baselines still cover
        the stored history."""
        engine = self.insights
        assert engine is not None
        while not stop.wait(0 if self.insights_wanted() else 1.0):
            engine.run(lambda: stop.is_set() or not self.insights_wanted())

    def insights_wanted(self) -> bool:
        """Whether any trail of any account has Insights selectors (or insights_always)."""
        if self.settings.insights_always:
            return True
        try:
            return (any(trail.insight_selectors for trail in self.trails.list(None))
                    or bool(self._insight_stores()))
        except Exception:  # the trail store failing must not end Insights for good
            log.exception("insights: could not read the trails; pausing the engine")
            return False

    def insights_enabled(self, account: str, region: str, insight_type: str) -> bool:
        """Record Insights only where a trail asked for them (or insights_always)."""
        if self.settings.insights_always:
            return True
        return any(sel.get("InsightType") == insight_type
                   and "Management" in (sel.get("EventCategories") or ["Management"])
                   for trail in self.trails.visible(account, region)
                   for sel in trail.insight_selectors) or any(
            sel.get("InsightType") == insight_type
            for store in self._insight_stores()
            if (store.organization or store.account == account)
            and (store.multi_region or store.region == region)
            for sel in store.insight_selectors)

    def _insight_stores(self) -> list[EventDataStore]:
        """Event data stores with Insights on (PutInsightSelectors with EventDataStore);
        their Insights events go to each one's InsightsDestination store."""
        if self.lake is None:
            return []
        return [s for s in self.lake.list_all()
                if s.insight_selectors and s.status != "PENDING_DELETION"]

    def role(self, name: str) -> Role:
        """This node's lease on the elected role `name` (one object per name)."""
        if name not in self.roles:
            assert self.backend is not None
            self.roles[name] = TrackedRole(self.backend.role(name))
        return self.roles[name]

    def held_roles(self) -> list[str]:
        """The elected roles this node held at its last check of each (at most a second
        old for the jobs `_spawn_elected` runs; the checkpoint signer's is checked every
        --checkpoint-interval): what `/readyz?verbose` reports."""
        return sorted(name for name, role in self.roles.items() if role.last)

    def _spawn_elected(self, name: str, run: Callable[[threading.Event], None],
                       thread: str) -> None:
        """`run(stop)` in a thread, only while this node holds the role `name`: started
        when the role is taken, stopped (its `stop` set) when it is lost; then it waits
        to take the role again. Each start continues from the follower's saved cursor."""
        role = self.role(name)

        def elected() -> None:
            while not self._stop.is_set():
                if not role.held():
                    self._stop.wait(ROLE_POLL)
                    continue
                term = threading.Event()
                worker = threading.Thread(target=run, args=(term,), name=thread, daemon=True)
                worker.start()
                while worker.is_alive() and not self._stop.wait(ROLE_POLL) and role.held():
                    pass
                if not self._stop.is_set() and worker.is_alive():
                    log.warning("role %s lost: stopping %s", name, thread)
                term.set()
                worker.join()

        self._spawn(elected, f"{thread}-role")

    def _spawn(self, target: object, name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)  # type: ignore[arg-type]
        thread.start()
        self._threads.append(thread)

    def _start_thread_indexer(self) -> None:
        """The indexer in a thread: embedded, always; on PostgreSQL on the node holding
        `history-indexer`, so one node parses each batch instead of every node racing
        for the shared cursor and all but one throwing their work away."""
        self._indexer = indexer = self._thread_indexer()
        self._stop_indexer = stop = threading.Event()

        def run(term: threading.Event) -> None:
            _until_stopped(lambda: indexer.run(lambda: stop.is_set() or term.is_set()),
                           stop, "history indexer")

        if self.ledger is None:
            self._spawn(lambda: run(threading.Event()), "history-indexer")
        else:
            self._spawn_elected(HISTORY_INDEXER, run, "history-indexer")

    def _thread_indexer(self) -> HistoryIndexer | Indexer:
        """history.db's indexer, or on PostgreSQL the database's (each batch moves the
        shared cursor in its own transaction, so even two nodes that both believe they
        hold the role store each batch once: docs/design/scale-out.md)."""
        days = self.settings.history_retention_days
        if self.ledger is None or self.backend is None:
            return HistoryIndexer(self.settings.data_dir, self.clock, days)
        return self.backend.history_index().indexer(self.clock, days, self.ledger)

    def _spawn_indexer(self) -> None:
        ctx = multiprocessing.get_context("spawn")
        self._process = ctx.Process(
            target=run_indexer_process, name="opentrail-indexer", daemon=True,
            args=(str(self.settings.data_dir), self.settings.history_retention_days))
        self._process.start()

    def _maintain(self) -> None:
        """Keep the indexer alive and run the retention purge once an hour."""
        last_purge = last_lake_purge = last_sweep = 0.0
        while not self._stop.wait(1.0):
            if self.clock.now() - last_sweep >= JOURNAL_SWEEP:
                last_sweep = self.clock.now()
                self._sweep_journal()
            if self.lake is not None and self.clock.now() - last_lake_purge >= LAKE_PURGE_EVERY \
                    and self.role(LAKE_WRITER).held():
                last_lake_purge = self.clock.now()
                self._purge_lake(self.lake)
            if self._process is not None and not self._process.is_alive():
                log.error("history indexer exited (%s); restarting", self._process.exitcode)
                self._spawn_indexer()
            if self._detector_process is not None and not self._detector_process.is_alive():
                log.error("sigma detector exited (%s); restarting",
                          self._detector_process.exitcode)
                self._spawn_detector()
            if self._rules_process is not None \
                    and not self._rules_process.is_alive():
                log.error("rule engine and sender exited (%s); restarting",
                          self._rules_process.exitcode)
                self._spawn_rules()
            days = self.settings.history_retention_days
            if days > 0 and self.clock.now() - last_purge >= MAINTENANCE_EVERY \
                    and self.role(RETENTION).held():
                last_purge = self.clock.now()
                purged = self.writer.purge(int(self.clock.now()) - days * 86400)
                if purged:
                    log.info("retention: dropped the bodies of %d expired events", purged)

    def _sweep_journal(self) -> None:
        """Append the journaled records of nodes that are gone (on PostgreSQL a node lost
        for good; embedded there is no other writer, and this finds nothing)."""
        if self.audit_journal is None:
            return
        try:
            self.audit_journal.recover(self.writer)
        except Exception:  # the next sweep tries again; the rows stay until then
            log.exception("audit journal: replaying a lost node's records failed")

    def _purge_lake(self, lake: StoreCatalog) -> None:
        """Stores 7 days in PENDING_DELETION leave the catalog, their files first."""
        try:
            for store in lake.purge_due(delete_files=self.lake_delete_files):
                log.info("lake: purged event data store %s (%s)", store.id, store.name)
        except Exception:  # maintenance must go on; the next pass tries again
            log.exception("lake: purging deleted event data stores failed")

    def close(self) -> None:
        self._stop_workers()
        self.parsers.close()
        self.writer.close()
        for component in (self.channels, self.checkpoints, self.delivery, self.trails,
                          self.queries, self.lake_imports, self.lake_writer, self.lake):
            if component is not None:
                component.close()
        self._close_detect()
        self._close_rules()
        if self.audit_journal is not None:
            self.audit_journal.close()
        if self.insights is not None:
            self.insights.close()
            assert self.insights_store is not None
            self.insights_store.close()
        self.keys.close()
        if self.ledger is not None:
            self.ledger.close()
        if self.backend is not None:
            self.backend.close()  # lets this node's roles go

    def _stop_workers(self) -> None:
        """Threads and processes first, so nothing writes to a store being closed."""
        self._stop.set()
        if self._indexer is not None:
            self._stop_indexer.set()
        for thread in self._threads:
            thread.join(timeout=10)
        for process in (self._process, self._detector_process, self._rules_process):
            if process is not None:
                process.terminate()
                process.join(timeout=10)
        if self._indexer is not None:
            self._indexer.close()


def _together(first: Callable[[threading.Event], None],
              second: Callable[[threading.Event], None], stop: threading.Event) -> None:
    """`first(stop)` here and `second(stop)` in a thread beside it, until `stop`."""
    beside = threading.Thread(target=second, args=(stop,), name="sigma-publisher",
                              daemon=True)
    beside.start()
    try:
        first(stop)
    finally:
        beside.join()


def _until_stopped(run: Callable[[], None], stop: threading.Event, what: str) -> None:
    """`run()` again after it failed (the shared ledger's database lost for a moment),
    until `stop` is set."""
    while not stop.is_set():
        try:
            run()
            return
        except Exception:
            log.exception("%s failed; restarting it in a second", what)
            stop.wait(1.0)


def _run_together(stop: threading.Event,
                  runs: dict[str, Callable[[threading.Event], None]]) -> None:
    """Each `run(stop)` in a thread of its own; returns when they all have."""
    threads = [threading.Thread(target=run, args=(stop,), name=name, daemon=True)
               for name, run in runs.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
