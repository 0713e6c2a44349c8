"""Detached service processes: pid files, ownership checks, ports, start, stop, log tails.

The services outlive the Python process that started them (other test sessions and engineers
reuse them), so everything about "is it ours and is it alive" is answered from files on disk and
from the operating system, never from in-memory ``Popen`` objects.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from devstack.errors import DevstackError, ServiceStartError, missing_tool


@dataclass(frozen=True)
class ProcessSpec:
    """How to recognise one service's process: its pid file and a command-line marker.

    The marker protects against pid reuse: a stale pid file whose number now belongs to an
    unrelated process must never make us report "running" or send that process a signal.
    """

    name: str
    pid_file: Path
    log_file: Path
    marker: str


def read_pid(path: Path) -> int | None:
    """Return the pid stored in ``path``, or None when the file is absent or garbage."""
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None
    return int(text) if text.isdigit() and int(text) > 0 else None


def write_pid(path: Path, pid: int) -> None:
    """Write the pid atomically, so a concurrent reader never sees a half-written number."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(f"{pid}\n", encoding="utf-8")
    tmp.replace(path)


def remove_pid(path: Path) -> None:
    """Delete a pid file; absent is fine."""
    path.unlink(missing_ok=True)


def pid_alive(pid: int) -> bool:
    """True if the process exists and is not a zombie.

    Reaps the process first when it is our own exited child, otherwise a dead child would look
    alive to ``kill(pid, 0)`` until the parent exits.
    """
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return not _is_zombie(pid)


def _is_zombie(pid: int) -> bool:
    """Linux only: a zombie that is not our child still answers ``kill(pid, 0)``."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] == "Z"


def command_line(pid: int) -> str:
    """The process's command line (``/proc`` on Linux, ``ps`` elsewhere); empty if unknown."""
    if Path("/proc/self/cmdline").exists():
        try:
            raw = Path(f"/proc/{pid}/cmdline").read_bytes()
            return raw.replace(b"\0", b" ").decode("utf-8", "replace")
        except OSError:
            return ""
    result = subprocess.run(
        ["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True, check=False
    )
    return result.stdout.strip()


def owned_pid(spec: ProcessSpec) -> int | None:
    """The pid from the spec's pid file if that process is alive and carries our marker."""
    pid = read_pid(spec.pid_file)
    if pid is None or not pid_alive(pid):
        return None
    return pid if spec.marker in command_line(pid) else None


def port_open(host: str, port: int, timeout_s: float = 0.5) -> bool:
    """True if something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def spawn(cmd: Sequence[str], log_file: Path, cwd: Path) -> int:
    """Start ``cmd`` detached (own session, so Ctrl-C in our terminal does not reach it).

    Output goes to ``log_file`` (appended), stdin is closed. Returns the pid.
    """
    log_file.parent.mkdir(parents=True, exist_ok=True)
    with log_file.open("ab") as log:
        proc = subprocess.Popen(
            list(cmd),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return proc.pid


def stop(pid: int, grace_s: float) -> None:
    """Stop a process group we started: SIGTERM, wait up to ``grace_s``, then SIGKILL.

    The pid is also the process group id because ``spawn`` starts a new session; signalling the
    group takes down any helper the service forked.
    """
    _signal_group(pid, signal.SIGTERM)
    if wait_until(lambda: not pid_alive(pid), grace_s, interval_s=0.1):
        return
    _signal_group(pid, signal.SIGKILL)
    if not wait_until(lambda: not pid_alive(pid), 5.0, interval_s=0.1):
        raise DevstackError(f"process {pid} did not exit after SIGKILL")


def _signal_group(pid: int, sig: signal.Signals) -> None:
    """Signal the group, falling back to the single pid if it is not a group leader."""
    try:
        os.killpg(pid, sig)
    except ProcessLookupError:
        with suppress(ProcessLookupError):
            os.kill(pid, sig)


def wait_until(check: Callable[[], bool], timeout_s: float, interval_s: float = 0.25) -> bool:
    """Poll ``check`` until it is true or ``timeout_s`` passes; returns the last answer."""
    deadline = time.monotonic() + timeout_s
    while True:
        if check():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval_s)


def tail(path: Path, lines: int = 20) -> str:
    """The last ``lines`` lines of a log file, for error messages."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return f"(no log at {path})"
    return "\n".join(text.splitlines()[-lines:])


def wait_healthy(
    spec: ProcessSpec, pid: int, healthy: Callable[[], bool], timeout_s: float
) -> None:
    """Wait for a freshly started service; on failure stop it and raise with its log tail.

    Gives up early when the process exits, so a bad config fails in a second, not after the
    whole timeout.
    """
    exited = False

    def done() -> bool:
        nonlocal exited
        exited = not pid_alive(pid)
        return exited or healthy()

    ok = wait_until(done, timeout_s) and not exited
    if ok:
        return
    if not exited:
        stop(pid, grace_s=5.0)
    remove_pid(spec.pid_file)
    why = "exited during startup" if exited else f"not healthy after {timeout_s:.0f}s"
    raise ServiceStartError(
        f"{spec.name} {why}; last 20 lines of {spec.log_file}:\n{tail(spec.log_file)}"
    )


@contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive advisory lock on ``path`` (created if needed).

    Two test sessions starting at once must not both download jars or both spawn a broker.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def require_tool(tool: str, why: str) -> str:
    """Absolute path of an executable, or a one-line ToolMissingError saying how to install it."""
    found = shutil.which(tool)
    if found is None:
        raise missing_tool(tool, why)
    return found
