"""A real Redis Cluster on loopback for test_redis_hash_tag.py, and its slot helpers.

``redis_cluster`` is three masters, no replicas, persistence off; ``tls_cluster`` the same as a
managed service runs one (TLS only, an ACL user confined to ``{fs}:*``). Both are started once
per test module and stopped by pid. ``slot_owner``, ``keys_in_slot`` and ``Migration`` read and
move one slot the way an operator's ``redis-cli --cluster`` does.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis

from tests.integration.test_redis_security import _certificates

# ports of other services on this machine, which a cluster node or its bus (+10000) must not take
TAKEN = {16379, 19092, 19093, 29192, 49092, 49093, 46479}


def _free_ports(n: int) -> list[int]:
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
def _cluster(
    folder: Path,
    node_args: Callable[[int], list[str]] = lambda port: [],
    cli_args: Sequence[str] = (),
    client: Callable[[int], redis.Redis] = lambda port: redis.Redis(port=port),
) -> Iterator[list[int]]:
    """Three masters on loopback, no replicas, persistence off; stopped (by pid) afterwards.

    ``node_args`` are a node's extra options (later ones win), ``client`` reaches a node."""
    if not (shutil.which("redis-server") and shutil.which("redis-cli")):
        pytest.skip("redis-server/redis-cli missing (scripts/bootstrap-system.sh installs them)")
    ports = _free_ports(3)
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
        for p in ports:
            _wait(lambda p=p: client(p).ping())
        subprocess.run(
            ["redis-cli", *cli_args, "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports),
             "--cluster-replicas", "0", "--cluster-yes"],
            check=True, capture_output=True, timeout=30,
        )  # fmt: skip
        for p in ports:
            _wait(lambda p=p: client(p).execute_command("CLUSTER INFO")["cluster_state"] == "ok")
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


@pytest.fixture(scope="module", name="redis_cluster")
def redis_cluster_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[int]]:
    """Each test uses its own tag, hence its own slot, so tests can share (and reshard) it."""
    with _cluster(tmp_path_factory.mktemp("redis-cluster")) as ports:
        yield ports


TLS_USER, TLS_PASSWORD = "fraudscore", "acl-pass-for-this-test-only"


@pytest.fixture(scope="module", name="tls_cluster")
def tls_cluster_fixture(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[list[int], Path]]:
    """A cluster as a managed service runs one: TLS only (bus too), the default user off, an ACL
    user confined to the ``{fs}`` keys. Yields the ports and the CA file."""
    folder = tmp_path_factory.mktemp("tls-cluster")
    ca = _certificates(folder)
    tls = ["--tls-cert-file", "server.crt", "--tls-key-file", "server.key", "--tls-ca-cert-file",
           "ca.crt", "--tls-auth-clients", "no", "--tls-cluster", "yes"]  # fmt: skip
    acl = ["--user", "default", "off", "--user", TLS_USER, "on", f">{TLS_PASSWORD}", "~{fs}:*",
           "+@all"]  # fmt: skip
    auth = {"username": TLS_USER, "password": TLS_PASSWORD}
    with _cluster(
        folder,
        lambda port: ["--port", "0", "--tls-port", str(port), *tls, *acl],
        ["--tls", "--cacert", str(ca), "--user", TLS_USER, "--pass", TLS_PASSWORD],
        lambda port: redis.Redis("127.0.0.1", port, ssl=True, ssl_ca_certs=str(ca), **auth),
    ) as ports:
        yield ports, ca


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


def slot_owner(ports: list[int], slot: int) -> int:
    for start, end, (_, port, *_rest), *_ in redis.Redis(port=ports[0]).execute_command(
        "CLUSTER SLOTS"
    ):
        if start <= slot <= end:
            return int(port)
    raise AssertionError(f"no node serves slot {slot}")


def keys_in_slot(port: int, slot: int) -> list[str]:
    r = redis.Redis(port=port, decode_responses=True)
    return list(r.execute_command("CLUSTER GETKEYSINSLOT", slot, 100_000))


class Migration:
    """Moves one slot between two nodes the way ``redis-cli --cluster reshard`` does."""

    def __init__(self, ports: list[int], slot: int, source: int, target: int) -> None:
        self.ports, self.slot, self.source, self.target = ports, slot, source, target
        self.src, self.dst = redis.Redis(port=source), redis.Redis(port=target)
        self.target_id = self.dst.execute_command("CLUSTER MYID")
        self.dst.execute_command(
            "CLUSTER SETSLOT", slot, "IMPORTING", self.src.execute_command("CLUSTER MYID")
        )
        self.src.execute_command("CLUSTER SETSLOT", slot, "MIGRATING", self.target_id)

    def move(self, share: float = 1.0) -> None:
        if keys := keys_in_slot(self.source, self.slot):
            some = keys[: max(1, int(len(keys) * share))]
            self.src.execute_command(
                "MIGRATE", "127.0.0.1", self.target, "", 0, 5000, "KEYS", *some
            )

    def finish(self) -> None:
        self.move()
        for port in (self.target, self.source, *self.ports):
            redis.Redis(port=port).execute_command(
                "CLUSTER SETSLOT", self.slot, "NODE", self.target_id
            )
