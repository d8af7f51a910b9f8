"""Transitivity of preferences: the share of cyclic triads equals networkx's triad census."""

from __future__ import annotations

import itertools

import networkx as nx  # type: ignore[import-untyped]
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metrics.preference import transitivity


def _census_share(frame: pd.DataFrame) -> float:
    """Cyclic / (cyclic + transitive) triads by networkx's triadic census, per group summed.

    Each pair's majority is one directed edge (winner -> loser); tied pairs are dropped, and
    only triads with all three pairs compared strictly (030C cyclic, 030T transitive) count.
    """
    cyclic = transitive = 0
    for _, part in frame.groupby("group"):
        net: dict[tuple[str, str], int] = {}
        for a, b, lab in part[["a", "b", "label"]].itertuples(index=False):
            sign = 1 if lab == "A" else -1 if lab == "B" else 0
            key, sign = ((a, b), sign) if a < b else ((b, a), -sign)
            net[key] = net.get(key, 0) + sign
        graph = nx.DiGraph()
        graph.add_nodes_from({n for pair in net for n in pair})
        tied = set()
        for (x, y), v in net.items():
            if v > 0:
                graph.add_edge(x, y)
            elif v < 0:
                graph.add_edge(y, x)
            else:
                tied.add((x, y))
        census = nx.triadic_census(graph)
        cyclic += census["030C"]
        transitive += census["030T"]
    return cyclic / (cyclic + transitive) if cyclic + transitive else float("nan")


def _round_robin(
    rng: np.random.Generator, n_groups: int, n_resp: int, p_cycle: float
) -> pd.DataFrame:
    rows = []
    for g in range(n_groups):
        quality = rng.permutation(n_resp)
        for x, y in itertools.combinations(range(n_resp), 2):
            better = "A" if quality[x] > quality[y] else "B"
            if rng.random() < p_cycle:
                better = "B" if better == "A" else "A"
            rows.append({"group": f"g{g}", "a": f"r{x}", "b": f"r{y}", "label": better})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("p_cycle", [0.0, 0.2, 0.5], ids=["consistent", "noisy", "random"])
def test_share_equals_the_networkx_triad_census(p_cycle: float) -> None:
    frame = _round_robin(np.random.default_rng(3), n_groups=40, n_resp=5, p_cycle=p_cycle)
    result = transitivity(frame)
    expected = _census_share(frame)
    assert result.value == pytest.approx(expected, abs=1e-12)
    assert result.params["n_triads"] == 40 * 10
    if p_cycle == 0.0:
        assert result.value == 0.0
    else:
        assert result.value > 0


def test_a_cycle_ties_and_incomplete_triads() -> None:
    cycle = pd.DataFrame(
        {"group": "p", "a": ["x", "y", "x"], "b": ["y", "z", "z"], "label": ["A", "A", "B"]}
    )
    assert transitivity(cycle).value == 1.0
    tied = cycle.assign(label=["A", "A", "tie"])
    result = transitivity(tied)
    assert np.isnan(result.value) and result.params["n_with_ties"] == 1
    missing = cycle.iloc[:2]
    assert np.isnan(transitivity(missing).value) and transitivity(missing).params["n_triads"] == 0
    # groups keep prompts apart: one cycle in p, one consistent triad in q
    both = pd.concat([cycle, cycle.assign(group="q", label=["A", "A", "A"])])
    out = transitivity(both)
    assert out.value == 0.5 and out.per_item is not None
    assert out.per_item.to_dict() == {"p": 1.0, "q": 0.0}


def test_majority_per_pair_and_bad_values() -> None:
    frame = pd.DataFrame(
        {
            "a": ["x", "x", "y", "y", "z"],
            "b": ["y", "y", "z", "x", "x"],
            # x>y twice and y>x once: x over y; y over z; z over x -> a cycle
            "label": ["A", "A", "A", "A", "A"],
        }
    )
    assert transitivity(frame).value == 1.0
    with pytest.raises(ValueError, match="outside 'A', 'B', 'tie'"):
        transitivity(frame.assign(label="C"))
    with pytest.raises(ValueError, match="'b' column"):
        transitivity(frame.drop(columns="b"))


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 10_000), st.floats(0, 1))
def test_range_renaming_and_inputs_unmodified(seed: int, p: float) -> None:
    frame = _round_robin(np.random.default_rng(seed), n_groups=3, n_resp=4, p_cycle=p)
    before = frame.copy()
    result = transitivity(frame)
    pd.testing.assert_frame_equal(frame, before)
    assert 0.0 <= result.value <= 1.0
    renamed = frame.assign(a="n-" + frame["a"], b="n-" + frame["b"], group="G" + frame["group"])
    assert transitivity(renamed).value == pytest.approx(result.value)
    # swapping a and b with the label flipped says the same thing
    flipped = frame.assign(
        a=frame["b"], b=frame["a"], label=frame["label"].map({"A": "B", "B": "A"})
    )
    assert transitivity(flipped).value == pytest.approx(result.value)


def test_the_engine_reports_intransitive_triads_per_prompt() -> None:
    from metrics.scoring import ScoringOptions, score

    # two prompts, three models compared round-robin in each (items i0..i5)
    pairs = [("x", "y"), ("y", "z"), ("x", "z")] * 2
    prompts = ["p1"] * 3 + ["p2"] * 3
    index = [f"i{k}" for k in range(6)]
    metadata = pd.DataFrame(
        {"model_a": [a for a, _ in pairs], "model_b": [b for _, b in pairs], "prompt_id": prompts},
        index=index,
    )
    gold = pd.Series(["A", "A", "A"] * 2, index=index)  # x > y > z, consistent
    # the candidate goes round in p1 (x>y, y>z, z>x) and agrees with gold in p2
    labels = pd.Series(["A", "A", "B", "A", "A", "A"], index=index)
    scored = score(
        "preference", gold, labels, options=ScoringOptions(min_coverage=0.5), metadata=metadata
    )
    triads = scored.summary["intransitive_triads"]
    assert triads.value == 0.5 and triads.params["n_triads"] == 2
    two_models = metadata.assign(model_b="y", model_a="x")
    plain = score(
        "preference", gold, labels, options=ScoringOptions(min_coverage=0.5), metadata=two_models
    )
    assert "intransitive_triads" not in plain.summary
