"""Rating agreement statistics from the pair table equal their reference packages to 1e-9.

scikit-learn (weighted kappa), pingouin (ICC), krippendorff (alpha) run here on generated
and fixed cases. irrCAC (Gwet's AC1/AC2) pins ``scipy==1.12`` and ``pandas<3``, so it
cannot live in the test extra: its values for the fixed cases below, and for the seeded
generated cases in ``tests/data/external/irrcac/generated_cases.json`` (data and values
together), were computed with irrCAC 0.4.4 (``CAC(df, categories=scale, digits=15).gwet()``)
in a separate environment (a test that needs it could only skip here, and CI refuses skips).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from metrics.rating import (
    AGREEMENT_STATISTICS,
    agreement_statistics,
    gwet_ac,
    pair_table,
    table_statistics,
    table_statistics_many,
)

krippendorff = pytest.importorskip("krippendorff")
pingouin = pytest.importorskip("pingouin")


def _case(seed: int) -> tuple[np.ndarray, np.ndarray, tuple[int, int]]:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(10, 300))
    lo = int(rng.integers(0, 2))
    hi = lo + int(rng.integers(2, 7))
    g = rng.integers(lo, hi + 1, n)
    v = np.clip(g + rng.integers(-2, 3, n), lo, hi)
    return g, v, (lo, hi)


def _references(g: np.ndarray, v: np.ndarray, scale: tuple[int, int]) -> dict[str, float]:
    lab = list(range(scale[0], scale[1] + 1))
    data = np.vstack([g, v]).astype(float)
    n = len(g)
    long = pd.DataFrame(
        {"t": np.r_[np.arange(n), np.arange(n)], "r": ["g"] * n + ["v"] * n, "x": np.r_[g, v]}
    )
    icc = pingouin.intraclass_corr(long, targets="t", raters="r", ratings="x")
    icc = icc.set_index("Type")["ICC"]
    return {
        "linear_weighted_kappa": cohen_kappa_score(g, v, labels=lab, weights="linear"),
        "quadratic_weighted_kappa": cohen_kappa_score(g, v, labels=lab, weights="quadratic"),
        "krippendorff_alpha_ordinal": krippendorff.alpha(
            reliability_data=data, level_of_measurement="ordinal"
        ),
        "krippendorff_alpha_interval": krippendorff.alpha(
            reliability_data=data, level_of_measurement="interval"
        ),
        "icc_2_1": icc["ICC(A,1)"],
        "icc_3_1": icc["ICC(C,1)"],
        "icc_2_k": icc["ICC(A,k)"],
        "icc_3_k": icc["ICC(C,k)"],
    }


@pytest.mark.parametrize("seed", range(8), ids=lambda s: f"seed{s}")
def test_statistics_equal_sklearn_pingouin_krippendorff(seed: int) -> None:
    g, v, scale = _case(seed)
    ours = agreement_statistics(pd.Series(g), pd.Series(v), scale=scale)
    for name, reference in _references(g, v, scale).items():
        assert ours[name].value == pytest.approx(float(reference), abs=1e-9), name


def test_a_stack_of_tables_equals_the_references_table_by_table() -> None:
    """The bootstrap's vectorised path: each row of a stack of pair tables (one of them
    empty, one with a single item) equals the packages on that table's own pairs."""
    scale = (1, 5)
    cases = [_case(seed) for seed in range(20, 26)]
    cases = [(g.clip(1, 5), v.clip(1, 5), scale) for g, v, _ in cases]
    tables = [pair_table(g, v, scale=scale) for g, v, _ in cases]
    tables += [
        np.zeros((5, 5), dtype=np.int64),
        pair_table(np.array([2]), np.array([3]), scale=scale),
    ]
    rows = table_statistics_many(np.stack(tables), scale=scale)
    assert rows.shape == (len(tables), len(AGREEMENT_STATISTICS))
    for row, (g, v, _) in zip(rows, cases, strict=False):
        named = dict(zip(AGREEMENT_STATISTICS, row, strict=True))
        for name, reference in _references(g, v, scale).items():
            assert named[name] == pytest.approx(float(reference), abs=1e-9), name
    assert np.isnan(rows[-2]).all()  # no pairs: nothing is defined
    assert np.isnan(rows[-1][2:6]).all()  # ICC needs two items
    for row, table in zip(rows, tables, strict=True):
        np.testing.assert_array_equal(row, np.array(table_statistics(table, scale=scale)))


# (gold, candidate, scale) -> irrCAC 0.4.4 AC1, AC2 (quadratic), digits=15
_IRRCAC = {
    "skewed_2x2": (
        [1] * 118 + [1] * 5 + [2] * 2,
        [1] * 118 + [2] * 5 + [1] * 2,
        (1, 2),
        0.940776337608718,
        0.940776337608718,
    ),
    "likert": (
        [1, 2, 3, 4, 5, 3, 2, 4, 5, 1, 3, 3],
        [1, 3, 3, 4, 4, 3, 1, 5, 5, 2, 3, 2],
        (1, 5),
        0.379310344827586,
        0.884615384615385,
    ),
    "unused_middle": (
        [1, 1, 2, 5, 5, 4, 2, 1],
        [1, 2, 2, 5, 4, 4, 1, 1],
        (1, 5),
        0.541766109785203,
        0.926493108728943,
    ),
}


@pytest.mark.parametrize("case", list(_IRRCAC), ids=list(_IRRCAC))
def test_gwet_equals_irrcac_fixed_values(case: str) -> None:
    g, v, scale, ac1, ac2 = _IRRCAC[case]
    table = pair_table(g, v, scale=scale)
    assert gwet_ac(table, weights="identity") == pytest.approx(ac1, abs=1e-9)
    assert gwet_ac(table, weights="quadratic") == pytest.approx(ac2, abs=1e-9)


_GENERATED = Path(__file__).resolve().parents[1] / "data" / "external" / "irrcac"


@pytest.mark.parametrize("case", range(12), ids=[f"g{k}" for k in range(12)])
def test_gwet_equals_irrcac_on_generated_cases(case: int) -> None:
    doc = json.loads((_GENERATED / "generated_cases.json").read_text(encoding="utf-8"))
    c = doc["cases"][case]
    table = pair_table(np.asarray(c["gold"]), np.asarray(c["vendor"]), scale=tuple(c["scale"]))
    assert gwet_ac(table, weights="identity") == pytest.approx(c["ac1"], abs=1e-9)
    assert gwet_ac(table, weights="quadratic") == pytest.approx(c["ac2_quadratic"], abs=1e-9)
    # and through the engine's all-statistics path
    stats = agreement_statistics(
        pd.Series(c["gold"]), pd.Series(c["vendor"]), scale=tuple(c["scale"])
    )
    assert stats["gwet_ac1"].value == pytest.approx(c["ac1"], abs=1e-9)
    assert stats["gwet_ac2"].value == pytest.approx(c["ac2_quadratic"], abs=1e-9)


def test_skewed_table_shows_the_kappa_paradox() -> None:
    g, v, scale, _, _ = _IRRCAC["skewed_2x2"]
    stats = dict(
        zip(
            AGREEMENT_STATISTICS,
            table_statistics(pair_table(g, v, scale=scale), scale=scale),
            strict=True,
        )
    )
    assert stats["linear_weighted_kappa"] < 0.0 < 0.9 < stats["gwet_ac1"]


def test_unused_scale_points_still_count_in_the_weights() -> None:
    # nobody uses 3: sklearn's default labels (those seen) would shrink the 2-4 distance
    g, v = [1, 2, 4, 5, 2, 4], [2, 2, 4, 4, 4, 2]
    ours = agreement_statistics(pd.Series(g, dtype=float), pd.Series(v, dtype=float), scale=(1, 5))
    full = cohen_kappa_score(g, v, labels=[1, 2, 3, 4, 5], weights="quadratic")
    assert ours["quadratic_weighted_kappa"].value == pytest.approx(full, abs=1e-12)
    assert full != pytest.approx(cohen_kappa_score(g, v, weights="quadratic"))


def test_perfect_agreement_is_one_and_outside_scale_is_refused() -> None:
    g = np.array([1.0, 2, 3, 4, 5, 5])
    stats = agreement_statistics(pd.Series(g), pd.Series(g), scale=(1, 5))
    assert all(stats[n].value == pytest.approx(1.0) for n in AGREEMENT_STATISTICS)
    with pytest.raises(ValueError, match="outside the integer scale 1..5"):
        pair_table([1, 6], [1, 2], scale=(1, 5))
    with pytest.raises(ValueError, match="outside"):
        pair_table([1, 2.5], [1, 2], scale=(1, 5))
