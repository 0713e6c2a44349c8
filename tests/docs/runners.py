"""How the docs check runs a documented command for real, or checks one that cannot run here.

A runner matches a command's whole text and runs it as written, in-process (``tests.docs.cli``),
against the session's real Kafka and Redis where it needs them, with every topic, consumer group
and model registry of its own. What a runner may change, and nothing more:

- the environment: ``FRAUDSCORE_*`` pointing at the test's broker, topics and registry;
- the working directory: the repository root, or a temporary one holding the files the command
  names (a small simulated dataset at the documented path, the README's alert as ``alert.json``);
- the placeholder ``VERSION`` becomes a real bundle version of the test's registry.

Commands that cannot run here (``docker compose``, ``kubectl``, a whole ``make test``) are checked
statically by ``static_problems``: the compose services they name exist, the manifests they apply
parse, make knows the targets.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from cli import schema
from core.messages import Alert, LabelEvent
from core.settings import Settings
from devstack import TopicSpec, ensure_topics
from devstack.settings import DevstackSettings
from models import registry
from simulator.dataset import write_dataset
from tests.docs.cli import invoke
from tests.docs.extract import ROOT, Command, code_blocks

COMPOSE = ROOT / "docker-compose.yml"


@dataclass
class DocRun:
    """What a runner gets: pytest's request (for service fixtures on demand), a temp dir, and
    monkeypatch (for the working directory)."""

    request: pytest.FixtureRequest
    tmp_path: Path
    monkeypatch: pytest.MonkeyPatch

    def fixture(self, name: str) -> Any:
        return self.request.getfixturevalue(name)

    def in_tmp(self) -> Path:
        self.monkeypatch.chdir(self.tmp_path)
        return self.tmp_path


@dataclass(frozen=True)
class Runner:
    name: str
    pattern: re.Pattern[str]
    run: Callable[[Command, DocRun], None]
    needs_services: bool = False


def _ok(result: Any, cmd: Command) -> None:
    assert result.exit_code == 0, f"{cmd.where}: `{cmd.text}` exited {result.exit_code}:\n" + (
        result.output + (f"\n{result.exception!r}" if result.exception else "")
    )


def run_help(cmd: Command, ctx: DocRun) -> None:
    result = invoke(cmd.words[1:])
    _ok(result, cmd)
    assert "Usage" in result.output


def run_services_status(cmd: Command, ctx: DocRun) -> None:
    result = invoke(cmd.words[1:])
    _ok(result, cmd)
    assert "kafka" in result.stdout and "redis" in result.stdout


def run_schema_check(cmd: Command, ctx: DocRun) -> None:
    result = invoke(cmd.words[1:])
    _ok(result, cmd)
    assert "schemas up to date" in result.stdout


def run_schema_export(cmd: Command, ctx: DocRun) -> None:
    """Writes the checked-in files; run only when they are current, so it rewrites the same bytes
    (staleness itself is what ``fraudscore schema check`` reports)."""
    if schema.stale():
        pytest.fail(f"{cmd.where}: schemas/ is stale ({schema.stale()}); not overwriting it")
    before = {p.name: p.read_bytes() for p in schema.SCHEMA_DIR.glob("*.json")}
    result = invoke(cmd.words[1:])
    _ok(result, cmd)
    after = {p.name: p.read_bytes() for p in schema.SCHEMA_DIR.glob("*.json")}
    assert after == before
    assert all(name in result.stdout for name in before)


def run_validate(cmd: Command, ctx: DocRun) -> None:
    """On a documented example file; a console block's output must match exactly."""
    file = ROOT / cmd.words[-1]
    assert file.is_file(), f"{cmd.where}: the example file {cmd.words[-1]} does not exist"
    result = invoke(cmd.words[1:])
    if cmd.expected_output is None:  # the documented behaviour: a verdict line, exit 1 if bad
        verdict = result.stdout.splitlines()[-1]
        assert verdict == "ok" or re.fullmatch(r"\d+ invalid line\(s\)", verdict), result.output
        assert result.exit_code == (0 if verdict == "ok" else 1)
        return
    got = [line.rstrip() for line in result.stdout.splitlines()]
    want = [line.rstrip() for line in cmd.expected_output if line.strip()]
    assert got == want, f"{cmd.where}: output differs from the documented one"
    assert result.exit_code == (1 if "invalid line" in want[-1] else 0)


def _registry(ctx: DocRun) -> tuple[Path, list[str]]:
    """Two bundles, the second current (so there is something to promote and to roll back)."""
    root = ctx.tmp_path / "models"
    trained = ctx.fixture("docs_trained")
    versions = [
        registry.add_bundle(root, trained, [trained], promote_it=True).version for _ in range(2)
    ]
    return root, versions


def run_models_list(cmd: Command, ctx: DocRun) -> None:
    root, versions = _registry(ctx)
    result = invoke(cmd.words[1:], {"FRAUDSCORE_MODEL_DIR": str(root)})
    _ok(result, cmd)
    assert all(v in result.stdout for v in versions)


def run_models_promote(cmd: Command, ctx: DocRun) -> None:
    root, (first, _) = _registry(ctx)
    args = [first if w == "VERSION" else w for w in cmd.words[1:]]
    _ok(invoke(args, {"FRAUDSCORE_MODEL_DIR": str(root)}), cmd)
    assert registry.current_version(root) == first


def run_models_rollback(cmd: Command, ctx: DocRun) -> None:
    root, (first, _) = _registry(ctx)
    _ok(invoke(cmd.words[1:], {"FRAUDSCORE_MODEL_DIR": str(root)}), cmd)
    assert registry.current_version(root) == first


def run_train(cmd: Command, ctx: DocRun) -> None:
    """As written, on a small simulated dataset (60 days, enough for 4 folds) at the named path."""
    here = ctx.in_tmp()
    data = here / cmd.words[cmd.words.index("--data") + 1]
    data.parent.mkdir(parents=True, exist_ok=True)
    write_dataset(ctx.fixture("docs_dataset"), data)
    root = here / "registry"
    _ok(invoke(cmd.words[1:], {"FRAUDSCORE_MODEL_DIR": str(root)}), cmd)
    assert registry.current_version(root) is not None


def run_backtest(cmd: Command, ctx: DocRun) -> None:
    """As written, on the small simulated dataset at the named path, with a model trained on it;
    the policy named is the repository's own file. Every rule must be in the report written."""
    here = ctx.in_tmp()
    shutil.copytree(ROOT / "policies", here / "policies")
    data = here / cmd.words[cmd.words.index("--data") + 1]
    data.parent.mkdir(parents=True, exist_ok=True)
    write_dataset(ctx.fixture("docs_dataset"), data)
    root = here / "registry"
    trained = ctx.fixture("docs_trained")
    registry.add_bundle(root, trained, [trained], promote_it=True)
    result = invoke(cmd.words[1:], {"FRAUDSCORE_MODEL_DIR": str(root)})
    _ok(result, cmd)
    reports = list(here.glob("var/backtests/**/backtest.json"))
    assert len(reports) == 1, f"{cmd.where}: expected one report under var/backtests, {reports}"
    report = json.loads(reports[0].read_text())
    policy = yaml.safe_load((ROOT / cmd.words[cmd.words.index("--policy") + 1]).read_text())
    assert [r["id"] for r in report["policy"]["rules"]] == [r["id"] for r in policy["rules"]]
    assert all(r["id"] in result.stdout for r in policy["rules"])


def run_label(cmd: Command, ctx: DocRun) -> None:
    """Publishes to a topic of its own; ``--from-alert FILE`` reads the README's example alert."""
    kafka = ctx.fixture("kafka_bootstrap")
    topic = f"{ctx.fixture('unique_name')}.labels"
    ensure_topics(kafka, [TopicSpec(topic, 1)])
    alert: Alert | None = None
    if "--from-alert" in cmd.words:
        alert = readme_alert()
        name = cmd.words[cmd.words.index("--from-alert") + 1]
        (ctx.in_tmp() / name).write_text(alert.model_dump_json(indent=2), encoding="utf-8")
    env = {"FRAUDSCORE_KAFKA_BOOTSTRAP_SERVERS": kafka, "FRAUDSCORE_TOPIC_LABELS": topic}
    _ok(invoke(cmd.words[1:], env), cmd)

    from tests.e2e.helpers import read_all

    labels = [LabelEvent.model_validate_json(v or b"") for _, v, _ in read_all(kafka, topic)]
    assert len(labels) == 1
    expected_id = alert.event_id if alert else cmd.words[2]
    assert labels[0].event_id == expected_id
    assert labels[0].is_fraud == ("--fraud" in cmd.words)


_PLAIN = r"[^|;&<>`$]*"  # one simple command: no pipe, list, redirection or substitution
RUNNERS: tuple[Runner, ...] = (
    Runner("help", re.compile(rf"^fraudscore{_PLAIN} --help$"), run_help),
    Runner("services status", re.compile(r"^fraudscore services status$"), run_services_status),
    Runner("schema check", re.compile(r"^fraudscore schema check$"), run_schema_check),
    Runner("schema export", re.compile(r"^fraudscore schema export$"), run_schema_export),
    Runner("validate", re.compile(r"^fraudscore validate docs/examples/\S+$"), run_validate),
    Runner("models list", re.compile(r"^fraudscore models list$"), run_models_list),
    Runner(
        "models promote", re.compile(r"^fraudscore models promote VERSION$"), run_models_promote
    ),
    Runner("models rollback", re.compile(r"^fraudscore models rollback$"), run_models_rollback),
    Runner("train", re.compile(rf"^fraudscore train --data {_PLAIN}$"), run_train),
    Runner(
        "rules backtest",
        re.compile(rf"^fraudscore rules backtest --policy {_PLAIN} --data {_PLAIN}$"),
        run_backtest,
    ),
    Runner("label", re.compile(rf"^fraudscore label {_PLAIN}$"), run_label, needs_services=True),
)


def runner_for(cmd: Command) -> Runner | None:
    return next((r for r in RUNNERS if r.pattern.match(cmd.text)), None)


def readme_alert() -> Alert:
    """The example alert of the README's first screen."""
    readme = code_blocks("json", [ROOT / "README.md"])
    block = next(b for b in readme if '"alert_id"' in "".join(b.body))
    return Alert.model_validate_json("\n".join(block.body))  # JSON mode: the wire's own rules


def known_env_names() -> set[str]:
    """Every variable the settings read: ``FRAUDSCORE_<field>`` and the local services' ones."""
    names = {f"FRAUDSCORE_{name.upper()}" for name in Settings.model_fields}
    for name, info in DevstackSettings.model_fields.items():
        alias = info.validation_alias
        names.add(alias if isinstance(alias, str) else f"FRAUDSCORE_LOCAL_{name.upper()}")
    return {n for n in names if n.startswith("FRAUDSCORE_")}


# ---- static checks of commands that cannot run here ----


def static_problems(cmd: Command) -> list[str]:
    check = {"docker": _docker_compose, "kubectl": _kubectl, "make": _make}.get(cmd.program)
    return [f"{cmd.where}: {p}" for p in check(cmd)] if check else []


def _docker_compose(cmd: Command) -> list[str]:
    words = list(cmd.words[cmd.words.index("docker") + 1 :])
    if words[:1] != ["compose"]:
        return [f"`{cmd.text}`: only `docker compose` commands are checked"]
    compose = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    services = set(compose["services"])
    named: list[str] = []
    rest = words[2:]
    for i, w in enumerate(rest):
        if w == "--scale" and i + 1 < len(rest):
            named.append(rest[i + 1].split("=", 1)[0])
        elif not w.startswith("-") and (i == 0 or rest[i - 1] != "--scale"):
            named.append(w)
    return [
        f"`{cmd.text}`: no service {n!r} in docker-compose.yml" for n in named if n not in services
    ]


def _kubectl(cmd: Command) -> list[str]:
    problems: list[str] = []
    words = list(cmd.words)
    for flag in ("-f", "-k"):
        if flag in words:
            target = ROOT / words[words.index(flag) + 1]
            if not target.exists():
                problems.append(f"`{cmd.text}`: {target.relative_to(ROOT)} does not exist")
                continue
            files = sorted(target.rglob("*.yaml")) if target.is_dir() else [target]
            for f in files:
                try:
                    list(yaml.safe_load_all(f.read_text(encoding="utf-8")))
                except yaml.YAMLError as exc:
                    problems.append(f"{f.relative_to(ROOT)} does not parse: {exc}")
    names = {
        f"{doc['kind'].lower()}/{doc['metadata']['name']}"
        for f in (ROOT / "deploy" / "k8s").rglob("*.yaml")
        for doc in yaml.safe_load_all(f.read_text(encoding="utf-8"))
        if isinstance(doc, dict) and "metadata" in doc
    }
    aliases = {"deploy": "deployment", "hpa": "horizontalpodautoscaler", "cm": "configmap"}
    for w in words:
        m = re.fullmatch(r"([a-z]+)/([a-z0-9-]+)", w)
        if m and f"{aliases.get(m[1], m[1])}/{m[2]}" not in names and not Path(w).exists():
            problems.append(f"`{cmd.text}`: no {w} in deploy/k8s/")
    return problems


def _make(cmd: Command) -> list[str]:
    targets = [w for w in cmd.words[1:] if not w.startswith("-")]
    done = subprocess.run(
        ["make", "-n", *targets], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    return [] if done.returncode == 0 else [f"`make -n {' '.join(targets)}`: {done.stderr.strip()}"]
