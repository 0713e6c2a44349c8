"""A Kafka broker as a deployment should run it: SASL_SSL only, SCRAM users, ACLs enforced.

The secure profile's broker, started from the same cached jars as the local one, in a directory
of its own (tests start one per module; ``docs/operations.md`` shows the same properties for a
real cluster):

- one client listener, ``SASL_SSL`` (TLS with a CA made here, then SCRAM-SHA-512), and the
  KRaft controller listener on loopback, which clients never use;
- ``StandardAuthorizer`` with ``allow.everyone.if.no.acl.found=false``: a user may do only what
  an ACL grants; ``admin`` (the broker's own user) and the controller listener's principal are
  super users;
- users created when the storage is formatted (``--add-scram``), before the broker takes a
  single connection.

``worker_acls`` is the least a scoring worker needs, and what the secure-profile test grants.
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.admin._acl import AclBinding, AclOperation, AclPermissionType
from confluent_kafka.admin._resource import ResourcePatternType, ResourceType

from devstack.errors import ServiceStartError
from devstack.kafka import KafkaPaths, ensure_jars, java_command, new_cluster_id
from devstack.process import ProcessSpec, require_tool, spawn, stop, wait_healthy, write_pid
from devstack.settings import LOOPBACK, DevstackSettings

MECHANISM = "SCRAM-SHA-512"
ADMIN = "admin"


@dataclass(frozen=True)
class Certificates:
    ca: Path  # the CA clients trust (``ssl.ca.location``)
    keystore: Path  # the broker's PKCS#8 key and certificate, PEM


def make_certificates(d: Path, host: str = LOOPBACK) -> Certificates:
    """A CA and a broker certificate for ``host`` signed by it (openssl), valid two days."""
    d.mkdir(parents=True, exist_ok=True)

    def openssl(*args: str) -> None:
        run = subprocess.run(["openssl", *args], cwd=d, capture_output=True, text=True)
        if run.returncode != 0:
            raise ServiceStartError(f"openssl {args[0]} failed: {run.stderr.strip()}")

    require_tool("openssl", "makes the secure profile's certificates")
    openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
        "-subj", "/CN=fraudscore test CA", "-keyout", "ca.key", "-out", "ca.crt",
    )  # fmt: skip
    openssl(
        "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={host}",
        "-keyout", "broker.key", "-out", "broker.csr",
    )  # fmt: skip
    (d / "san.ext").write_text(f"subjectAltName=IP:{host}\n", encoding="utf-8")
    openssl(
        "x509", "-req", "-in", "broker.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
        "-CAcreateserial", "-days", "2", "-extfile", "san.ext", "-out", "broker.crt",
    )  # fmt: skip
    openssl("pkcs8", "-topk8", "-nocrypt", "-in", "broker.key", "-out", "broker.pk8")
    keystore = d / "broker-keystore.pem"
    keystore.write_bytes((d / "broker.pk8").read_bytes() + (d / "broker.crt").read_bytes())
    keystore.chmod(0o600)
    return Certificates(d / "ca.crt", keystore)


def render_properties(
    port: int, cport: int, data: Path, certs: Certificates, admin_password: str
) -> str:
    """server.properties of a one-node broker+controller that takes SASL_SSL clients only."""
    jaas = (
        "org.apache.kafka.common.security.scram.ScramLoginModule required "
        f'username="{ADMIN}" password="{admin_password}";'
    )
    lines = [
        "process.roles=broker,controller",
        "node.id=1",
        f"controller.quorum.voters=1@{LOOPBACK}:{cport}",
        f"listeners=SASL_SSL://{LOOPBACK}:{port},CONTROLLER://{LOOPBACK}:{cport}",
        f"advertised.listeners=SASL_SSL://{LOOPBACK}:{port}",
        "controller.listener.names=CONTROLLER",
        "listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name=SASL_SSL",
        f"sasl.enabled.mechanisms={MECHANISM}",
        f"sasl.mechanism.inter.broker.protocol={MECHANISM}",
        f"listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config={jaas}",
        "ssl.keystore.type=PEM",
        f"ssl.keystore.location={certs.keystore}",
        "ssl.truststore.type=PEM",
        f"ssl.truststore.location={certs.ca}",
        "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        "allow.everyone.if.no.acl.found=false",
        f"super.users=User:{ADMIN};User:ANONYMOUS",  # ANONYMOUS: the controller listener only
        f"log.dirs={data}",
        "offsets.topic.replication.factor=1",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "share.coordinator.state.topic.replication.factor=1",
        "share.coordinator.state.topic.min.isr=1",
        "offsets.topic.num.partitions=4",
        "transaction.state.log.num.partitions=4",
        "auto.create.topics.enable=false",
        "group.initial.rebalance.delay.ms=0",
    ]
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class SecureKafka:
    bootstrap: str
    ca: Path
    admin_password: str
    pid: int

    def client_config(self, user: str, password: str) -> dict[str, Any]:
        """librdkafka properties of a client logging in as ``user`` (CA checked, host too)."""
        return {
            "bootstrap.servers": self.bootstrap,
            "security.protocol": "SASL_SSL",
            "sasl.mechanism": MECHANISM,
            "sasl.username": user,
            "sasl.password": password,
            "ssl.ca.location": str(self.ca),
        }

    def admin(self) -> AdminClient:
        return AdminClient(self.client_config(ADMIN, self.admin_password))

    def stop(self) -> None:
        stop(self.pid, grace_s=10.0)


def _free_ports(n: int) -> list[int]:
    """``n`` distinct free ports: every socket is held until all are bound, so the kernel cannot
    hand out one port twice (the broker would refuse two listeners on the same port)."""
    with contextlib.ExitStack() as held:
        socks = [held.enter_context(socket.socket()) for _ in range(n)]
        for sock in socks:
            sock.bind((LOOPBACK, 0))
        return [int(sock.getsockname()[1]) for sock in socks]


def start(
    root: Path,
    users: Mapping[str, str],
    *,
    admin_password: str,
    settings: DevstackSettings | None = None,
    timeout_s: float = 90.0,
) -> SecureKafka:
    """Format and start a secure broker under ``root`` on free ports, ``users`` (name to
    password) and ``admin`` created; returns once ``admin`` gets metadata over SASL_SSL."""
    settings = settings or DevstackSettings()
    java = require_tool("java", "runs the Kafka broker")
    lib = ensure_jars(settings)
    paths = KafkaPaths(root)
    paths.data.mkdir(parents=True, exist_ok=True)
    certs = make_certificates(root / "tls")
    port, cport = _free_ports(2)
    props = render_properties(port, cport, paths.data, certs, admin_password)
    paths.config.write_text(props, encoding="utf-8")
    paths.config.chmod(0o600)  # it holds the admin password
    paths.log4j.write_text("rootLogger.level = WARN\n", encoding="utf-8")
    fmt = java_command(java, lib, paths, "kafka.tools.StorageTool", heap_mb=256)
    fmt += ["format", "--ignore-formatted", f"--cluster-id={new_cluster_id()}"]
    fmt += ["-c", str(paths.config)]
    for name, password in {ADMIN: admin_password, **users}.items():
        fmt += ["--add-scram", f"{MECHANISM}=[name={name},password={password}]"]
    done = subprocess.run(fmt, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        out = "\n".join((done.stdout + done.stderr).splitlines()[-20:])
        raise ServiceStartError(f"formatting the secure broker's storage failed:\n{out}")
    cmd = java_command(java, lib, paths, "kafka.Kafka", settings.kafka_heap_mb)
    pid = spawn([*cmd, str(paths.config)], paths.log_file, root)
    write_pid(paths.pid_file, pid)
    broker = SecureKafka(f"{LOOPBACK}:{port}", certs.ca, admin_password, pid)
    spec = ProcessSpec("secure kafka", paths.pid_file, paths.log_file, marker=str(paths.config))
    wait_healthy(spec, pid, lambda: _answers(broker), timeout_s)
    return broker


def _answers(broker: SecureKafka) -> bool:
    admin = AdminClient({**broker.client_config(ADMIN, broker.admin_password), "log_level": 0})
    try:
        return bool(admin.list_topics(timeout=2).brokers)
    except KafkaException:
        return False


def worker_acls(
    principal: str,
    *,
    reads: list[str],
    writes: list[str],
    group_prefix: str,
    transactional_prefix: str,
) -> list[AclBinding]:
    """What a worker needs and nothing more: read its input topics, write its output topics,
    join (and describe) groups named ``group_prefix...`` (its group and its label reader's),
    and use transactional ids ``transactional_prefix...`` (exactly-once). Describing a topic
    comes with reading or writing it; an idempotent producer needs no cluster grant (Kafka 3+)."""

    def allow(
        kind: ResourceType, name: str, op: AclOperation, pattern: ResourcePatternType
    ) -> AclBinding:
        return AclBinding(kind, name, pattern, principal, "*", op, AclPermissionType.ALLOW)

    literal, prefixed = ResourcePatternType.LITERAL, ResourcePatternType.PREFIXED
    return [
        *(allow(ResourceType.TOPIC, t, AclOperation.READ, literal) for t in reads),
        # the start-up retention check reads the input topics' retention.ms
        *(allow(ResourceType.TOPIC, t, AclOperation.DESCRIBE_CONFIGS, literal) for t in reads),
        *(allow(ResourceType.TOPIC, t, AclOperation.WRITE, literal) for t in writes),
        allow(ResourceType.GROUP, group_prefix, AclOperation.READ, prefixed),
        allow(ResourceType.TRANSACTIONAL_ID, transactional_prefix, AclOperation.WRITE, prefixed),
    ]
