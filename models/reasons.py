"""Why an event was flagged: its strongest positive feature contributions, in words.

Each reason's sentence is the feature's ``FeatureDef.reason`` template formatted with the event's
feature values (by name), so the wording lives next to the feature's definition.

A template without placeholders describes a flag being *on* ("made at night"). When such a flag
is 0, its positive contribution means "not at night raised the score", which the sentence would
misstate, so it is skipped rather than reported as something that did not happen.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from core.messages import Reason
from features.registry import FEATURE_NAMES, FEATURES_BY_NAME


def _states_value(template: str) -> bool:
    return "{" in template


def reason_text(name: str, values_by_name: dict[str, float]) -> str:
    """The sentence of one feature for an event."""
    return FEATURES_BY_NAME[name].reason.format(**values_by_name)


def top_reasons(
    contrib_row: npt.ArrayLike,
    values_row: npt.ArrayLike,
    k: int,
    feature_names: Sequence[str] = FEATURE_NAMES,
) -> tuple[Reason, ...]:
    """The ``k`` features with the largest positive contributions, largest first.

    ``contrib_row`` holds one contribution per feature (``Scorer.contributions`` row; a trailing
    bias term, as LightGBM returns it, is ignored); ``values_row`` the event's feature values.
    """
    names = list(feature_names)
    contrib = np.asarray(contrib_row, dtype=np.float64)[: len(names)]
    values = np.asarray(values_row, dtype=np.float64)
    by_name = {n: float(v) for n, v in zip(names, values, strict=True)}
    reasons: list[Reason] = []
    for j in np.argsort(-contrib, kind="stable"):
        if len(reasons) >= k or contrib[j] <= 0:
            break
        name = names[j]
        template = FEATURES_BY_NAME[name].reason
        if not _states_value(template) and by_name[name] == 0:
            continue
        reasons.append(
            Reason(
                feature=name,
                value=by_name[name],
                contribution=float(contrib[j]),
                text=reason_text(name, by_name),
            )
        )
    return tuple(reasons)
