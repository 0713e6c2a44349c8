"""Static checks of deploy/k8s/: no cluster needed, just the files (docs/scaling.md).

Every manifest parses; every FRAUDSCORE_* name is a real setting and the ConfigMap's values pass
the settings' own validation; the probes hit the worker's /readyz and /healthz on the port
FRAUDSCORE_METRICS_PORT opens; the autoscalers stop at the partition count; the image the
manifests run holds every package the ``fraudscore`` command imports, and not the benchmarks.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from core.settings import Settings
from devstack.topics import DEFAULT_TOPICS
from tests.unit.test_cli_optional import BACKED

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
PARTITIONS = next(t.partitions for t in DEFAULT_TOPICS if t.name == "payments.transactions")


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]


@pytest.fixture(scope="module")
def manifests() -> dict[tuple[str, str], dict[str, Any]]:
    """(kind, name) -> object, from every YAML file under deploy/k8s/."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(K8S.rglob("*.yaml")):
        for doc in _docs(path):
            if doc.get("kind") == "Kustomization":
                continue
            key = (doc["kind"], doc["metadata"]["name"])
            assert key not in found, f"{key} defined twice"
            found[key] = doc
    return found


def _strings(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for k, v in node.items():
            yield str(k)
            yield from _strings(v)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item)
    elif isinstance(node, str):
        yield node


def _container(manifests: dict[tuple[str, str], dict[str, Any]], name: str) -> dict[str, Any]:
    spec = manifests[("Deployment", name)]["spec"]["template"]["spec"]
    (container,) = spec["containers"]
    return dict(container)


def _env(container: dict[str, Any]) -> dict[str, Any]:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


def test_every_file_parses_and_kustomization_lists_the_base(
    manifests: dict[tuple[str, str], dict[str, Any]],
) -> None:
    (kustomization,) = _docs(K8S / "kustomization.yaml")
    listed = set(kustomization["resources"])
    base = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == base, "every base manifest is applied by `kubectl apply -k deploy/k8s/`"
    for obj in manifests.values():
        assert obj["apiVersion"] and obj["metadata"]["name"]


def test_every_fraudscore_name_is_a_setting(
    manifests: dict[tuple[str, str], dict[str, Any]],
) -> None:
    known = {f"FRAUDSCORE_{field.upper()}" for field in Settings.model_fields}
    used = {
        m
        for obj in manifests.values()
        for s in _strings(obj)
        for m in re.findall(r"FRAUDSCORE_[A-Z0-9_]+", s)
    }
    assert used, "the manifests configure nothing?"
    assert used - known == set(), "a typo would be ignored silently by pydantic-settings"


def test_configmap_and_secret_pass_the_settings_validation(
    manifests: dict[tuple[str, str], dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = manifests[("ConfigMap", "fraudscore-settings")]["data"]
    secret = manifests[("Secret", "fraudscore-secrets")]["stringData"]
    worker_env = _env(_container(manifests, "fraudscore-worker"))
    for name, value in {**config, **secret, "FRAUDSCORE_WORKER_ID": "fraudscore-worker-0"}.items():
        monkeypatch.setenv(name, str(value))
    monkeypatch.chdir(K8S)  # no .env file here
    settings = Settings()
    assert settings.metrics_port == 9108
    assert settings.kafka_sasl_password is not None, "the password comes from the Secret"
    assert not set(secret) & set(config), "secrets only in the Secret"
    assert "FRAUDSCORE_WORKER_ID" in worker_env, "a per-pod worker id"


def test_worker_probes_and_ports(manifests: dict[tuple[str, str], dict[str, Any]]) -> None:
    deploy = manifests[("Deployment", "fraudscore-worker")]
    c = _container(manifests, "fraudscore-worker")
    assert c["command"] == ["fraudscore", "worker"]
    port = int(manifests[("ConfigMap", "fraudscore-settings")]["data"]["FRAUDSCORE_METRICS_PORT"])
    ports = {p["name"]: p["containerPort"] for p in c["ports"]}
    assert ports == {"metrics": port}
    assert c["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert c["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    assert c["resources"]["requests"]["cpu"], "CPU utilisation needs a request"
    refs = {(k, v["name"]) for e in c["envFrom"] for k, v in e.items()}
    assert refs == {("configMapRef", "fraudscore-settings"), ("secretRef", "fraudscore-secrets")}
    pod = deploy["spec"]["template"]
    assert pod["metadata"]["labels"] == {
        **deploy["spec"]["selector"]["matchLabels"],
        **pod["metadata"]["labels"],
    }
    assert pod["spec"]["terminationGracePeriodSeconds"] >= 30, "time to finish a batch and commit"
    claims = {v["persistentVolumeClaim"]["claimName"] for v in pod["spec"]["volumes"]}
    assert claims <= {name for kind, name in manifests if kind == "PersistentVolumeClaim"}


def test_drift_sidecar_runs_once_with_its_own_port(
    manifests: dict[tuple[str, str], dict[str, Any]],
) -> None:
    deploy = manifests[("Deployment", "fraudscore-drift")]
    assert deploy["spec"]["replicas"] == 1 and deploy["spec"]["strategy"]["type"] == "Recreate"
    c = _container(manifests, "fraudscore-drift")
    assert c["command"] == ["fraudscore", "drift", "run"]
    port = int(_env(c)["FRAUDSCORE_METRICS_PORT"])
    assert [p["containerPort"] for p in c["ports"]] == [port]
    assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
    mounts = {m["mountPath"] for m in c["volumeMounts"]}
    config = manifests[("ConfigMap", "fraudscore-settings")]["data"]
    assert {config["FRAUDSCORE_MODEL_DIR"], config["FRAUDSCORE_REPORTS_DIR"]} <= mounts


def test_the_state_audit_runs_daily_and_fails_its_job_on_skew(
    manifests: dict[tuple[str, str], dict[str, Any]],
) -> None:
    cron = manifests[("CronJob", "fraudscore-state-audit")]["spec"]
    assert len(cron["schedule"].split()) == 5 and cron["schedule"].split()[2:] == ["*"] * 3
    job = cron["jobTemplate"]["spec"]
    assert job["backoffLimit"] == 0 and cron["concurrencyPolicy"] == "Forbid"
    (c,) = job["template"]["spec"]["containers"]
    assert c["command"][:3] == ["fraudscore", "features", "verify"]
    refs = {next(iter(r.values()))["name"] for r in c["envFrom"]}
    assert refs == {"fraudscore-settings", "fraudscore-secrets"}


def test_autoscalers_stop_at_the_partition_count(
    manifests: dict[tuple[str, str], dict[str, Any]],
) -> None:
    hpa = manifests[("HorizontalPodAutoscaler", "fraudscore-worker")]["spec"]
    assert hpa["scaleTargetRef"]["name"] == "fraudscore-worker"
    assert hpa["metrics"][0]["resource"]["name"] == "cpu"
    assert hpa["maxReplicas"] == PARTITIONS
    keda = manifests[("ScaledObject", "fraudscore-worker")]["spec"]
    assert keda["scaleTargetRef"]["name"] == "fraudscore-worker"
    assert keda["maxReplicaCount"] == PARTITIONS
    (trigger,) = keda["triggers"]
    config = manifests[("ConfigMap", "fraudscore-settings")]["data"]
    assert trigger["type"] == "kafka"
    assert trigger["metadata"]["consumerGroup"] == config["FRAUDSCORE_GROUP_ID"]
    assert trigger["metadata"]["topic"] == Settings.model_fields["topic_transactions"].default
    assert trigger["metadata"]["bootstrapServers"] == config["FRAUDSCORE_KAFKA_BOOTSTRAP_SERVERS"]


def test_the_image_holds_every_package_the_service_imports() -> None:
    """The manifests run the Dockerfile's image; `fraudscore` imports every package at start but
    devstack and benchmarks, whose commands it mounts only where they are installed."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = {p.rstrip("*") for p in project["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = set(re.findall(r"^COPY (\w+) \./\1$", (ROOT / "Dockerfile").read_text(), re.MULTILINE))
    assert packages - copied - set(BACKED) == set(), "the image's `fraudscore` would fail to import"
    assert "benchmarks" not in copied, "the image holds the service, not the benchmarks"
