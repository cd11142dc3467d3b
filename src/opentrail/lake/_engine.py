"""The engines that run a translated query over the stores' Parquet files.

`Engine.open(translation)` binds each placeholder table of the translation to its store's
files and returns an `Execution` that yields the answer in batches of Python values and
can be interrupted from another thread (CancelQuery, the timeout).

- `DuckDBEngine`: in-process, the default. A fresh connection per query, with read_parquet
  over exactly the store's files (hive partitioning) and then every other file access
  switched off and the configuration locked, so a query reads nothing but its stores.
  No extension is downloaded: parquet, json and icu are built into the wheel.
- `SparkEngine`: pyspark, a local session or Spark Connect (`sc://host:port`), created
  only when asked for (`--lake-engine spark`).

Timestamps reach the caller as aware UTC datetimes from both engines.
"""

from __future__ import annotations

import os
import tempfile
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa
import pyarrow.parquet as pq

from opentrail.lake._location import StoreScan
from opentrail.lake._sql import Dialect, Translation

__all__ = ["DuckDBEngine", "Engine", "EngineError", "Execution", "SparkEngine", "StoreFiles",
           "open_engine"]

PARTITION_COLUMNS = ("account", "region", "date")


class EngineError(Exception):
    """The engine refused or failed the query; the message is for the user. `retry` says
    a file it was given is gone (compaction or retention swapped it while the query
    started): running it again over a fresh listing will do."""

    def __init__(self, message: str, *, retry: bool = False) -> None:
        super().__init__(message)
        self.retry = retry


@dataclass(frozen=True)
class StoreFiles:
    """Where a store's files are: `scan(store)` is the location's StoreScan (its files,
    their filesystem, and for a local folder a glob); `empty(store)` is an empty table with
    the store's columns, read when it has no file yet; `recorded(store)`, when given, is
    the writer's record of the store's files (key under the store's folder -> (rows,
    bytes)), so EventsScanned and BytesScanned need not open every file."""

    scan: Callable[[Any], StoreScan]
    empty: Callable[[Any], pa.Table]
    recorded: Callable[[Any], Mapping[str, tuple[int, int]]] | None = None

    def scanned(self, store: Any, scan: StoreScan) -> tuple[int, int]:
        """(rows, bytes) of the scan's files: EventsScanned and BytesScanned. The writer's
        record gives them without opening a file; a listed file it does not know yet (or
        no record at all) is measured from its size and Parquet footer."""
        known = self.recorded(store) if self.recorded is not None else {}
        rows = size = 0
        unknown: list[str] = []
        for path in scan.paths:
            entry = known.get(path[len(scan.base) + 1:])
            if entry is None:
                unknown.append(path)
            else:
                rows, size = rows + entry[0], size + entry[1]
        more_rows, more_size = _footers(scan, unknown)
        return rows + more_rows, size + more_size


class Execution(Protocol):
    columns: list[str]
    events_scanned: int
    bytes_scanned: int

    def batches(self, size: int) -> Iterator[list[tuple[Any, ...]]]: ...

    def interrupt(self) -> None: ...

    def close(self) -> None: ...


class Engine(Protocol):
    dialect: Dialect

    def open(self, translation: Translation) -> Execution: ...

    def close(self) -> None: ...


def _footers(scan: StoreScan, paths: list[str]) -> tuple[int, int]:
    """(rows, bytes) of files, from their sizes and Parquet footers."""
    rows = size = 0
    for path in paths:
        try:
            size += scan.filesystem.get_file_info(path).size or 0
            with scan.filesystem.open_input_file(path) as handle:
                rows += pq.ParquetFile(handle).metadata.num_rows
        except OSError:
            continue  # removed since listing (compaction, retention): the engine says
    return rows, size


def _total(counts: list[tuple[int, int]]) -> tuple[int, int]:
    return sum(c[0] for c in counts), sum(c[1] for c in counts)


OPEN_ATTEMPTS = 3


def _gone(exc: BaseException) -> bool:
    """A file of the listing no longer exists (DuckDB: IO Error)."""
    import duckdb

    return isinstance(exc, duckdb.IOException)


def _message(exc: BaseException) -> str:
    """The engine's own first line, without its internal frames."""
    text = str(exc).strip().splitlines()
    if isinstance(exc, SystemExit):
        return "it exited while starting (for Spark Connect, install pandas and grpcio)"
    return text[0] if text else type(exc).__name__


# -- DuckDB -----------------------------------------------------------------------------

class DuckDBExecution:
    def __init__(self, conn: Any, sql: str, scanned: tuple[int, int]) -> None:
        self._conn = conn
        self._sql = sql
        self.events_scanned, self.bytes_scanned = scanned
        self.columns: list[str] = []
        self._interrupted = threading.Event()

    def batches(self, size: int) -> Iterator[list[tuple[Any, ...]]]:
        import duckdb

        try:
            cursor = self._conn.execute(self._sql)
            self.columns = [d[0] for d in cursor.description]
            while rows := cursor.fetchmany(size):
                yield rows
        except duckdb.InterruptException:
            raise EngineError("The query was interrupted.") from None
        except duckdb.Error as exc:
            if self._interrupted.is_set():
                raise EngineError("The query was interrupted.") from None
            raise EngineError(_message(exc), retry=_gone(exc)) from None

    def interrupt(self) -> None:
        self._interrupted.set()
        self._conn.interrupt()

    def close(self) -> None:
        self._conn.close()


class DuckDBEngine:
    """In-process DuckDB; `threads` and `memory_limit` per query, spilling to `temp_dir`."""

    dialect: Dialect = "duckdb"

    def __init__(self, files: StoreFiles, *, threads: int = 2, memory_limit: str = "2GB",
                 temp_dir: Path | None = None) -> None:
        self.files = files
        self.threads = threads
        self.memory_limit = memory_limit
        self.temp_dir = temp_dir

    def _connect(self) -> Any:
        import duckdb

        config: dict[str, Any] = {"threads": self.threads, "memory_limit": self.memory_limit,
                                  "autoinstall_known_extensions": False,
                                  "autoload_known_extensions": False}
        if self.temp_dir is not None:
            self.temp_dir.mkdir(parents=True, exist_ok=True)
            config["temp_directory"] = str(self.temp_dir)
        conn = duckdb.connect(":memory:", config=config)
        conn.execute("SET TimeZone = 'UTC'")
        conn.execute("SET integer_division = true")  # Trino: 7 / 2 = 3 for integers
        return conn

    def open(self, translation: Translation) -> DuckDBExecution:
        """Bind the stores and lock the connection; a file that vanished between listing
        and binding (compaction) means listing again."""
        import duckdb

        for attempt in range(OPEN_ATTEMPTS):
            try:
                return self._open(translation)
            except duckdb.IOException as exc:
                if attempt == OPEN_ATTEMPTS - 1:
                    raise EngineError(_message(exc), retry=True) from None
        raise AssertionError("unreachable")

    def _open(self, translation: Translation) -> DuckDBExecution:
        conn = self._connect()
        scans: list[StoreScan] = []
        counts: list[tuple[int, int]] = []
        try:
            for name, store in translation.tables.items():
                scans.append(scan := self._bind(conn, name, store))
                counts.append(self.files.scanned(store, scan))
            local = [p for scan in scans if scan.glob is not None for p in scan.paths]
            if local:
                conn.execute("SET allowed_paths = $1", [local])
            conn.execute("SET enable_external_access = false")
            conn.execute("SET lock_configuration = true")
        except Exception:
            conn.close()
            raise
        return DuckDBExecution(conn, translation.sql, _total(counts))

    def _bind(self, conn: Any, name: str, store: Any) -> StoreScan:
        """A view named `name` over the store: read_parquet over a folder's files (hive
        partitions), a pyarrow dataset over S3 (no httpfs extension), or an empty table."""
        scan = self.files.scan(store)
        drop = ", ".join(PARTITION_COLUMNS)
        if not scan.paths:
            conn.register(f"{name}_source", self.files.empty(store))
            conn.execute(f"CREATE TEMP VIEW {name} AS SELECT * FROM {name}_source")
        elif scan.glob is None:
            conn.register(f"{name}_source", scan.dataset(self.files.empty(store).schema))
            conn.execute(f"CREATE TEMP VIEW {name} AS SELECT * EXCLUDE ({drop}) "
                         f"FROM {name}_source")
        else:
            conn.execute(f"CREATE TEMP VIEW {name} AS SELECT * EXCLUDE ({drop}) FROM "
                         f"read_parquet({_list_literal(list(scan.paths))}, "
                         "hive_partitioning = true, union_by_name = true)")
        return scan

    def close(self) -> None:
        return None


def _list_literal(paths: list[str]) -> str:
    """A DuckDB list of string literals (views cannot take parameters)."""
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"


# -- Spark ------------------------------------------------------------------------------

class SparkExecution:
    def __init__(self, session: Any, sql: str, group: str, scanned: tuple[int, int],
                 cleanup: Callable[[], None]) -> None:
        self._session = session
        self._sql = sql
        self._group = group
        self._cleanup = cleanup
        self.events_scanned, self.bytes_scanned = scanned
        self.columns: list[str] = []
        self._interrupted = threading.Event()

    def batches(self, size: int) -> Iterator[list[tuple[Any, ...]]]:
        try:
            self._session.sparkContext.setJobGroup(self._group, "opentrail query", True)
            frame = self._session.sql(self._sql)
            self.columns = list(frame.columns)
            batch: list[tuple[Any, ...]] = []
            for row in frame.toLocalIterator():
                batch.append(tuple(_from_spark(v) for v in row))
                if len(batch) >= size:
                    yield batch
                    batch = []
        except Exception as exc:
            if self._interrupted.is_set():
                raise EngineError("The query was interrupted.") from None
            raise EngineError(_message(exc)) from None
        if batch:
            yield batch

    def interrupt(self) -> None:
        self._interrupted.set()
        self._session.sparkContext.cancelJobGroup(self._group)

    def close(self) -> None:
        self._cleanup()


def _from_spark(value: Any) -> Any:
    """Spark's Python values as DuckDB's: Rows as dicts, naive local times as UTC."""
    from pyspark.sql import Row

    if isinstance(value, Row):
        return {k: _from_spark(v) for k, v in value.asDict().items()}
    if isinstance(value, dict):
        return {k: _from_spark(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_spark(v) for v in value]
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.astimezone(UTC)  # pyspark hands back local wall time
    return value


class SparkEngine:
    """pyspark: a local session by default, or Spark Connect when `remote` is sc://..."""

    dialect: Dialect = "spark"

    def __init__(self, files: StoreFiles, *, remote: str = "") -> None:
        self.files = files
        self.remote = remote
        self._session: Any = None
        self._lock = threading.Lock()
        self._count = 0

    def session(self) -> Any:
        with self._lock:
            if self._session is None:
                from pyspark.sql import SparkSession

                builder = SparkSession.builder.appName("opentrail-lake")
                builder = (builder.remote(self.remote) if self.remote
                           else builder.master("local[2]")
                           .config("spark.ui.enabled", "false")
                           .config("spark.sql.shuffle.partitions", "4"))
                self._session = (builder.config("spark.sql.session.timeZone", "UTC")
                                 .config("spark.sql.ansi.enabled", "false")
                                 .config("spark.sql.caseSensitive", "false")
                                 .getOrCreate())
            return self._session

    def open(self, translation: Translation) -> SparkExecution:
        try:
            session = self.session()
        except (Exception, SystemExit) as exc:  # no Java, no Spark Connect server, ...
            # (pyspark's connect client calls sys.exit() when pandas is missing)
            where = self.remote or "a local session"
            raise EngineError(f"Spark ({where}) could not start: {_message(exc)}") from None
        with self._lock:
            self._count += 1
            group = f"opentrail-{self._count}"
        counts: list[tuple[int, int]] = []
        temp = tempfile.TemporaryDirectory(prefix="opentrail-spark-")
        try:
            for name, store in translation.tables.items():  # placeholders: unique per query
                scan = self.files.scan(store)
                counts.append(self.files.scanned(store, scan))
                self._frame(session, store, scan, temp.name).createOrReplaceTempView(name)
        except Exception as exc:  # a file gone since listing, or one Spark cannot reach
            temp.cleanup()
            raise EngineError(f"Spark could not read the store's files: {_message(exc)}",
                              retry=True) from None

        def cleanup() -> None:
            for name in translation.tables:
                session.catalog.dropTempView(name)
            temp.cleanup()

        return SparkExecution(session, translation.sql, group, _total(counts), cleanup)

    def _frame(self, session: Any, store: Any, scan: StoreScan, temp: str) -> Any:
        """The store as a DataFrame. A folder's files are read by path (the cluster must
        see the same path); S3 files as s3a://bucket/key (the cluster's own S3 settings)."""
        if not scan.paths:  # an empty store: its columns, from an empty file
            path = os.path.join(temp, f"{store.id}.parquet")
            pq.write_table(self.files.empty(store), path)
            return session.read.parquet(path)
        local = scan.glob is not None
        paths = list(scan.paths) if local else [f"s3a://{p}" for p in scan.paths]
        base = scan.base if local else f"s3a://{scan.base}"
        frame = (session.read.option("basePath", base).option("mergeSchema", "true")
                 .parquet(*paths))
        return frame.drop(*[c for c in PARTITION_COLUMNS if c in frame.columns])

    def close(self) -> None:
        with self._lock:
            if self._session is not None:
                self._session.stop()
                self._session = None


def open_engine(kind: str, files: StoreFiles, *, spark_remote: str = "",
                temp_dir: Path | None = None) -> Engine:
    """The engine `--lake-engine` names. DuckDB gets both cores and 2 GB, spilling to
    temp_dir beyond that; a Spark session starts only with the first query."""
    if kind == "spark":
        return SparkEngine(files, remote=spark_remote)
    if kind == "duckdb":
        return DuckDBEngine(files, threads=2, memory_limit="2GB", temp_dir=temp_dir)
    raise ValueError(f"lake_engine must be 'duckdb' or 'spark', not {kind!r}.")
