"""A private PostgreSQL 15 server for the test session: never a mock, never a skip.

initdb into a fresh temporary folder, `postgres` on a free loopback port, one database per
test made by `CREATE DATABASE ... TEMPLATE` (fast), everything removed at the end. initdb
refuses to run as root, so as root the server runs as the `postgres` system user (which
Debian's package creates) in a folder that user owns; as anyone else it runs as that user.
The binaries come from Debian's postgresql-15 (scripts/test installs it); if they are
missing the fixture fails, naming what to install.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

__all__ = ["PostgresServer"]

BIN = Path(os.environ.get("OPENTRAIL_TEST_PG_BIN", "/usr/lib/postgresql/15/bin"))
SUPERUSER = "opentrail"
TEMPLATE = "opentrail_template"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class PostgresServer:
    """One running server; `new_database()` answers the URL of an empty database."""

    def __init__(self, *, durable: bool = False, root: Path | None = None,
                 settings: tuple[str, ...] = ()) -> None:
        """`durable`: fsync on (the benchmarks compare it with SQLite's fsync'd commits).
        `root`: a folder kept after `stop` (a benchmark's store, reused by the next run:
        `start` finds its cluster there); by default a temporary one, removed.
        `settings`: more `name=value` server settings."""
        self._fsync = "on" if durable else "off"
        self._settings = settings
        self._keep = root is not None
        for tool in ("initdb", "pg_ctl", "postgres"):
            if not (BIN / tool).is_file():
                raise RuntimeError(
                    f"PostgreSQL 15 is not installed: {BIN / tool} is missing. Install "
                    "Debian's postgresql-15 (scripts/test does: apt-get install "
                    "postgresql-15) or set OPENTRAIL_TEST_PG_BIN to its bin folder.")
        if root is not None:
            root.mkdir(parents=True, exist_ok=True)
        self.root = root if root is not None else Path(tempfile.mkdtemp(prefix="opentrail-pg-"))
        self._as: list[str] = []
        if os.geteuid() == 0:
            user = pwd.getpwnam("postgres")
            os.chown(self.root, user.pw_uid, user.pw_gid)
            self._as = ["runuser", "-u", "postgres", "--"]
        self.port = _free_port()
        self._names = itertools.count(1)
        self._started = False

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        fresh = not (self.data / "PG_VERSION").exists()
        if fresh:
            self._run(str(BIN / "initdb"), "-D", str(self.data), "-U", SUPERUSER,
                      "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8", "--no-sync")
        # Durability is not under test in the tests (the server is thrown away): fsync off
        # is what makes a database per test cheap; benchmarks ask for it on.
        options = (f"-c listen_addresses=127.0.0.1 -c port={self.port} "
                   f"-c unix_socket_directories={self.root} -c fsync={self._fsync} "
                   f"-c full_page_writes={self._fsync} -c max_connections=200"
                   + "".join(f" -c {setting}" for setting in self._settings))
        self._run(str(BIN / "pg_ctl"), "-D", str(self.data), "-l",
                  str(self.root / "server.log"), "-o", options, "-w", "-t", "60", "start")
        self._started = True
        if fresh:
            self._admin(f"CREATE DATABASE {TEMPLATE}")

    def cpu_seconds(self) -> float:
        """User + system CPU of the server and its live backends so far (from /proc)."""
        main = int((self.data / "postmaster.pid").read_text().split()[0])
        ticks = 0
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat.parent.name) == main or int(fields[1]) == main:
                ticks += int(fields[11]) + int(fields[12])
        return ticks / os.sysconf("SC_CLK_TCK")

    def new_database(self) -> str:
        """A fresh empty database (copied from an empty template) and its URL."""
        name = f"t{os.getpid()}_{next(self._names)}"
        self._admin(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
        return self.url(name)

    def drop_database(self, url: str) -> None:
        name = url.rsplit("/", 1)[1]
        self._admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    def stop(self) -> None:
        try:
            if self._started:
                self._run(str(BIN / "pg_ctl"), "-D", str(self.data), "-m",
                          "fast" if self._keep else "immediate", "-w", "stop")
        finally:
            if not self._keep:
                shutil.rmtree(self.root, ignore_errors=True)

    def _admin(self, sql: str) -> None:
        import psycopg

        deadline = time.monotonic() + 30
        while True:
            try:
                with psycopg.connect(self.url(), autocommit=True) as conn:
                    conn.execute(sql.encode())
                return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def _run(self, *args: str) -> None:
        proc = subprocess.run([*self._as, *args], capture_output=True, text=True,
                              timeout=120, cwd=self.root)
        if proc.returncode != 0:
            log = self.root / "server.log"
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{' '.join(args)} failed ({proc.returncode}):\n"
                               f"{proc.stdout}{proc.stderr}{tail}")
