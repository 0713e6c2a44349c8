"""Redis servers started for one run and stopped after it: a three-master Redis Cluster, or one
plain server, on loopback with persistence off (the tests of cluster mode and ``fraudscore
bench``'s feature-store step use them; the session's own Redis is devstack/redis.py).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import partial
from pathlib import Path

import redis

from devstack.errors import DevstackError

# ports of other services on this machine, which a cluster node or its bus (+10000) must not take
TAKEN = {16379, 19092, 19093, 29192, 49092, 49093, 46479}


def free_ports(n: int) -> list[int]:
    """Free ports whose cluster bus ports (+10000) are free too, none of them another's."""
    ports: list[int] = []
    for _ in range(200):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = int(s.getsockname()[1])
        used = {p for q in ports for p in (q, q + 10_000)} | TAKEN
        if port + 10_000 >= 65_536 or {port, port + 10_000} & used:
            continue
        with socket.socket() as bus:
            try:
                bus.bind(("127.0.0.1", port + 10_000))
            except OSError:
                continue
        ports.append(port)
        if len(ports) == n:
            return ports
    raise RuntimeError("no free port pairs")


@contextmanager
def local_cluster(
    folder: Path,
    node_args: Callable[[int], list[str]] = lambda port: [],
    cli_args: Sequence[str] = (),
    client: Callable[[int], redis.Redis] = lambda port: redis.Redis(port=port),
) -> Iterator[list[int]]:
    """Three masters on loopback, no replicas, persistence off; stopped (by pid) afterwards.

    ``node_args`` are a node's extra options (later ones win), ``client`` reaches a node."""
    if not have_redis_tools():
        raise DevstackError(
            "redis-server/redis-cli missing (scripts/bootstrap-system.sh installs them)"
        )
    ports = free_ports(3)
    procs = [
        subprocess.Popen(
            ["redis-server", "--port", str(p), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
             "--cluster-config-file", f"nodes-{p}.conf", "--save", "", "--appendonly", "no",
             *node_args(p)],
            cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        for p in ports
    ]  # fmt: skip
    try:
        for node in map(client, ports):
            _wait(node.ping)
        subprocess.run(
            ["redis-cli", *cli_args, "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports),
             "--cluster-replicas", "0", "--cluster-yes"],
            check=True, capture_output=True, timeout=30,
        )  # fmt: skip
        for node in map(client, ports):
            _wait(partial(_cluster_ok, node))
        yield ports
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


def _wait(ready: Callable[[], object], timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if ready():
                return
        except redis.RedisError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError("redis cluster node not ready")
        time.sleep(0.1)


def _cluster_ok(node: redis.Redis) -> bool:
    return bool(node.cluster("INFO")["cluster_state"] == "ok")


def have_redis_tools() -> bool:
    return bool(shutil.which("redis-server") and shutil.which("redis-cli"))


@contextmanager
def local_server(folder: Path) -> Iterator[int]:
    """One plain redis-server on a free port, persistence off; yields the port."""
    if not have_redis_tools():
        raise DevstackError("redis-server missing (scripts/bootstrap-system.sh installs it)")
    (port,) = free_ports(1)
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no"],
        cwd=folder, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        _wait(lambda: redis.Redis(port=port).ping())
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
