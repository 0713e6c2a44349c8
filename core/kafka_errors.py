"""Why a Kafka client cannot use the cluster, in one line, and librdkafka's own log kept quiet.

librdkafka reports a broker it cannot reach twice: a log line per connection attempt (printed
on stderr unless a ``logger`` is configured: ~195 lines in the 10 s of a start-up check) and an
error callback. ``diagnose`` reads the callback's errors and tells apart what a user must fix
differently: a name that does not resolve, a port nobody listens on, a TLS (or protocol)
mismatch, failed authentication, missing ACLs, or silence. ``client_config`` routes the log
through Python logging with repeats suppressed, so a long outage is a few lines, not thousands.
"""

from __future__ import annotations

import logging
import re
import socket
import ssl
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from confluent_kafka import KafkaError

from core.settings import Settings

Kind = Literal["dns", "refused", "tls", "auth", "authorization", "timeout", "other"]

_FIX: dict[Kind, str] = {
    "dns": "the host name does not resolve (DNS): check FRAUDSCORE_KAFKA_BOOTSTRAP_SERVERS",
    "refused": "the connection is refused: nothing listens on that port; start Kafka or "
    "correct the port in FRAUDSCORE_KAFKA_BOOTSTRAP_SERVERS",
    "tls": "the TLS handshake or protocol does not match the listener: check security.protocol "
    "and the ssl.* properties in FRAUDSCORE_KAFKA_CONFIG",
    "auth": "authentication failed: check sasl.mechanism and sasl.username in "
    "FRAUDSCORE_KAFKA_CONFIG and FRAUDSCORE_KAFKA_SASL_PASSWORD",
    "authorization": "the client is authenticated but not allowed: grant the ACLs listed in "
    "docs/operations.md (Kafka ACLs)",
    "timeout": "no answer in time (a firewall dropping packets, or a broker still starting)",
    "other": "the cluster refused the request",
}

_AUTHORIZATION = frozenset(
    {
        KafkaError.TOPIC_AUTHORIZATION_FAILED,
        KafkaError.GROUP_AUTHORIZATION_FAILED,
        KafkaError.CLUSTER_AUTHORIZATION_FAILED,
        KafkaError.TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
    }
)
# what librdkafka says when a plaintext client meets a TLS or SASL listener, or the reverse
_PROTOCOL_MISMATCH = (
    "SSL handshake failed",
    "incorrect security.protocol",
    "connecting to a SSL listener",
    "connecting to a PLAINTEXT broker listener",
    "Disconnected while requesting ApiVersion",
)
_NO_SASL = re.compile(r"supported mechanisms: *(\(after|$)")
_NOISE = re.compile(r"^\S+/(?:bootstrap|\d+): | \(after \d+ms in state \w+\)|, \d+ identical .*$")


@dataclass(frozen=True, slots=True)
class Diagnosis:
    kind: Kind
    detail: str  # librdkafka's own words, without the broker prefix and state suffix

    def sentence(self, bootstrap: str) -> str:
        said = f" (librdkafka: {self.detail})" if self.detail else ""
        return f"Kafka at {bootstrap}: {_FIX[self.kind]}{said}"


def _kind(err: KafkaError) -> Kind | None:
    code, text = err.code(), err.str()
    if code == KafkaError._RESOLVE or "Failed to resolve" in text:
        return "dns"
    if _NO_SASL.search(text):  # a SASL client on a listener without SASL
        return "tls"
    if code in (KafkaError._AUTHENTICATION, KafkaError.SASL_AUTHENTICATION_FAILED):
        return "auth"
    if code in _AUTHORIZATION:
        return "authorization"
    if code == KafkaError._SSL or any(m in text for m in _PROTOCOL_MISMATCH):
        return "tls"
    if "Connection refused" in text:
        return "refused"
    return None


# what librdkafka adds to any failure: they say that something failed, not what
_VAGUE = frozenset(
    {
        KafkaError._TRANSPORT,
        KafkaError._ALL_BROKERS_DOWN,
        KafkaError._TIMED_OUT,
        KafkaError.REQUEST_TIMED_OUT,
    }
)
# when several errors arrive (one per address of a name, say), the one a user fixes first
_PRECEDENCE: tuple[Kind, ...] = ("auth", "authorization", "tls", "dns", "refused")


def diagnose(errors: Sequence[KafkaError]) -> Diagnosis:
    """The most telling of ``errors`` (from ``error_cb``, or raised), as one fix to make."""
    found: dict[Kind, str] = {}
    for err in errors:
        kind = _kind(err)
        if kind is not None and kind not in found:
            found[kind] = _NOISE.sub("", err.str()).strip()
    for kind in _PRECEDENCE:
        if kind in found:
            return Diagnosis(kind, found[kind])
    telling = [e for e in errors if e.code() not in _VAGUE]
    if telling:
        return Diagnosis("other", _NOISE.sub("", telling[0].str()).strip())
    return Diagnosis("timeout", "")


class ErrorLatch:
    """An ``error_cb`` that keeps the first errors a client reports, for ``diagnose``."""

    def __init__(self, keep: int = 32) -> None:
        self.errors: list[KafkaError] = []
        self._keep = keep

    def __call__(self, err: KafkaError) -> None:
        if len(self.errors) < self._keep:
            self.errors.append(err)


class _Repeats(logging.Filter):
    """Drops a librdkafka line said in the last ``window_s`` (timings and client ids aside):
    a broker down for an hour is one line a minute per broker and problem, not one a second."""

    def __init__(self, window_s: float = 60.0) -> None:
        super().__init__()
        self._window_s = window_s
        self._last: dict[str, float] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        key = re.sub(r"\d+", "#", record.getMessage())
        now = time.monotonic()
        with self._lock:
            if now - self._last.get(key, -self._window_s) < self._window_s:
                return False
            if len(self._last) > 1000:
                self._last.clear()
            self._last[key] = now
        return True


def speaks_tls(bootstrap: str, timeout_s: float = 2.0) -> bool:
    """Whether the first bootstrap address completes a TLS handshake (certificate unchecked).

    A plaintext client on a TLS listener hears nothing back, and librdkafka reports only that
    no broker answers; this tells that case from a broker that is really silent."""
    host, _, port = bootstrap.split(",")[0].strip().rpartition(":")
    context = ssl.create_default_context()
    context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
    try:
        address = (host.strip("[]"), int(port))
        with (
            socket.create_connection(address, timeout=timeout_s) as raw,
            context.wrap_socket(raw, server_hostname=host or None),
        ):
            return True
    except (OSError, ValueError):
        return False


def diagnose_client(settings: Settings, errors: Sequence[KafkaError]) -> Diagnosis:
    """``diagnose``, and for a plaintext client that heard nothing, a look at the listener."""
    found = diagnose(errors)
    protocol = str(settings.kafka_common().get("security.protocol", "plaintext")).lower()
    plaintext = protocol in ("plaintext", "sasl_plaintext")
    if found.kind == "timeout" and plaintext and speaks_tls(settings.kafka_bootstrap_servers):
        said = f"the listener speaks TLS but security.protocol is {protocol.upper()}"
        return Diagnosis("tls", said)
    return found


RDKAFKA_LOG = logging.getLogger("librdkafka")
RDKAFKA_LOG.addFilter(_Repeats())
# librdkafka's lines when nothing is to be shown: the caller diagnoses the errors instead
SILENT_LOG = logging.getLogger("librdkafka.silent")
SILENT_LOG.propagate = False
SILENT_LOG.addHandler(logging.NullHandler())


def client_config(settings: Settings, **extra: Any) -> dict[str, Any]:
    """``Settings.kafka_common`` with librdkafka's log routed through ``RDKAFKA_LOG``."""
    return {**settings.kafka_common(), "logger": RDKAFKA_LOG, **extra}
