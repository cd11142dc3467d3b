"""The server under test: a real `opentrail serve` subprocess, and its memory watched."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import psutil

from bench.client import Key

__all__ = ["ACCOUNT", "BenchServer", "TreeMonitor"]

ACCOUNT = "123456789012"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _cli(*args: str) -> str:
    proc = subprocess.run([sys.executable, "-m", "opentrail", *args],
                          capture_output=True, text=True, timeout=120, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"opentrail {' '.join(args)} failed: {proc.stderr}")
    return proc.stdout


class BenchServer:
    """`opentrail serve` on a free loopback port; stopped with SIGTERM, as an operator would."""

    def __init__(self, data_dir: Path, log: Path, extra_args: tuple[str, ...] = ()) -> None:
        self.data_dir = data_dir
        self.port = _free_port()
        self.log = log
        self.extra_args = extra_args  # more `serve` flags (bench.sigma: --sigma-rules)
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "opentrail", "serve", "--data-dir", str(self.data_dir),
                 "--port", str(self.port), *self.extra_args], stdout=out,
                stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.endpoint}/health", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.1)
        raise RuntimeError("server did not start within 60 s")

    def create_key(self) -> Key:
        out = _cli("keys", "create", "--data-dir", str(self.data_dir),
                   "--account", ACCOUNT, "--role", "admin")
        data = json.loads(out)
        return Key(data["AccessKeyId"], data["SecretAccessKey"])

    def stop(self) -> None:
        """SIGTERM, then wait for the whole tree: the indexer child may outlive the server
        for a moment, still holding files in the data dir."""
        if self.proc is None or self.proc.poll() is not None:
            return
        children = psutil.Process(self.proc.pid).children(recursive=True)
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        _, alive = psutil.wait_procs(children, timeout=30)
        for child in alive:
            child.kill()


class TreeMonitor:
    """Samples a process and all its children (the indexer) every 100 ms: peak RSS, and
    the CPU time they used, which is far less sensitive than wall time to whatever else
    runs on the machine."""

    def __init__(self, pid: int, interval: float = 0.1) -> None:
        self._root = psutil.Process(pid)
        self._interval = interval
        self._stop = threading.Event()
        self.peak = 0
        self.peaks: dict[str, int] = {}  # per process: which one holds the memory
        # PSS: each shared page (libpython, SQLite, orjson...) counted once across the tree,
        # split between the processes mapping it; the RSS sum counts it once per process.
        self.peak_pss = 0
        self._cpu_first: dict[int, float] = {}
        self._cpu_last: dict[int, float] = {}
        self._names: dict[int, str] = {}  # pid -> what it is, once its files tell
        self._thread = threading.Thread(target=self._run, name="monitor", daemon=True)

    def __enter__(self) -> TreeMonitor:
        self.sample()
        self._cpu_first = dict(self._cpu_last)  # children born later start from zero
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    @property
    def cpu_seconds(self) -> float:
        return sum(t - self._cpu_first.get(pid, 0.0) for pid, t in self._cpu_last.items())

    @property
    def cpu_by_process(self) -> dict[str, float]:
        """CPU seconds used while watched, per process name (where the tree's CPU went)."""
        out: dict[str, float] = {}
        for pid, t in self._cpu_last.items():
            name = self._names.get(pid, f"child {pid}")
            out[name] = out.get(name, 0.0) + t - self._cpu_first.get(pid, 0.0)
        return out

    def sample(self) -> int:
        total = total_pss = 0
        for proc in [self._root, *self._root.children(recursive=True)]:
            try:
                memory = proc.memory_full_info()
                rss, pss = memory.rss, memory.pss
                cpu = proc.cpu_times()
                name = self._names.get(proc.pid) or (
                    "server" if proc is self._root else _child_name(proc))
            except psutil.NoSuchProcess:
                continue  # a child that just exited holds no memory
            total += rss
            total_pss += pss
            self.peaks[name] = max(self.peaks.get(name, 0), rss)
            self._cpu_last[proc.pid] = cpu.user + cpu.system
            if not name.startswith(("child ", "indexer")):
                self._names[proc.pid] = name
        self.peak = max(self.peak, total)
        self.peak_pss = max(self.peak_pss, total_pss)
        return total

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            try:
                self.sample()
            except psutil.NoSuchProcess:
                return  # the server itself exited


def _child_name(proc: psutil.Process) -> str:
    cmd = " ".join(proc.cmdline())
    if "resource_tracker" in cmd:
        return "multiprocessing resource tracker"
    if "spawn_main" not in cmd:
        return f"child {proc.pid}"
    try:  # the service's children differ by the database each one keeps open
        files = {Path(f.path).name for f in proc.open_files()}
    except psutil.Error:
        files = set()
    for db, name in (("findings.db", "sigma detector"), ("rules.db", "rules engine+sender"),
                     ("history.db", "history indexer")):
        if db in files:
            return name
    # The history indexer opens its database at once; a child that still has none after
    # a few seconds is a parse worker (events/_parsers.py), which never opens one.
    return "parse worker" if time.time() - proc.create_time() > 5 else "indexer"
