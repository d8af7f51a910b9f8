"""Regenerate the bundled classification example files (deterministic).

Gold is the true digit of the first 300 images of scikit-learn's bundled ``digits`` data
(UCI optical recognition of handwritten digits; no download). Three candidates label the
same 300 items:

* ``knn.csv``: a real model, 3-nearest-neighbours trained on the other 1,497 images;
* ``acme.csv``: a simulated careful vendor (about 95% right, skips about 3% of items);
* ``crowd.csv``: a simulated crowd, three annotators per item (about 80% right each),
  in the ``item_id,annotator_id,label`` layout; ``bakeoff evaluate`` scores their
  majority vote and ``bakeoff agreement`` their agreement.

Run from the repository root: ``python examples/classification/make_examples.py``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from sklearn.datasets import load_digits
from sklearn.neighbors import KNeighborsClassifier

from adapters.formats.csv import write_annotations, write_labels

HERE = Path(__file__).resolve().parent
N_GOLD = 300
# digits people confuse: each maps to a plausible wrong answer
CONFUSABLE = {0: 6, 1: 7, 2: 7, 3: 8, 4: 9, 5: 6, 6: 5, 7: 1, 8: 3, 9: 4}


def _noisy(gold: np.ndarray, accuracy: float, rng: np.random.Generator) -> np.ndarray:
    wrong = rng.random(len(gold)) > accuracy
    confusable = np.array([CONFUSABLE[int(g)] for g in gold])
    random_digit = rng.integers(0, 10, len(gold))
    mistake = np.where(rng.random(len(gold)) < 0.7, confusable, random_digit)
    return np.where(wrong, mistake, gold)


def main() -> None:
    digits = load_digits()
    x, y = digits.data, digits.target
    ids = [f"digit-{i:04d}" for i in range(N_GOLD)]
    gold = y[:N_GOLD]
    rng = np.random.default_rng(20080101)

    write_labels(zip(ids, map(str, gold), strict=True), HERE / "gold.csv")

    knn = KNeighborsClassifier(n_neighbors=3).fit(x[N_GOLD:], y[N_GOLD:])
    write_labels(zip(ids, map(str, knn.predict(x[:N_GOLD])), strict=True), HERE / "knn.csv")

    acme = _noisy(gold, 0.95, rng)
    kept = rng.random(N_GOLD) > 0.03
    write_labels(
        ((i, str(v)) for i, v, k in zip(ids, acme, kept, strict=True) if k), HERE / "acme.csv"
    )

    rows = []
    for annotator in ("ann", "bo", "cy"):
        answers = _noisy(gold, 0.8, rng)
        rows += [(i, annotator, str(v)) for i, v in zip(ids, answers, strict=True)]
    rows.sort(key=lambda r: (r[0], r[1]))
    write_annotations(rows, HERE / "crowd.csv")


if __name__ == "__main__":
    main()
