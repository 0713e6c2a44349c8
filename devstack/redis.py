"""A real ``redis-server`` on loopback with persistence off, for machines without Docker.

Persistence is off because the online feature store is rebuilt from events; a test run must
never read state written by an earlier run from a dump file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import redis as redis_client

from devstack.process import ProcessSpec, port_open, require_tool, spawn, wait_healthy, write_pid
from devstack.settings import LOOPBACK, DevstackSettings


@dataclass(frozen=True)
class RedisPaths:
    """Files of the local Redis under ``<services dir>/redis``."""

    root: Path

    @property
    def log_file(self) -> Path:
        return self.root / "redis.log"

    @property
    def pid_file(self) -> Path:
        return self.root / "redis.pid"


def redis_paths(settings: DevstackSettings) -> RedisPaths:
    """Where this services directory keeps Redis's state."""
    return RedisPaths(settings.state_dir() / "redis")


def process_spec(settings: DevstackSettings) -> ProcessSpec:
    """Redis rewrites its process title to ``redis-server 127.0.0.1:<port>``, hence the marker."""
    paths = redis_paths(settings)
    return ProcessSpec("redis", paths.pid_file, paths.log_file, marker="redis-server")


def redis_command(binary: str, port: int, workdir: Path) -> list[str]:
    """Foreground, loopback-only, an append-only file written before each reply and fsynced
    every second (a killed process loses nothing, a host crash at most ~1 s), no snapshots."""
    flags = {
        "--port": str(port),
        "--bind": LOOPBACK,
        "--save": "",  # no RDB snapshots: the AOF is the state
        "--appendonly": "yes",
        "--appendfsync": "everysec",
        "--daemonize": "no",  # we detach it ourselves and keep its pid
        "--dir": str(workdir),
    }
    return [binary, *(part for pair in flags.items() for part in pair)]


def healthy(port: int, timeout_s: float = 1.0) -> bool:
    """True when Redis answers PING."""
    if not port_open(LOOPBACK, port):
        return False
    client = redis_client.Redis(
        host=LOOPBACK, port=port, socket_timeout=timeout_s, socket_connect_timeout=timeout_s
    )
    try:
        return bool(client.ping())
    except redis_client.RedisError:
        return False
    finally:
        client.close()


def start(settings: DevstackSettings, timeout_s: float) -> int:
    """Start redis-server detached and wait for PING; returns its pid."""
    binary = require_tool("redis-server", "runs the online feature store")
    paths = redis_paths(settings)
    paths.root.mkdir(parents=True, exist_ok=True)
    pid = spawn(redis_command(binary, settings.redis_port, paths.root), paths.log_file, paths.root)
    write_pid(paths.pid_file, pid)
    port = settings.redis_port
    wait_healthy(process_spec(settings), pid, lambda: healthy(port), timeout_s)
    return pid
