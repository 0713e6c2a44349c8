"""Which documented commands are run, annotated or static: ``python -m tests.docs.report``."""

from __future__ import annotations

from collections import Counter

from tests.docs.extract import Command, all_commands
from tests.docs.runners import runner_for


def classify(cmd: Command) -> str:
    runner = runner_for(cmd)
    if runner is not None:
        return f"run ({runner.name})"
    annotation = cmd.annotation()
    if annotation is None:
        return "NEITHER"
    return f"{annotation.kind}: {' '.join(annotation.nodeids)}"


def main() -> None:
    counts: Counter[str] = Counter()
    for cmd in all_commands():
        verdict = classify(cmd)
        counts[verdict.split(" ")[0].rstrip(":")] += 1
        print(f"{cmd.where:28} {cmd.text[:70]:72} {verdict}")
    print(dict(counts))


if __name__ == "__main__":
    main()
