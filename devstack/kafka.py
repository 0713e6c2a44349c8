"""A real single-node Apache Kafka broker (KRaft) run from jars, for machines without Docker.

Steps of a start:

1. resolve the broker's jars once with Maven into a per-user cache (a marker file is written only
   after a complete copy, so an interrupted download is redone and later starts are offline);
2. write ``server.properties`` and ``log4j2.properties`` under the services directory;
3. format the storage directory once (``kafka.tools.StorageTool``);
4. spawn ``java ... kafka.Kafka server.properties`` detached, and wait until an AdminClient
   gets metadata back.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

from confluent_kafka import KafkaException
from confluent_kafka.admin import AdminClient
from rich.console import Console

from devstack.errors import JarResolutionError, ServiceStartError
from devstack.process import (
    ProcessSpec,
    file_lock,
    port_open,
    require_tool,
    spawn,
    wait_healthy,
    write_pid,
)
from devstack.settings import LOOPBACK, DevstackSettings

KAFKA_VERSION = "4.1.2"
SCALA_VERSION = "2.13"
LOG4J_VERSION = "2.25.3"
NODE_ID = 1
COMPLETE_MARKER = ".complete"


@dataclass(frozen=True)
class KafkaPaths:
    """Files of the local broker under ``<services dir>/kafka``."""

    root: Path

    @property
    def config(self) -> Path:
        return self.root / "server.properties"

    @property
    def log4j(self) -> Path:
        return self.root / "log4j2.properties"

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log_file(self) -> Path:
        return self.root / "kafka.log"

    @property
    def pid_file(self) -> Path:
        return self.root / "kafka.pid"


def kafka_paths(settings: DevstackSettings) -> KafkaPaths:
    """Where this services directory keeps the broker's state."""
    return KafkaPaths(settings.state_dir() / "kafka")


def process_spec(settings: DevstackSettings) -> ProcessSpec:
    """The broker's pid file; its config path on the command line proves the process is ours."""
    paths = kafka_paths(settings)
    return ProcessSpec("kafka", paths.pid_file, paths.log_file, marker=str(paths.config))


def render_pom(version: str = KAFKA_VERSION) -> str:
    """A dependency-only pom: the broker plus a log4j2 binding so it logs somewhere."""
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>fraudscore.devstack</groupId>
  <artifactId>kafka-broker-jars</artifactId>
  <version>{version}</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_{SCALA_VERSION}</artifactId>
      <version>{version}</version>
    </dependency>
    <dependency>
      <groupId>org.apache.logging.log4j</groupId>
      <artifactId>log4j-slf4j-impl</artifactId>
      <version>{LOG4J_VERSION}</version>
    </dependency>
  </dependencies>
</project>
"""


def jar_home(settings: DevstackSettings, version: str = KAFKA_VERSION) -> Path:
    """``<cache>/kafka-<version>``: holds pom.xml, lib/ and the completion marker."""
    return settings.jar_cache_dir() / f"kafka-{version}"


def ensure_jars(
    settings: DevstackSettings, console: Console | None = None, version: str = KAFKA_VERSION
) -> Path:
    """Return the directory of the broker's jars, downloading them with Maven the first time."""
    home = jar_home(settings, version)
    lib = home / "lib"
    if (home / COMPLETE_MARKER).is_file():
        return lib
    mvn = require_tool("mvn", "needed once to download the Kafka broker's jars")
    with file_lock(home / ".lock"):
        if (home / COMPLETE_MARKER).is_file():  # another process finished while we waited
            return lib
        shutil.rmtree(lib, ignore_errors=True)
        (home / "pom.xml").write_text(render_pom(version), encoding="utf-8")
        _run_maven(mvn, home, lib, console or Console(stderr=True), version)
        jars = sorted(lib.glob("*.jar"))
        if not jars:
            raise JarResolutionError(f"Maven finished but copied no jars into {lib}")
        (home / COMPLETE_MARKER).write_text(f"{version}\n{len(jars)} jars\n", encoding="utf-8")
    return lib


def _run_maven(mvn: str, home: Path, lib: Path, console: Console, version: str) -> None:
    """Run ``dependency:copy-dependencies``, showing each downloaded artifact in a spinner."""
    cmd = [
        mvn,
        "-B",
        "-f",
        str(home / "pom.xml"),
        "dependency:copy-dependencies",
        f"-DoutputDirectory={lib}",
        "-DincludeScope=runtime",
    ]
    output: list[str] = []
    title = f"Downloading Apache Kafka {version} jars from Maven Central (first start only)"
    with console.status(title) as status:
        proc = subprocess.Popen(
            cmd, cwd=home, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        assert proc.stdout is not None
        for line in proc.stdout:
            output.append(line.rstrip())
            if line.startswith("Downloaded from"):
                artifact = line.split()[3].rsplit("/", 1)[-1]
                status.update(f"{title}: {artifact}")
        code = proc.wait()
    if code != 0:
        last = "\n".join(output[-20:])
        raise JarResolutionError(f"`mvn dependency:copy-dependencies` failed ({code}):\n{last}")


def render_server_properties(settings: DevstackSettings, data_dir: Path) -> str:
    """server.properties for one combined broker+controller node on loopback."""
    port, cport = settings.kafka_port, settings.kafka_controller_port
    lines = [
        "process.roles=broker,controller",
        f"node.id={NODE_ID}",
        f"controller.quorum.voters={NODE_ID}@{LOOPBACK}:{cport}",
        f"listeners=PLAINTEXT://{LOOPBACK}:{port},CONTROLLER://{LOOPBACK}:{cport}",
        f"advertised.listeners=PLAINTEXT://{LOOPBACK}:{port}",
        "controller.listener.names=CONTROLLER",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name=PLAINTEXT",
        f"log.dirs={data_dir}",
        "# one node: internal topics cannot have more than one replica",
        "offsets.topic.replication.factor=1",
        "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1",
        "share.coordinator.state.topic.replication.factor=1",
        "share.coordinator.state.topic.min.isr=1",
        "# fewer internal partitions than the default 50: faster first group join in tests",
        "offsets.topic.num.partitions=8",
        "transaction.state.log.num.partitions=8",
        "# topics are made with the partitions the workers expect (`fraudscore topics`); a typo",
        "# in a topic name must fail, not create an empty topic",
        "auto.create.topics.enable=false",
        "# tests join groups constantly; do not wait 3 s for more members",
        "group.initial.rebalance.delay.ms=0",
    ]
    return "\n".join(lines) + "\n"


def render_log4j2() -> str:
    """Broker logging to stdout (redirected to kafka.log); chatty loggers turned down."""
    return """status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = STDOUT
logger.state.name = state.change.logger
logger.state.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
"""


def new_cluster_id() -> str:
    """A KRaft cluster id: 16 random bytes, URL-safe base64 without padding (22 chars)."""
    return base64.urlsafe_b64encode(uuid.uuid4().bytes).decode("ascii").rstrip("=")


def write_configs(settings: DevstackSettings) -> KafkaPaths:
    """Write the broker's config files (rewritten each start so port changes apply)."""
    paths = kafka_paths(settings)
    paths.data.mkdir(parents=True, exist_ok=True)
    paths.config.write_text(render_server_properties(settings, paths.data), encoding="utf-8")
    paths.log4j.write_text(render_log4j2(), encoding="utf-8")
    return paths


def java_command(java: str, lib: Path, paths: KafkaPaths, main: str, heap_mb: int) -> list[str]:
    """The JVM command line; the classpath wildcard is expanded by java itself, not a shell."""
    return [
        java,
        f"-Xmx{heap_mb}m",
        "-Djava.awt.headless=true",
        f"-Dlog4j2.configurationFile={paths.log4j}",
        "-cp",
        f"{lib}/*",
        main,
    ]


def format_storage(java: str, lib: Path, paths: KafkaPaths) -> None:
    """Format the KRaft log directory once; a formatted directory has meta.properties."""
    if (paths.data / "meta.properties").is_file():
        return
    cmd = java_command(java, lib, paths, "kafka.tools.StorageTool", heap_mb=256)
    # "--cluster-id=ID" in one word: an id may start with "-" (one in 32), which the tool's
    # argument parser would otherwise take for an option
    cmd += ["format", "--ignore-formatted", f"--cluster-id={new_cluster_id()}"]
    cmd += ["-c", str(paths.config)]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        out = "\n".join((result.stdout + result.stderr).splitlines()[-20:])
        raise ServiceStartError(f"formatting Kafka storage in {paths.data} failed:\n{out}")


def healthy(bootstrap: str, timeout_s: float = 2.0) -> bool:
    """True when the broker answers a metadata request with at least one broker."""
    host, _, port = bootstrap.rpartition(":")
    if not port_open(host, int(port)):
        return False  # skip librdkafka's connect-retry noise while the JVM boots
    admin = AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})
    try:
        metadata = admin.list_topics(timeout=timeout_s)
    except KafkaException:
        return False
    return bool(metadata.brokers)


def start(settings: DevstackSettings, timeout_s: float, console: Console | None = None) -> int:
    """Start the broker and wait until it is healthy; returns its pid."""
    java = require_tool("java", "runs the Kafka broker")
    lib = ensure_jars(settings, console)
    paths = write_configs(settings)
    format_storage(java, lib, paths)
    cmd = java_command(java, lib, paths, "kafka.Kafka", settings.kafka_heap_mb)
    pid = spawn([*cmd, str(paths.config)], paths.log_file, paths.root)
    write_pid(paths.pid_file, pid)
    bootstrap = settings.kafka_bootstrap
    wait_healthy(process_spec(settings), pid, lambda: healthy(bootstrap), timeout_s)
    return pid
