"""Unit tests of devstack's pid files, processes and port checks, and of up/down/status.

No sockets: the first test shows the unit tier refuses them.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from devstack import kafka, process, redis, stack
from devstack.errors import PortInUseError, ServiceStartError, ToolMissingError
from devstack.process import ProcessSpec
from devstack.settings import DevstackSettings
from tests.unit.conftest import SocketBlockedError
from tests.unit.devstack_fixtures import clean_env, devstack_settings  # noqa: F401  (fixtures)


def _python_sleeper(*marker: str) -> list[str]:
    """A harmless long-running process whose command line carries ``marker``."""
    return [sys.executable, "-c", "import time; time.sleep(60)", *marker]


# --- the unit tier itself ---------------------------------------------------------------------


def test_unit_tests_cannot_open_sockets() -> None:
    with pytest.raises(SocketBlockedError):
        socket.create_connection(("127.0.0.1", 9), timeout=0.1)


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
