"""``bakeoff evaluate --task rating|transcription``: the engine's numbers, bad values named."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import cohen_kappa_score
from typer.testing import CliRunner

from metrics.scoring import ScoringOptions
from metrics.transcription import normalize
from service.cli.main import app

runner = CliRunner()
_GOLD = [1, 2, 3, 4, 5, 3, 2, 4]
_KIND = [2, 3, 3, 5, 5, 4, 3, 4]
_REFS = ["The cat sat.", "I have 21 apples", "hello world", "good morning to you"]
_HYPS = ["the cat sat", "i have twenty one apples", "hello word", "good morning"]


def _run(*args: str) -> dict[str, object]:
    result = runner.invoke(app, ["evaluate", *args, "--json", "--resamples", "50"])
    assert result.exit_code == 0, result.output
    out: dict[str, object] = json.loads(result.stdout)
    return out


def test_rating_csv_matches_sklearn_with_the_scale_given(tmp_path: Path) -> None:
    gold = tmp_path / "gold.csv"
    gold.write_text("item_id,label\n" + "".join(f"i{i},{v}\n" for i, v in enumerate(_GOLD)))
    kind = tmp_path / "kind.csv"
    kind.write_text("item_id,label\n" + "".join(f"i{i},{v}\n" for i, v in enumerate(_KIND)))
    out = _run("--task", "rating", "--gold", str(gold), "--labels", f"kind={kind}")
    system = out["systems"]["kind"]  # type: ignore[index]
    assert any("range seen" in w for w in system["warnings"])
    out = _run(
        "--task",
        "rating",
        "--gold",
        str(gold),
        "--labels",
        f"kind={kind}",
        "--rating-scale",
        "1,5",
    )
    metrics = out["systems"]["kind"]["metrics"]  # type: ignore[index]
    ref = cohen_kappa_score(_GOLD, _KIND, labels=[1, 2, 3, 4, 5], weights="quadratic")
    assert metrics["quadratic_weighted_kappa"]["value"] == pytest.approx(ref, abs=1e-9)
    assert metrics["leniency_bias"]["value"] == pytest.approx(np.mean(np.subtract(_KIND, _GOLD)))
    assert metrics["rating_agreement"]["value"] == pytest.approx(
        1 - np.abs(np.subtract(_KIND, _GOLD)).mean() / 4
    )


def test_rating_jsonl_gold_gives_the_scale_and_criteria(tmp_path: Path) -> None:
    gold = tmp_path / "gold.jsonl"
    gold.write_text(
        "\n".join(
            json.dumps(
                {
                    "item_id": f"i{i}",
                    "label": {"help": v, "fact": 6 - v},
                    "metadata": {"scale_min": 1, "scale_max": 5},
                }
            )
            for i, v in enumerate(_GOLD)
        )
    )
    kind = tmp_path / "kind.jsonl"
    kind.write_text(
        "\n".join(
            json.dumps({"item_id": f"i{i}", "label": {"help": v, "fact": 6 - g}})
            for i, (g, v) in enumerate(zip(_GOLD, _KIND, strict=True))
        )
    )
    out = _run("--task", "rating", "--gold", str(gold), "--labels", f"kind={kind}")
    system = out["systems"]["kind"]  # type: ignore[index]
    assert system["warnings"] == []
    assert system["metrics"]["exact_agreement:fact"]["value"] == 1.0
    assert system["per_class"]["help"]["leniency_bias"] == pytest.approx(5 / 8)


def test_rating_bad_cell_is_named(tmp_path: Path) -> None:
    gold = tmp_path / "gold.csv"
    gold.write_text("item_id,label\ni0,3\ni1,4\n")
    bad = tmp_path / "bad.csv"
    bad.write_text("item_id,label\ni0,3\ni1,four\n")
    result = runner.invoke(
        app, ["evaluate", "--task", "rating", "--gold", str(gold), "--labels", f"bad={bad}"]
    )
    assert result.exit_code != 0
    assert "bad.csv: row 3" in result.output and "'four'" in result.output
    out_of_scale = tmp_path / "oos.csv"
    out_of_scale.write_text("item_id,label\ni0,3\ni1,9\n")
    result = runner.invoke(
        app,
        [
            "evaluate",
            "--task",
            "rating",
            "--gold",
            str(gold),
            "--labels",
            f"o={out_of_scale}",
            "--rating-scale",
            "1,5",
        ],
    )
    assert result.exit_code != 0 and "'i1'" in result.output and "1..5" in result.output


def test_transcription_matches_jiwer_with_and_without_normalisation(tmp_path: Path) -> None:
    jiwer = pytest.importorskip("jiwer")
    gold = tmp_path / "gold.csv"
    gold.write_text(
        "item_id,label,speaker\n" + "".join(f'u{i},"{r}",s{i % 2}\n' for i, r in enumerate(_REFS))
    )
    asr = tmp_path / "asr.csv"
    asr.write_text("item_id,label\n" + "".join(f"u{i},{h}\n" for i, h in enumerate(_HYPS)))
    out = _run("--task", "transcription", "--gold", str(gold), "--labels", f"asr={asr}")
    system = out["systems"]["asr"]  # type: ignore[index]
    norm = ScoringOptions().transcript_normalization
    refs, hyps = [normalize(r, norm) for r in _REFS], [normalize(h, norm) for h in _HYPS]
    assert system["main_metric"] == "wer"
    assert system["metrics"]["wer"]["value"] == pytest.approx(jiwer.wer(refs, hyps), abs=1e-9)
    raw = _run(
        "--task",
        "transcription",
        "--gold",
        str(gold),
        "--labels",
        f"asr={asr}",
        "--normalize",
        "none",
    )
    assert raw["systems"]["asr"]["metrics"]["wer"]["value"] == pytest.approx(  # type: ignore[index]
        jiwer.wer(_REFS, _HYPS), abs=1e-9
    )
