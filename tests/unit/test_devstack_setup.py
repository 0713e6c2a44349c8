"""Unit tests of devstack's settings, rendered Kafka/Redis configuration and Maven jars."""

from __future__ import annotations

import base64
import os
import stat
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from devstack import kafka, redis
from devstack.errors import JarResolutionError, ToolMissingError
from devstack.settings import DevstackSettings
from tests.unit.devstack_fixtures import clean_env, devstack_settings  # noqa: F401  (fixtures)

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
    assert props["auto.create.topics.enable"] == "false"  # a mistyped topic name must fail


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


def test_redis_command_keeps_an_aof_and_listens_on_loopback(tmp_path: Path) -> None:
    cmd = redis.redis_command("/usr/bin/redis-server", 31379, tmp_path)
    joined = " ".join(cmd)
    assert "--port 31379" in joined
    assert "--bind 127.0.0.1" in joined
    assert cmd[cmd.index("--save") + 1] == ""
    assert "--appendonly yes --appendfsync everysec" in joined
    assert cmd[cmd.index("--dir") + 1] == str(tmp_path)
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
