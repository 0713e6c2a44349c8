"""A real Redis Cluster on loopback (devstack/cluster.py) for the cluster tests, and its slot
helpers.

``redis_cluster`` is three masters, no replicas, persistence off; ``tls_cluster`` the same as a
managed service runs one (TLS only, an ACL user confined to ``{fs}:*``). Both are started once
per test module and stopped by pid. ``slot_owner``, ``keys_in_slot`` and ``Migration`` read and
move one slot the way an operator's ``redis-cli --cluster`` does.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from devstack.cluster import have_redis_tools, local_cluster
from tests.integration.test_redis_security import _certificates


def _need_tools() -> None:
    if not have_redis_tools():
        pytest.skip("redis-server/redis-cli missing (scripts/bootstrap-system.sh installs them)")


@pytest.fixture(scope="module", name="redis_cluster")
def redis_cluster_fixture(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[int]]:
    """Each test uses its own tag, hence its own slot, so tests can share (and reshard) it."""
    _need_tools()
    with local_cluster(tmp_path_factory.mktemp("redis-cluster")) as ports:
        yield ports


TLS_USER, TLS_PASSWORD = "fraudscore", "acl-pass-for-this-test-only"


@pytest.fixture(scope="module", name="tls_cluster")
def tls_cluster_fixture(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[list[int], Path]]:
    """A cluster as a managed service runs one: TLS only (bus too), the default user off, an ACL
    user confined to the ``{fs}`` keys. Yields the ports and the CA file."""
    _need_tools()
    folder = tmp_path_factory.mktemp("tls-cluster")
    ca = _certificates(folder)
    tls = ["--tls-cert-file", "server.crt", "--tls-key-file", "server.key", "--tls-ca-cert-file",
           "ca.crt", "--tls-auth-clients", "no", "--tls-cluster", "yes"]  # fmt: skip
    acl = ["--user", "default", "off", "--user", TLS_USER, "on", f">{TLS_PASSWORD}", "~{fs}:*",
           "+@all"]  # fmt: skip
    auth = {"username": TLS_USER, "password": TLS_PASSWORD}
    with local_cluster(
        folder,
        lambda port: ["--port", "0", "--tls-port", str(port), *tls, *acl],
        ["--tls", "--cacert", str(ca), "--user", TLS_USER, "--pass", TLS_PASSWORD],
        lambda port: redis.Redis("127.0.0.1", port, ssl=True, ssl_ca_certs=str(ca), **auth),
    ) as ports:
        yield ports, ca


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
