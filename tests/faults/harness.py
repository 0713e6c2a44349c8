"""Fault-injection harness: the real worker as a subprocess, its topics, its own redis-server.

A ``Scenario`` is one test's world: unique topics, consumer group and Redis prefix, the env of a
``fraudscore worker`` subprocess, and every process it started (all killed at teardown). Faults
are signals to processes the test started (SIGKILL, SIGTERM, SIGSTOP), never anything shared.

Waits are "until a condition or a deadline" (``wait_until``); no sleep decides correctness.

``FAULTS_WORKER_SOURCE=/path/to/a/checkout`` runs the worker subprocesses from that source tree
instead of this one (e.g. an exported ``HEAD`` while the working tree is being edited), to tell
a committed bug from work in progress.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import string
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import redis

from devstack import TopicSpec, ensure_topics, process

FRAUDSCORE = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "fraudscore"
# Ports other suites and engineers use: never pick them, even when free at this moment.
RESERVED_PORTS = frozenset({16379, 19092, 19093, 29192, 29193, 49092, 49093, 46479})
# A killed member holds its partitions until its session times out (45 s by default); 6 s is the
# broker's minimum, so a restarted worker gets its partitions back within the test's budget.
FAST_SESSION = {"session.timeout.ms": "6000", "heartbeat.interval.ms": "1000"}


def wait_until(check: Callable[[], bool], timeout_s: float, interval_s: float = 0.1) -> bool:
    """``devstack``'s poll-until-deadline, polling faster: fault tests time what they wait for."""
    return process.wait_until(check, timeout_s, interval_s)


class HarnessError(RuntimeError):
    """A step of the test's own set-up failed: a precondition, not a finding about the worker.

    The xfail markers of known bugs say ``raises=AssertionError``, so a set-up failure is never
    mistaken for the bug a marker describes.
    """


def require(ok: bool, message: str) -> None:
    if not ok:
        raise HarnessError(message)


def cache_dir(config: pytest.Config, name: str) -> Path:
    """A directory that outlives the run (pytest's cache; a temp dir under no:cacheprovider)."""
    cache = getattr(config, "cache", None)
    if cache is not None:
        return Path(cache.mkdir(name))
    path = Path(tempfile.gettempdir()) / f"fraudscore-{name}-{os.getuid()}"
    path.mkdir(parents=True, exist_ok=True)
    return path


SESSION = f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
KEEP_SESSIONS = 5


def log_dir(request: pytest.FixtureRequest, name: str) -> Path:
    """Where a test's worker logs go: ``faults-logs/<session>/<test>`` in pytest's cache.

    Kept after the run (``/tmp/pytest-of-*`` is rotated by every session on the machine) and
    per session, so two sessions running at once never touch each other's logs; the newest
    ``KEEP_SESSIONS`` sessions are kept.
    """
    root = cache_dir(request.config, "faults-logs")
    sessions = sorted(p for p in root.iterdir() if p.is_dir() and p.name != SESSION)
    for old in sessions[: max(0, len(sessions) - KEEP_SESSIONS + 1)]:
        shutil.rmtree(old, ignore_errors=True)
    path = root / SESSION / re.sub(r"[^\w.-]+", "_", name)
    path.mkdir(parents=True, exist_ok=True)
    return path


def fresh_name() -> str:
    """Like the ``unique_name`` fixture, for fixtures wider than one test: letters only."""
    return "t-" + "".join(secrets.choice(string.ascii_lowercase) for _ in range(10))


def free_port() -> int:
    """A loopback port nobody listens on now, outside the reserved ones."""
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        if port not in RESERVED_PORTS:
            return port


class WorkerProc:
    """One ``fraudscore worker`` subprocess; stdout and stderr go to ``log_path``."""

    def __init__(self, env: Mapping[str, str], log_path: Path, cwd: Path, args: list[str]) -> None:
        self.log_path = log_path
        self.started = time.monotonic()
        with log_path.open("ab") as log:
            self.popen = subprocess.Popen(
                [str(FRAUDSCORE), "worker", *args],
                env=dict(env),
                cwd=cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C of pytest does not reach it
            )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def tail(self, lines: int = 30) -> str:
        """The last lines of the log, without librdkafka's reconnect and config-warning noise."""
        noise = ("Connection refused", "CONFWARN")
        kept = [ln for ln in self.log().splitlines() if not any(n in ln for n in noise)]
        return "\n".join(kept[-lines:])

    def wait_log(self, needle: str, timeout_s: float) -> None:
        """Wait until the log contains ``needle``; fail at once if the process exits first."""
        ok = wait_until(lambda: needle in self.log() or not self.alive(), timeout_s, 0.2)
        require(
            ok and needle in self.log(),
            f"worker {self.pid} never logged {needle!r} (exit {self.popen.poll()}):\n{self.tail()}",
        )

    def signal(self, sig: signal.Signals) -> None:
        if self.alive():
            os.kill(self.pid, sig)

    def wait(self, timeout_s: float) -> int | None:
        """Exit status, or None if still running after ``timeout_s``."""
        try:
            return self.popen.wait(timeout_s)
        except subprocess.TimeoutExpired:
            return None

    def dump_stacks(self) -> int | None:
        """A hung worker: SIGABRT makes faulthandler write each thread's stack to the log."""
        self.signal(signal.SIGABRT)
        return self.wait(30)

    def kill9(self) -> int:
        """SIGKILL and reap; returns the exit status (-9)."""
        self.signal(signal.SIGKILL)
        code = self.wait(30)
        require(code is not None, f"worker {self.pid} survived SIGKILL")
        assert code is not None
        return code

    def stop(self, grace_s: float) -> tuple[int | None, float]:
        """SIGTERM; the exit status (None if it outlived the grace) and seconds it took."""
        t0 = time.monotonic()
        self.signal(signal.SIGTERM)
        code = self.wait(grace_s)
        return code, time.monotonic() - t0


@dataclass
class Scenario:
    """One test's topics, group, Redis prefix and worker processes."""

    kafka: str
    redis_url: str
    name: str
    model_dir: Path
    workdir: Path
    pycache: Path
    settings: dict[str, object] = field(default_factory=dict)
    procs: list[WorkerProc] = field(default_factory=list)

    def topic(self, kind: str) -> str:
        return f"{self.name}.{kind}"

    @property
    def tx(self) -> str:
        return self.topic("tx")

    @property
    def group(self) -> str:
        return f"{self.name}-workers"

    def create_topics(self, partitions: int, tx_config: Mapping[str, str] | None = None) -> None:
        specs = [
            TopicSpec(self.tx, partitions, config=dict(tx_config or {})),
            TopicSpec(self.topic("labels"), 1),
        ]
        specs += [TopicSpec(self.topic(k), 2) for k in ("dlq", "alerts", "scores", "samples")]
        specs.append(TopicSpec(self.topic("drift"), 1))
        ensure_topics(self.kafka, specs)

    def env(self, worker_id: str, **extra: object) -> dict[str, str]:
        """The subprocess environment: ours, with every FRAUDSCORE_ variable set explicitly."""
        values: dict[str, object] = {
            "kafka_bootstrap_servers": self.kafka,
            "redis_url": self.redis_url,
            "group_id": self.group,
            "worker_id": worker_id,
            "redis_key_prefix": self.name,
            "model_dir": self.model_dir,
            "kafka_config": FAST_SESSION,
            "log_level": "INFO",
            **{f"topic_{k}": self.topic(k) for k in ("dlq", "alerts", "scores", "samples")},
            "topic_transactions": self.tx,
            "topic_labels": self.topic("labels"),
            "topic_drift": self.topic("drift"),
            **self.settings,
            **extra,
        }
        env = {k: v for k, v in os.environ.items() if not k.startswith("FRAUDSCORE_")}
        # PYTHONDONTWRITEBYTECODE makes each start recompile everything (~10 s on 2 busy cores);
        # a private pycache (not in the source tree) brings a start down to ~2 s.
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(self.pycache)
        env["PYTHONUNBUFFERED"] = "1"
        env["PYTHONFAULTHANDLER"] = "1"  # SIGABRT dumps every thread's stack (``dump_stacks``)
        if source := os.environ.get("FAULTS_WORKER_SOURCE"):
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [source, env.get("PYTHONPATH")]))
        for key, value in values.items():
            text = json.dumps(value) if isinstance(value, dict) else str(value)
            env[f"FRAUDSCORE_{key.upper()}"] = text
        return env

    def worker(
        self, worker_id: str = "wa", *, args: list[str] | None = None, **extra: object
    ) -> WorkerProc:
        """Start a worker; its log is ``<workdir>/<worker_id>-<n>.log``."""
        n = sum(1 for p in self.procs if p.log_path.name.startswith(f"{worker_id}-"))
        log = self.workdir / f"{worker_id}-{n}.log"
        proc = WorkerProc(self.env(worker_id, **extra), log, self.workdir, args or [])
        self.procs.append(proc)
        return proc

    def logs(self) -> str:
        return "\n".join(p.log() for p in self.procs)

    def close(self) -> None:
        for proc in self.procs:
            if proc.alive():
                proc.signal(signal.SIGCONT)
                proc.signal(signal.SIGKILL)
                proc.wait(10)


class RedisServer:
    """A redis-server of the test's own (never the shared one): freeze, kill, restart (empty,
    or from its append-only file with ``aof``)."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.workdir = workdir
        self.popen: subprocess.Popen[bytes] | None = None
        self.aof = False  # True: an append-only file (fsync every second), as shipped

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        cmd = ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""]
        aof = ["--appendonly", "yes", "--appendfsync", "everysec"]
        cmd += aof if self.aof else ["--appendonly", "no"]
        cmd += ["--dir", str(self.workdir)]
        with (self.workdir / "redis.log").open("ab") as log:
            self.popen = subprocess.Popen(
                cmd, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        require(wait_until(self.answers, 20), "own redis-server did not answer PING")

    def answers(self) -> bool:
        client = redis.Redis(port=self.port, socket_timeout=0.5, socket_connect_timeout=0.5)
        try:
            return bool(client.ping())
        except redis.RedisError:
            return False
        finally:
            client.close()

    def signal(self, sig: signal.Signals) -> None:
        assert self.popen is not None
        self.popen.send_signal(sig)

    def kill9(self) -> None:
        assert self.popen is not None
        self.popen.kill()
        self.popen.wait(10)

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=5)

    def close(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(signal.SIGCONT)
            self.popen.kill()
            self.popen.wait(10)
