"""The simulator's keypoint profile: jitter lowers the engine's OKS scores, none keeps them."""

from __future__ import annotations

import numpy as np
import pandas as pd

from adapters.base import Keypoints
from adapters.simulator.config import SimulatedVendor
from adapters.simulator.noise import simulate_answer
from metrics.scoring import ScoringOptions, score


def _truth(rng: np.random.Generator) -> list[Keypoints]:
    xy = rng.uniform(0, 80, (17, 2)).round(2)
    pts = tuple((float(x), float(y), 2.0) for x, y in xy)
    return [Keypoints(category="person", points=pts, area=6400.0, bbox=(0.0, 0.0, 80.0, 80.0))]


def _mean_oks(jitter: float) -> tuple[float, float]:
    rng = np.random.default_rng(0)
    truth = {f"i{k}": _truth(rng) for k in range(30)}
    vendor = SimulatedVendor(name="sim", keypoint_jitter=jitter, accuracy=1.0)
    answers = {
        k: simulate_answer(
            vendor,
            item_id=k,
            data={},
            truth=v,
            task_type="keypoints",
            classes=["person"],
            annotator="w1",
        ).label
        for k, v in truth.items()
    }

    def dump(value: object) -> list[dict[str, object]]:
        assert isinstance(value, list)
        return [p.model_dump(exclude_none=True) for p in value]

    gold = pd.Series({k: dump(v) for k, v in truth.items()}, dtype=object)
    labels = pd.Series({k: dump(v) for k, v in answers.items()}, dtype=object)
    scored = score("keypoints", gold, labels, options=ScoringOptions(n_resamples=20))
    return scored.value("mean_oks"), scored.value("per_image_keypoint_f1")


def test_no_jitter_is_perfect_and_more_jitter_scores_lower() -> None:
    exact, f1_exact = _mean_oks(0.0)
    small, _ = _mean_oks(0.02)
    large, f1_large = _mean_oks(0.15)
    assert exact == 1.0 and f1_exact == 1.0
    assert 1.0 > small > large
    assert f1_large < 1.0
