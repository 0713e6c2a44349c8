"""``up`` / ``down`` / ``status`` of the locally started Kafka broker and Redis server.

``up`` is idempotent so every test session and demo can call it: a service whose pid file points
at a live process of ours that answers on its port is left alone. A port answered by anything else
is an error, never silently reused, because tests would then run against unknown state.
``down`` only ever signals processes recorded in this services directory's pid files.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console

from devstack import kafka, redis
from devstack.errors import PortInUseError
from devstack.process import (
    ProcessSpec,
    file_lock,
    owned_pid,
    port_open,
    remove_pid,
    require_tool,
    stop,
    wait_healthy,
)
from devstack.settings import LOOPBACK, DevstackSettings
from devstack.topics import DEFAULT_TOPICS, TopicSpec, ensure_topics


@dataclass(frozen=True)
class ServiceStatus:
    """One service as seen from its pid file and its port."""

    name: str
    running: bool
    pid: int | None
    address: str
    started: bool = False  # True when the ``up`` call that returned this started the process


@dataclass(frozen=True)
class StackStatus:
    """Both local services of one services directory."""

    services_dir: Path
    kafka: ServiceStatus
    redis: ServiceStatus

    @property
    def services(self) -> tuple[ServiceStatus, ServiceStatus]:
        return (self.kafka, self.redis)

    @property
    def running(self) -> bool:
        return all(service.running for service in self.services)


@dataclass(frozen=True)
class _Service:
    """What up/down/status need to know about one service."""

    spec: ProcessSpec
    ports: dict[str, int]  # setting env name -> port, for checks and error messages
    address: str
    healthy: Callable[[], bool]
    start: Callable[[float], int]
    tools: dict[str, str]  # executable -> why it is needed, checked before anything starts


def _services(settings: DevstackSettings, console: Console | None) -> tuple[_Service, _Service]:
    """Kafka first: it is the slow one, and failing early on it saves the Redis start."""
    kafka_ports = {
        "FRAUDSCORE_LOCAL_KAFKA_PORT": settings.kafka_port,
        "FRAUDSCORE_LOCAL_KAFKA_CONTROLLER_PORT": settings.kafka_controller_port,
    }
    return (
        _Service(
            kafka.process_spec(settings),
            kafka_ports,
            settings.kafka_bootstrap,
            lambda: kafka.healthy(settings.kafka_bootstrap),
            lambda timeout_s: kafka.start(settings, timeout_s, console),
            {"java": "runs the Kafka broker"},
        ),
        _Service(
            redis.process_spec(settings),
            {"FRAUDSCORE_LOCAL_REDIS_PORT": settings.redis_port},
            settings.local_redis_url,
            lambda: redis.healthy(settings.redis_port),
            lambda timeout_s: redis.start(settings, timeout_s),
            {"redis-server": "runs the online feature store"},
        ),
    )


def _ports_open(service: _Service) -> bool:
    return all(port_open(LOOPBACK, port) for port in service.ports.values())


def _check_ports_free(service: _Service, services_dir: Path) -> None:
    """Refuse to start when a port answers but the process is not one of ours."""
    for env_name, port in service.ports.items():
        if port_open(LOOPBACK, port):
            raise PortInUseError(
                f"{LOOPBACK}:{port} ({service.spec.name}) is in use by a process not started from "
                f"{services_dir}; stop it, set {env_name} to a free port, or point "
                "FRAUDSCORE_SERVICES_DIR at the directory that started it"
            )


def up(
    settings: DevstackSettings | None = None,
    timeout_s: float = 120.0,
    console: Console | None = None,
    topics: Iterable[TopicSpec] = DEFAULT_TOPICS,
) -> StackStatus:
    """Start whatever is not running yet, wait until healthy, then ensure the topics exist.

    1. under a lock on the services directory (two test sessions may call this at once):
    2. find which services already run from this directory;
    3. for the others, check ports are free and tools installed *before* starting anything;
    4. start the missing ones (downloading Kafka's jars the first time);
    5. create the topics (already existing ones count as success).
    """
    settings = settings or DevstackSettings()
    console = console or Console(stderr=True)
    state = settings.state_dir()
    services = _services(settings, console)
    started: set[str] = set()
    with file_lock(state / ".lock"):
        pids = {svc.spec.name: owned_pid(svc.spec) for svc in services}
        missing = [svc for svc in services if pids[svc.spec.name] is None]
        for svc in missing:
            remove_pid(svc.spec.pid_file)
            _check_ports_free(svc, state)
            for tool, why in svc.tools.items():
                require_tool(tool, why)
        if pids["kafka"] is None:
            kafka.ensure_jars(settings, console)  # its own spinner, outside the start spinner
        for svc in services:
            pid = pids[svc.spec.name]
            if pid is not None and not _ports_open(svc):
                wait_healthy(svc.spec, pid, svc.healthy, timeout_s)  # ours, still booting
            elif pid is None:
                with console.status(f"Starting {svc.spec.name} on {svc.address}"):
                    svc.start(timeout_s)
                started.add(svc.spec.name)
    ensure_topics(settings.kafka_bootstrap, topics)
    return _status(settings, services, started)


def down(settings: DevstackSettings | None = None, grace_s: float = 15.0) -> list[str]:
    """Stop the services this directory's ``up`` started; returns the names that were stopped.

    A pid file whose process is gone, or whose pid now belongs to someone else, is only removed.
    """
    settings = settings or DevstackSettings()
    stopped: list[str] = []
    with file_lock(settings.state_dir() / ".lock"):
        for svc in _services(settings, console=None):
            pid = owned_pid(svc.spec)
            if pid is not None:
                stop(pid, grace_s)
                stopped.append(svc.spec.name)
            remove_pid(svc.spec.pid_file)
    return stopped


def status(settings: DevstackSettings | None = None) -> StackStatus:
    """Report each service: running means our process is alive and its ports answer."""
    settings = settings or DevstackSettings()
    return _status(settings, _services(settings, console=None), started=set())


def _status(
    settings: DevstackSettings, services: Iterable[_Service], started: set[str]
) -> StackStatus:
    found: list[ServiceStatus] = []
    for svc in services:
        pid = owned_pid(svc.spec)
        running = pid is not None and _ports_open(svc)
        name = svc.spec.name
        found.append(ServiceStatus(name, running, pid, svc.address, name in started))
    kafka_status, redis_status = found
    return StackStatus(settings.state_dir(), kafka_status, redis_status)
