"""Unit tests of devstack: rendering, pid handling, port checks, selection order. No sockets."""

from __future__ import annotations

import base64
import os
import socket
import stat
import subprocess
import sys
import textwrap
import time
import xml.etree.ElementTree as ET
from concurrent.futures import Future
from pathlib import Path
from typing import Any, ClassVar

import pytest
from confluent_kafka import KafkaError, KafkaException
from typer.testing import CliRunner

from devstack import cli, kafka, process, redis, select, stack, topics
from devstack.errors import (
    DevstackError,
    JarResolutionError,
    PortInUseError,
    ServiceStartError,
    ToolMissingError,
    TopicError,
)
from devstack.process import ProcessSpec
from devstack.settings import DevstackSettings
from devstack.topics import DEFAULT_TOPICS, TopicSpec
from tests.unit.conftest import SocketBlockedError

ENV_NAMES = (
    "FRAUDSCORE_LOCAL_KAFKA_PORT",
    "FRAUDSCORE_LOCAL_KAFKA_CONTROLLER_PORT",
    "FRAUDSCORE_LOCAL_REDIS_PORT",
    "FRAUDSCORE_SERVICES_DIR",
    "FRAUDSCORE_CACHE_DIR",
    "XDG_CACHE_HOME",
    "FRAUDSCORE_KAFKA_BOOTSTRAP_SERVERS",
    "FRAUDSCORE_REDIS_URL",
)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The developer's own FRAUDSCORE_* variables (or .env file) must not change these tests."""
    for name in ENV_NAMES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def settings(tmp_path: Path) -> DevstackSettings:
    return DevstackSettings(
        services_dir=tmp_path / "services",
        cache_dir=tmp_path / "cache",
        kafka_port=31092,
        kafka_controller_port=31093,
        redis_port=31379,
    )


def _python_sleeper(*marker: str) -> list[str]:
    """A harmless long-running process whose command line carries ``marker``."""
    return [sys.executable, "-c", "import time; time.sleep(60)", *marker]


# --- the unit tier itself ---------------------------------------------------------------------


def test_unit_tests_cannot_open_sockets() -> None:
    with pytest.raises(SocketBlockedError):
        socket.create_connection(("127.0.0.1", 9), timeout=0.1)


# --- settings -----------------------------------------------------------------------------------


def test_settings_defaults(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    s = DevstackSettings()
    assert (s.kafka_port, s.kafka_controller_port, s.redis_port) == (19092, 19093, 16379)
    assert s.state_dir() == tmp_path / "var" / "services"
    assert s.jar_cache_dir() == tmp_path / "home" / ".cache" / "fraudscore"
    assert s.kafka_bootstrap == "127.0.0.1:19092"
    assert s.local_redis_url == "redis://127.0.0.1:16379/0"


def test_settings_read_from_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FRAUDSCORE_LOCAL_KAFKA_PORT", "29092")
    monkeypatch.setenv("FRAUDSCORE_LOCAL_KAFKA_CONTROLLER_PORT", "29093")
    monkeypatch.setenv("FRAUDSCORE_LOCAL_REDIS_PORT", "26379")
    monkeypatch.setenv("FRAUDSCORE_SERVICES_DIR", str(tmp_path / "svc"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    s = DevstackSettings()
    assert (s.kafka_port, s.kafka_controller_port, s.redis_port) == (29092, 29093, 26379)
    assert s.state_dir() == tmp_path / "svc"
    assert s.jar_cache_dir() == tmp_path / "xdg" / "fraudscore"
    monkeypatch.setenv("FRAUDSCORE_CACHE_DIR", str(tmp_path / "explicit"))
    assert DevstackSettings().jar_cache_dir() == tmp_path / "explicit"


def test_settings_read_dotenv_like_the_worker(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "FRAUDSCORE_LOCAL_REDIS_PORT=26380\nFRAUDSCORE_REDIS_URL=redis://r:1/0\n"
    )
    s = DevstackSettings()
    assert (s.redis_port, s.redis_url) == (26380, "redis://r:1/0")


# --- kafka rendering ----------------------------------------------------------------------------


def _properties(text: str) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in text.splitlines() if line and line[0] != "#")
    return {key: value for key, value in pairs}


def test_server_properties_single_node_kraft_on_loopback(settings: DevstackSettings) -> None:
    props = _properties(kafka.render_server_properties(settings, Path("/data/x")))
    assert props["process.roles"] == "broker,controller"
    assert props["controller.quorum.voters"] == "1@127.0.0.1:31093"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:31092,CONTROLLER://127.0.0.1:31093"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:31092"
    assert props["log.dirs"] == "/data/x"
    assert props["transaction.state.log.min.isr"] == "1"
    assert props["offsets.topic.replication.factor"] == "1"
    assert props["group.initial.rebalance.delay.ms"] == "0"


def test_pom_declares_broker_and_log_binding() -> None:
    root = ET.fromstring(kafka.render_pom("9.9.9"))
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    deps = {
        d.findtext("m:artifactId", namespaces=ns): d.findtext("m:version", namespaces=ns)
        for d in root.iterfind("m:dependencies/m:dependency", ns)
    }
    assert deps == {"kafka_2.13": "9.9.9", "log4j-slf4j-impl": kafka.LOG4J_VERSION}
    assert kafka.KAFKA_VERSION == "4.1.2"


def test_cluster_id_is_22_char_base64_of_16_bytes() -> None:
    cid = kafka.new_cluster_id()
    assert len(cid) == 22
    assert len(base64.urlsafe_b64decode(cid + "==")) == 16
    assert cid != kafka.new_cluster_id()


def test_java_command_lets_java_expand_the_classpath(settings: DevstackSettings) -> None:
    paths = kafka.kafka_paths(settings)
    cmd = kafka.java_command("/usr/bin/java", Path("/cache/lib"), paths, "kafka.Kafka", 384)
    assert cmd[0] == "/usr/bin/java"
    assert "-Xmx384m" in cmd
    assert cmd[cmd.index("-cp") + 1] == "/cache/lib/*"
    assert cmd[-1] == "kafka.Kafka"
    assert f"-Dlog4j2.configurationFile={paths.log4j}" in cmd


def test_kafka_pid_marker_is_the_config_path(settings: DevstackSettings) -> None:
    spec = kafka.process_spec(settings)
    assert spec.marker == str(settings.state_dir() / "kafka" / "server.properties")
    assert spec.pid_file == settings.state_dir() / "kafka" / "kafka.pid"


def test_redis_command_has_persistence_off_and_loopback(tmp_path: Path) -> None:
    cmd = redis.redis_command("/usr/bin/redis-server", 31379, tmp_path)
    joined = " ".join(cmd)
    assert "--port 31379" in joined
    assert "--bind 127.0.0.1" in joined
    assert cmd[cmd.index("--save") + 1] == ""
    assert "--appendonly no" in joined
    assert "--daemonize no" in joined


# --- jars -----------------------------------------------------------------------------------


FAKE_MVN = textwrap.dedent(
    """\
    #!/bin/sh
    for arg in "$@"; do
      case "$arg" in -DoutputDirectory=*) out="${arg#-DoutputDirectory=}";; esac
    done
    echo "Downloading from central: https://repo/org/apache/kafka/kafka_2.13-4.1.2.jar"
    echo "Downloaded from central: https://repo/org/apache/kafka/kafka_2.13-4.1.2.jar (6 MB)"
    [ -n "$FAKE_MVN_FAIL" ] && { echo "[ERROR] Could not resolve dependencies"; exit 1; }
    mkdir -p "$out" && touch "$out/kafka_2.13-4.1.2.jar" "$out/kafka-clients-4.1.2.jar"
    echo call >> "$(dirname "$0")/calls"
    """
)


@pytest.fixture
def fake_mvn(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A shell script named mvn, first on PATH, that 'downloads' two jars."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    script = bin_dir / "mvn"
    script.write_text(FAKE_MVN)
    script.chmod(script.stat().st_mode | stat.S_IEXEC)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    return bin_dir


def test_ensure_jars_downloads_once_then_is_offline(
    settings: DevstackSettings, fake_mvn: Path
) -> None:
    lib = kafka.ensure_jars(settings)
    assert sorted(p.name for p in lib.iterdir()) == [
        "kafka-clients-4.1.2.jar",
        "kafka_2.13-4.1.2.jar",
    ]
    home = kafka.jar_home(settings)
    assert (home / kafka.COMPLETE_MARKER).read_text().startswith("4.1.2")
    assert "kafka_2.13" in (home / "pom.xml").read_text()
    assert kafka.ensure_jars(settings) == lib
    assert (fake_mvn / "calls").read_text().count("call") == 1


def test_failed_maven_run_leaves_no_marker(
    settings: DevstackSettings, fake_mvn: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FAKE_MVN_FAIL", "1")
    with pytest.raises(JarResolutionError, match="Could not resolve dependencies"):
        kafka.ensure_jars(settings)
    assert not (kafka.jar_home(settings) / kafka.COMPLETE_MARKER).exists()


def test_missing_mvn_says_how_to_install(
    settings: DevstackSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("devstack.process.shutil.which", lambda _tool: None)
    with pytest.raises(ToolMissingError) as info:
        kafka.ensure_jars(settings)
    message = str(info.value)
    assert "`mvn` not found" in message
    assert "apt-get install -y default-jre-headless maven redis-server" in message
    assert "\n" not in message


# --- pid files and processes ----------------------------------------------------------------


def test_pid_file_round_trip_and_garbage(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "x.pid"
    assert process.read_pid(path) is None
    process.write_pid(path, 4242)
    assert process.read_pid(path) == 4242
    path.write_text("not a pid")
    assert process.read_pid(path) is None
    process.remove_pid(path)
    process.remove_pid(path)
    assert not path.exists()


def test_pid_alive_for_self_and_reaped_child() -> None:
    assert process.pid_alive(os.getpid())
    child = subprocess.Popen(["true"])
    deadline = time.monotonic() + 5
    while process.pid_alive(child.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not process.pid_alive(child.pid)


def test_owned_pid_requires_marker_on_command_line(tmp_path: Path) -> None:
    spec = ProcessSpec("x", tmp_path / "x.pid", tmp_path / "x.log", marker="fraudscore-marker-1")
    pid = process.spawn(_python_sleeper("fraudscore-marker-1"), spec.log_file, tmp_path)
    try:
        process.write_pid(spec.pid_file, pid)
        assert process.owned_pid(spec) == pid
        process.write_pid(spec.pid_file, os.getpid())  # alive, but not ours: pid reuse
        assert process.owned_pid(spec) is None
    finally:
        process.stop(pid, grace_s=5)
    assert not process.pid_alive(pid)


def test_port_open_true_and_false(monkeypatch: pytest.MonkeyPatch) -> None:
    class _Conn:
        def __enter__(self) -> _Conn:
            return self

        def __exit__(self, *exc: object) -> None:
            return None

    monkeypatch.setattr("devstack.process.socket.create_connection", lambda *a, **k: _Conn())
    assert process.port_open("127.0.0.1", 1)

    def refused(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionRefusedError

    monkeypatch.setattr("devstack.process.socket.create_connection", refused)
    assert not process.port_open("127.0.0.1", 1)


def test_wait_healthy_reports_early_exit_with_log_tail(tmp_path: Path) -> None:
    spec = ProcessSpec("svc", tmp_path / "svc.pid", tmp_path / "svc.log", marker="svc")
    cmd = ["sh", "-c", "for i in $(seq 1 30); do echo line$i; done; exit 3"]
    pid = process.spawn(cmd, spec.log_file, tmp_path)
    process.write_pid(spec.pid_file, pid)
    with pytest.raises(ServiceStartError) as info:
        process.wait_healthy(spec, pid, lambda: False, timeout_s=10)
    message = str(info.value)
    assert "svc exited during startup" in message
    assert "line30" in message and "line11" in message and "line10\n" not in message
    assert not spec.pid_file.exists()


def test_wait_healthy_timeout_stops_the_process(tmp_path: Path) -> None:
    spec = ProcessSpec("svc", tmp_path / "svc.pid", tmp_path / "svc.log", marker="svc")
    pid = process.spawn(_python_sleeper(), spec.log_file, tmp_path)
    with pytest.raises(ServiceStartError, match="not healthy after"):
        process.wait_healthy(spec, pid, lambda: False, timeout_s=0.3)
    assert not process.pid_alive(pid)


def test_tail_of_missing_log(tmp_path: Path) -> None:
    assert "no log at" in process.tail(tmp_path / "nope.log")


# --- up / down / status -----------------------------------------------------------------------


@pytest.fixture
def no_start(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make any attempt to really start a service fail the test."""

    def refuse(*args: Any, **kwargs: Any) -> int:
        raise AssertionError("nothing should be started")

    monkeypatch.setattr(kafka, "start", refuse)
    monkeypatch.setattr(redis, "start", refuse)
    monkeypatch.setattr(kafka, "ensure_jars", refuse)


def test_up_refuses_port_held_by_someone_else(
    settings: DevstackSettings, monkeypatch: pytest.MonkeyPatch, no_start: None
) -> None:
    monkeypatch.setattr(stack, "port_open", lambda host, port: port == settings.redis_port)
    with pytest.raises(PortInUseError) as info:
        stack.up(settings)
    assert "127.0.0.1:31379" in str(info.value)
    assert "FRAUDSCORE_LOCAL_REDIS_PORT" in str(info.value)


def test_up_missing_tool_fails_before_anything_starts(
    settings: DevstackSettings, monkeypatch: pytest.MonkeyPatch, no_start: None
) -> None:
    monkeypatch.setattr(stack, "port_open", lambda host, port: False)
    monkeypatch.setattr(
        "devstack.process.shutil.which", lambda t: None if t == "redis-server" else t
    )
    with pytest.raises(ToolMissingError, match="redis-server"):
        stack.up(settings)


def test_up_is_a_no_op_when_ours_is_running(
    settings: DevstackSettings, monkeypatch: pytest.MonkeyPatch, no_start: None
) -> None:
    pids = {"kafka": 111, "redis": 222}
    monkeypatch.setattr(stack, "owned_pid", lambda spec: pids[spec.name])
    monkeypatch.setattr(stack, "port_open", lambda host, port: True)
    created: list[str] = []
    monkeypatch.setattr(stack, "ensure_topics", lambda b, specs: created.append(b))
    result = stack.up(settings)
    assert result.running
    assert (result.kafka.pid, result.redis.pid) == (111, 222)
    assert not result.kafka.started and not result.redis.started
    assert created == ["127.0.0.1:31092"]


def test_up_starts_missing_services(
    settings: DevstackSettings, monkeypatch: pytest.MonkeyPatch
) -> None:
    pids: dict[str, int] = {}
    open_ports: set[int] = set()

    def fake_start(name: str, pid: int, *ports: int) -> Any:
        def start(*args: Any, **kwargs: Any) -> int:
            pids[name] = pid
            open_ports.update(ports)
            return pid

        return start

    monkeypatch.setattr(stack, "owned_pid", lambda spec: pids.get(spec.name))
    monkeypatch.setattr(stack, "port_open", lambda host, port: port in open_ports)
    monkeypatch.setattr(stack, "require_tool", lambda tool, why: tool)
    monkeypatch.setattr(stack, "ensure_topics", lambda b, specs: [])
    monkeypatch.setattr(kafka, "ensure_jars", lambda s, c: Path("/lib"))
    monkeypatch.setattr(kafka, "start", fake_start("kafka", 7, 31092, 31093))
    monkeypatch.setattr(redis, "start", fake_start("redis", 8, 31379))
    result = stack.up(settings)
    assert result.running and result.kafka.started and result.redis.started
    assert (result.kafka.pid, result.redis.pid) == (7, 8)


def test_down_stops_only_our_processes(settings: DevstackSettings) -> None:
    kafka_spec, redis_spec = kafka.process_spec(settings), redis.process_spec(settings)
    state = settings.state_dir()
    kafka_pid = process.spawn(_python_sleeper(kafka_spec.marker), kafka_spec.log_file, state)
    redis_pid = process.spawn(_python_sleeper("redis-server"), redis_spec.log_file, state)
    process.write_pid(kafka_spec.pid_file, kafka_pid)
    process.write_pid(redis_spec.pid_file, redis_pid)
    assert stack.down(settings, grace_s=5) == ["kafka", "redis"]
    assert not process.pid_alive(kafka_pid) and not process.pid_alive(redis_pid)
    assert not kafka_spec.pid_file.exists() and not redis_spec.pid_file.exists()


def test_down_never_signals_a_reused_pid(settings: DevstackSettings) -> None:
    spec = kafka.process_spec(settings)
    process.write_pid(spec.pid_file, os.getpid())  # alive, but without our marker
    assert stack.down(settings, grace_s=1) == []
    assert not spec.pid_file.exists()


def test_status_when_nothing_runs(settings: DevstackSettings) -> None:
    result = stack.status(settings)
    assert not result.running
    assert [s.name for s in result.services] == ["kafka", "redis"]
    assert result.kafka.pid is None
    assert result.kafka.address == "127.0.0.1:31092"
    assert result.redis.address == "redis://127.0.0.1:31379/0"


# --- topics -----------------------------------------------------------------------------------


def test_default_topics() -> None:
    assert {t.name: t.partitions for t in DEFAULT_TOPICS} == {
        "payments.transactions": 4,
        "payments.transactions.dlq": 1,
        "fraud.alerts": 4,
        "fraud.scores": 4,
        "fraud.samples": 1,
        "fraud.labels": 1,
        "fraud.drift": 1,
    }


def _future(error: int | None) -> Future[None]:
    future: Future[None] = Future()
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(KafkaException(KafkaError(error)))
    return future


class _FakeAdmin:
    """Answers create_topics from a script of per-call error codes (None = created)."""

    script: ClassVar[list[dict[str, int | None]]] = []
    calls: ClassVar[list[list[str]]] = []

    def __init__(self, config: dict[str, Any]) -> None:
        pass

    def create_topics(self, new_topics: list[Any], **kwargs: Any) -> dict[str, Future[None]]:
        names = [t.topic for t in new_topics]
        _FakeAdmin.calls.append(names)
        answers = _FakeAdmin.script.pop(0)
        return {name: _future(answers[name]) for name in names}


@pytest.fixture
def fake_admin(monkeypatch: pytest.MonkeyPatch) -> type[_FakeAdmin]:
    monkeypatch.setattr(topics, "AdminClient", _FakeAdmin)
    monkeypatch.setattr("devstack.topics.time.sleep", lambda s: None)
    _FakeAdmin.script, _FakeAdmin.calls = [], []
    return _FakeAdmin


def test_ensure_topics_treats_existing_as_success(fake_admin: type[_FakeAdmin]) -> None:
    fake_admin.script = [{"a": None, "b": KafkaError.TOPIC_ALREADY_EXISTS}]
    assert topics.ensure_topics("x:1", [TopicSpec("a", 2), TopicSpec("b", 1)]) == ["a"]


def test_ensure_topics_retries_transient_errors(fake_admin: type[_FakeAdmin]) -> None:
    fake_admin.script = [{"a": None, "b": KafkaError._TRANSPORT}, {"b": None}]
    assert topics.ensure_topics("x:1", [TopicSpec("a", 2), TopicSpec("b", 1)]) == ["a", "b"]
    assert fake_admin.calls == [["a", "b"], ["b"]]


def test_ensure_topics_raises_on_real_errors(fake_admin: type[_FakeAdmin]) -> None:
    fake_admin.script = [{"a": KafkaError.INVALID_PARTITIONS}]
    with pytest.raises(TopicError, match="cannot create topic 'a'"):
        topics.ensure_topics("x:1", [TopicSpec("a", 0)])


# --- selection rule ---------------------------------------------------------------------------


def _boom(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("must not be called")


def test_select_prefers_explicit_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FRAUDSCORE_KAFKA_BOOTSTRAP_SERVERS", "broker:9092")
    monkeypatch.setenv("FRAUDSCORE_REDIS_URL", "redis://cache:6379/0")
    monkeypatch.setattr(select, "docker_available", _boom)
    monkeypatch.setattr(select, "up", _boom)
    found = select.resolve_services()
    assert (found.kafka_bootstrap, found.redis_url, found.source) == (
        "broker:9092",
        "redis://cache:6379/0",
        "env",
    )


def test_select_half_an_environment_is_ignored(
    monkeypatch: pytest.MonkeyPatch, settings: DevstackSettings
) -> None:
    monkeypatch.setenv("FRAUDSCORE_KAFKA_BOOTSTRAP_SERVERS", "broker:9092")
    monkeypatch.setattr(select, "docker_available", lambda: False)
    monkeypatch.setattr(select, "up", _up)
    assert select.resolve_services(settings).source == "local"


def _up(settings: DevstackSettings) -> stack.StackStatus:
    def svc(name: str, address: str) -> stack.ServiceStatus:
        return stack.ServiceStatus(name, True, 1, address)

    return stack.StackStatus(
        settings.state_dir(),
        svc("kafka", settings.kafka_bootstrap),
        svc("redis", settings.local_redis_url),
    )


def test_select_uses_testcontainers_when_docker_answers(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(select, "docker_available", lambda: True)
    monkeypatch.setattr(select, "up", _boom)
    started = select.Services("h:1", "redis://h:2/0", "testcontainers")
    monkeypatch.setattr(select, "start_containers", lambda: started)
    assert select.resolve_services() is started


def test_select_falls_back_to_local_without_docker(
    monkeypatch: pytest.MonkeyPatch, settings: DevstackSettings
) -> None:
    monkeypatch.setattr(select, "docker_available", lambda: False)
    monkeypatch.setattr(select, "start_containers", _boom)
    monkeypatch.setattr(select, "up", _up)
    found = select.resolve_services(settings)
    assert (found.kafka_bootstrap, found.redis_url, found.source) == (
        "127.0.0.1:31092",
        "redis://127.0.0.1:31379/0",
        "local",
    )
    found.close()  # shared local services stay up: nothing to call


def test_docker_available_is_false_when_the_client_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    import docker  # type: ignore[import-untyped]

    monkeypatch.setattr(docker, "from_env", _boom)
    assert select.docker_available() is False


class _FakeContainer:
    events: ClassVar[list[str]] = []

    def __init__(self, image: str) -> None:
        self.image, self.port, self.kraft = image, 6379, False

    def with_kraft(self) -> _FakeContainer:
        self.kraft = True
        return self

    def start(self) -> _FakeContainer:
        if "redis" in self.image and "fail" in _FakeContainer.events:
            raise RuntimeError("engine said no")
        _FakeContainer.events.append(f"start {self.image}")
        return self

    def stop(self) -> None:
        _FakeContainer.events.append(f"stop {self.image}")

    def get_bootstrap_server(self) -> str:
        assert self.kraft, "Kafka container must run in KRaft mode"
        return "localhost:55001"

    def get_container_host_ip(self) -> str:
        return "localhost"

    def get_exposed_port(self, port: int) -> int:
        return 55002


def test_start_containers_and_close(monkeypatch: pytest.MonkeyPatch) -> None:
    _FakeContainer.events = []
    monkeypatch.setattr(select, "_container_classes", lambda: (_FakeContainer, _FakeContainer))
    monkeypatch.setattr(select, "ensure_topics", lambda b, specs: [])
    found = select.start_containers()
    assert (found.kafka_bootstrap, found.redis_url) == (
        "localhost:55001",
        "redis://localhost:55002/0",
    )
    found.close()
    assert _FakeContainer.events[-2:] == [
        f"stop {select.REDIS_IMAGE}",
        f"stop {select.KAFKA_IMAGE}",
    ]


def test_start_containers_failure_cleans_up(monkeypatch: pytest.MonkeyPatch) -> None:
    _FakeContainer.events = ["fail"]
    monkeypatch.setattr(select, "_container_classes", lambda: (_FakeContainer, _FakeContainer))
    with pytest.raises(DevstackError, match="engine said no"):
        select.start_containers()
    assert _FakeContainer.events[-1] == f"stop {select.KAFKA_IMAGE}"


def test_container_classes_come_from_installed_testcontainers() -> None:
    kafka_cls, redis_cls = select._container_classes()
    assert hasattr(kafka_cls, "with_kraft") and hasattr(kafka_cls, "get_bootstrap_server")
    assert hasattr(redis_cls, "get_exposed_port")


# --- CLI ----------------------------------------------------------------------------------------


runner = CliRunner()


def test_cli_status_prints_a_table(
    monkeypatch: pytest.MonkeyPatch, settings: DevstackSettings
) -> None:
    monkeypatch.setattr(stack, "status", lambda: _up(settings))
    result = runner.invoke(cli.services_app, ["status"])
    assert result.exit_code == 0, result.output
    assert "kafka" in result.output and "running" in result.output
    assert "127.0.0.1:31092" in result.output


def test_cli_turns_devstack_errors_into_red_line_and_exit_1(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def fail(**kwargs: Any) -> Any:
        raise ToolMissingError("`java` not found on PATH; install it with apt-get")

    monkeypatch.setattr(stack, "up", fail)
    result = runner.invoke(cli.services_app, ["up"])
    assert result.exit_code == 1
    assert "error: `java` not found" in result.output
    assert "Traceback" not in result.output


def test_cli_topics_uses_configured_bootstrap(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str] = []

    def fake_ensure(bootstrap: str, specs: Any, timeout_s: float) -> list[str]:
        seen.append(bootstrap)
        return ["fraud.alerts"]

    monkeypatch.setattr(cli, "ensure_topics", fake_ensure)
    monkeypatch.setenv("FRAUDSCORE_KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
    result = runner.invoke(cli.services_app, ["topics"])
    assert result.exit_code == 0, result.output
    assert seen == ["kafka:9092"]
    assert "fraud.alerts" in result.output and "created" in result.output


@pytest.mark.parametrize("command", ["up", "down", "status", "topics"])
def test_cli_help_has_an_example(command: str) -> None:
    result = runner.invoke(cli.services_app, [command, "--help"])
    assert result.exit_code == 0
    assert "Example" in result.output
