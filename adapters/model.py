"""The ``model`` kind: a trained model as a bake-off candidate.

The model is one of

- a scikit-learn estimator (anything with ``predict_proba`` and ``classes_``) saved with
  :func:`joblib.dump` (``format="joblib"``);
- a TorchScript file (``format="torchscript"``) whose module maps a float tensor
  ``(N, ...)`` to logits ``(N, K)`` in ontology class order;
- a Python callable ``f(X) -> (N, K) probabilities`` in ontology class order, given as an
  object or as a ``"module:function"`` string (``format="callable"``).

Items carry their input in ``data[feature_key]`` (a feature vector, or a pixel array of
any shape, flattened for scikit-learn). :meth:`ModelAdapter.predict_proba` returns the
full probability matrix, which the QA step also uses for disagreement flags;
:meth:`ModelAdapter.predict_items` returns one prediction per item in the model's own form
(a callable's output, or an estimator's ``predict``, e.g. a regressor's rating), for flags of
task types whose prediction is not a row of class probabilities.
"""

from __future__ import annotations

import hashlib
import importlib
import threading
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import numpy.typing as npt

from adapters.base import (
    Batch,
    JobNotFound,
    JobStatus,
    TaskType,
    VendorAnnotation,
    VendorJob,
    VendorRejected,
    WorkItem,
)

__all__ = ["ModelAdapter", "ModelFormat", "ModelPredictions"]

ModelFormat = Literal["joblib", "torchscript", "callable"]


@dataclass(frozen=True)
class ModelPredictions:
    """Predicted class probabilities for a list of items.

    Attributes
    ----------
    item_ids
        The items, in row order, shape ``(N,)``.
    classes
        Class names, in column order, shape ``(K,)``.
    probabilities
        Row-stochastic matrix, shape ``(N, K)``.
    """

    item_ids: tuple[str, ...]
    classes: tuple[str, ...]
    probabilities: npt.NDArray[np.float64]

    @property
    def predicted(self) -> list[str]:
        """The most probable class of each item."""
        return [self.classes[int(k)] for k in np.argmax(self.probabilities, axis=1)]


class ModelAdapter:
    """Run a model over the golden items and return its predictions as annotations.

    Parameters
    ----------
    vendor
        The candidate's slug.
    model
        A fitted estimator, a ``torch.jit.ScriptModule`` or a callable; or omit it and give
        ``path``/``callable_ref``.
    path
        File to load (``.joblib``/``.pkl`` -> joblib, ``.pt``/``.ts`` -> TorchScript).
    callable_ref
        ``"module:function"`` returning probabilities.
    format
        Overrides the format guessed from ``model``/``path``.
    feature_key
        Key of the model input inside each item's ``data``.
    class_names
        Names for the model's outputs when they differ from the estimator's ``classes_``
        (e.g. a digits model with ``classes_ = [0..9]`` and classes ``"0".."9"``).
    multilabel_threshold
        For multilabel tasks: every class with probability at least this is predicted.
    cost_per_item
        Reported as each prediction's cost; ``None`` leaves pricing to the vendor's price list.

    Examples
    --------
    >>> import numpy as np
    >>> def always_b(x):
    ...     return np.tile([0.1, 0.9], (len(x), 1))
    >>> from adapters.base import Batch, Instructions, Ontology, OntologyClass, WorkItem
    >>> batch = Batch(bakeoff_id="b", task_type="classification",
    ...               ontology=Ontology(classes=(OntologyClass(name="a"), OntologyClass(name="b"))),
    ...               instructions=Instructions(version=1, text="-"),
    ...               items=(WorkItem(item_id="i1", data={"features": [0.0, 1.0]}),))
    >>> adapter = ModelAdapter("m", model=always_b)
    >>> [a.label for a in adapter.fetch_results(adapter.submit(batch))]
    ['b']
    """

    kind: str = "model"
    #: Settings a remote caller may give. ``model``, ``path`` and ``callable_ref`` load and run
    #: code (an import path, or a joblib/pickle file), so they are never among them: the host
    #: application resolves a model its operator registered (see ``service.domain.models``).
    api_settings: ClassVar[frozenset[str]] = frozenset(
        {"feature_key", "class_names", "multilabel_threshold", "cost_per_item"}
    )
    supported_tasks: frozenset[TaskType] = frozenset(("classification", "multilabel"))

    def __init__(
        self,
        vendor: str,
        *,
        model: object | None = None,
        path: str | Path | None = None,
        callable_ref: str | None = None,
        format: ModelFormat | None = None,
        feature_key: str = "features",
        class_names: Sequence[str] | None = None,
        multilabel_threshold: float = 0.5,
        cost_per_item: float | None = None,
        device: str = "cpu",
    ) -> None:
        self.name = vendor
        self.feature_key = feature_key
        self.class_names = tuple(class_names) if class_names is not None else None
        self.multilabel_threshold = multilabel_threshold
        self.cost_per_item = cost_per_item
        self._device = device
        self._format, self._model = _load(model, path, callable_ref, format, device)
        self._jobs: dict[str, list[VendorAnnotation]] = {}
        self._lock = threading.Lock()

    # -- predictions --------------------------------------------------------------

    def predict_proba(self, items: Sequence[WorkItem], classes: Sequence[str]) -> ModelPredictions:
        """Class probabilities for ``items``, with columns in the order of ``classes``.

        Raises
        ------
        ValueError
            If an item lacks ``data[feature_key]``, inputs have different shapes, or the
            model's outputs cannot be matched to ``classes``.
        """
        if not items:
            return ModelPredictions((), tuple(classes), np.zeros((0, len(classes))))
        x = self._inputs(items)
        proba, names = self._raw_proba(x, classes)
        if proba.shape != (len(items), len(names)):
            raise ValueError(
                f"model {self.name!r} returned probabilities of shape {proba.shape}, "
                f"expected ({len(items)}, {len(names)}) for classes {names}"
            )
        missing = [c for c in names if c not in classes]
        if missing:
            raise ValueError(
                f"model {self.name!r} predicts classes {missing} that are not in the ontology "
                f"{list(classes)}; pass class_names= to map its outputs"
            )
        out = np.zeros((len(items), len(classes)), dtype=np.float64)
        for j, name in enumerate(names):
            out[:, list(classes).index(name)] = proba[:, j]
        return ModelPredictions(tuple(i.item_id for i in items), tuple(classes), out)

    def predict_items(self, items: Sequence[WorkItem]) -> list[Any]:
        """One prediction per item, in item order, in whatever form the model gives it.

        For task types whose prediction is not a row of class probabilities (a rating, a
        preference's choice probabilities, structured outputs): a callable (an entry point)
        is called once with the list of the items' ``data[feature_key]`` values, as stored,
        and returns a sequence of one prediction per item; an estimator's ``predict`` gets
        the stacked, flattened inputs (e.g. a regressor's rating per item).

        Raises
        ------
        ValueError
            An item without ``data[feature_key]``, a TorchScript model (it maps tensors to
            class logits only), or a number of predictions that is not one per item.
        """
        if not items:
            return []
        if self._format == "callable":
            missing = [i.item_id for i in items if self.feature_key not in i.data]
            if missing:
                raise ValueError(
                    f"item {missing[0]!r} has no data[{self.feature_key!r}] for model {self.name!r}"
                )
            out = self._model([i.data[self.feature_key] for i in items])
        elif self._format == "joblib" and hasattr(self._model, "predict"):
            x = self._inputs(items)
            out = self._model.predict(x.reshape(len(x), -1))
        else:
            raise ValueError(
                f"model {self.name!r} ({self._format}) gives class probabilities only; "
                "register a callable entry point that returns one prediction per item"
            )
        predictions = out.tolist() if isinstance(out, np.ndarray) else list(out)
        if len(predictions) != len(items):
            raise ValueError(
                f"model {self.name!r} returned {len(predictions)} predictions for "
                f"{len(items)} items"
            )
        return predictions

    def _inputs(self, items: Sequence[WorkItem]) -> npt.NDArray[np.float64]:
        rows = []
        for item in items:
            if self.feature_key not in item.data:
                raise ValueError(
                    f"item {item.item_id!r} has no data[{self.feature_key!r}] for model "
                    f"{self.name!r}; its data keys are {sorted(item.data)}"
                )
            rows.append(np.asarray(item.data[self.feature_key], dtype=np.float64))
        shapes = {r.shape for r in rows}
        if len(shapes) != 1:
            raise ValueError(f"model {self.name!r}: inputs have different shapes {sorted(shapes)}")
        return np.stack(rows)

    def _raw_proba(
        self, x: npt.NDArray[np.float64], classes: Sequence[str]
    ) -> tuple[npt.NDArray[np.float64], list[str]]:
        """Probabilities and the class name of each column (before reordering)."""
        if self._format == "joblib":
            if not hasattr(self._model, "predict_proba"):
                raise ValueError(
                    f"model {self.name!r} ({type(self._model).__name__}) has no predict_proba: "
                    "it gives one prediction per item (predict), not class probabilities"
                )
            flat = x.reshape(len(x), -1)
            proba = np.asarray(self._model.predict_proba(flat), dtype=np.float64)
            names = [str(c) for c in self._model.classes_]
        elif self._format == "torchscript":
            import torch

            with torch.no_grad():
                tensor = torch.as_tensor(x, dtype=torch.float32, device=self._device)
                logits = self._model(tensor)
                proba = np.asarray(torch.softmax(logits, dim=1).cpu().numpy(), dtype=np.float64)
            names = list(classes)
        else:
            proba = np.asarray(self._model(x), dtype=np.float64)
            names = list(classes)
        if self.class_names is not None:
            names = list(self.class_names)
        return proba, names

    # -- the LabelingVendor protocol ------------------------------------------------

    def submit(self, batch: Batch) -> VendorJob:
        """Predict every item of the batch now; results wait under the returned job."""
        if batch.task_type not in self.supported_tasks:
            raise VendorRejected(
                f"model {self.name!r} handles {sorted(self.supported_tasks)}, "
                f"not {batch.task_type!r}"
            )
        classes = batch.ontology.class_names
        started = datetime.now(UTC)
        try:
            pred = self.predict_proba(batch.items, classes)
        except ValueError as exc:
            raise VendorRejected(str(exc)) from exc
        completed = datetime.now(UTC)
        annotations: list[VendorAnnotation] = []
        for row, item_id in enumerate(pred.item_ids):
            p = pred.probabilities[row]
            label: str | list[str]
            if batch.task_type == "multilabel":
                label = [
                    c
                    for c, v in zip(pred.classes, p, strict=True)
                    if v >= self.multilabel_threshold
                ]
                score = float(np.mean([max(v, 1 - v) for v in p]))
            else:
                k = int(np.argmax(p))
                label, score = pred.classes[k], float(p[k])
            annotations.append(
                VendorAnnotation(
                    item_id=item_id,
                    label=label,
                    annotator_id=self.name,
                    score=min(1.0, max(0.0, score)),
                    started_at=started,
                    completed_at=completed,
                    cost=self.cost_per_item,
                    instructions_version=batch.instructions.version,
                    external_id=f"{self.name}:{item_id}",
                )
            )
        digest = hashlib.sha256("\0".join(sorted(pred.item_ids)).encode()).hexdigest()[:16]
        job_id = f"{self.name}-{batch.bakeoff_id}-{digest}"
        with self._lock:
            self._jobs[job_id] = annotations
        return VendorJob(
            vendor=self.name,
            external_id=job_id,
            item_ids=pred.item_ids,
            submitted_at=started,
        )

    def poll(self, job: VendorJob) -> JobStatus:
        """A submitted job is always complete; an unknown one (other process) is not found."""
        results = self._results(job)
        return JobStatus(state="completed", done=len(results), total=len(job.item_ids))

    def fetch_results(self, job: VendorJob) -> list[VendorAnnotation]:
        """The predictions made at submit time."""
        return list(self._results(job))

    def cancel(self, job: VendorJob) -> None:
        """Forget the job's predictions."""
        with self._lock:
            self._jobs.pop(job.external_id, None)

    def _results(self, job: VendorJob) -> list[VendorAnnotation]:
        with self._lock:
            results = self._jobs.get(job.external_id)
        if results is None:
            raise JobNotFound(
                f"model {self.name!r} holds no predictions for job {job.external_id!r} "
                "(made in another process); submit the items again"
            )
        return results


def _load(
    model: object | None,
    path: str | Path | None,
    callable_ref: str | None,
    format: ModelFormat | None,
    device: str,
) -> tuple[ModelFormat, Any]:
    given = sum(x is not None for x in (model, path, callable_ref))
    if given != 1:
        raise ValueError("give exactly one of model=, path= or callable_ref= to the model adapter")
    if model is not None:
        if format is not None:
            return format, model
        if hasattr(model, "predict_proba") and hasattr(model, "classes_"):
            return "joblib", model
        if type(model).__module__.startswith("torch"):
            return "torchscript", model
        if callable(model):
            return "callable", model
        raise TypeError(
            f"model of type {type(model).__name__} has neither predict_proba/classes_ nor __call__"
        )
    if callable_ref is not None:
        module_name, _, attr = callable_ref.partition(":")
        if not module_name or not attr:
            raise ValueError(f"callable_ref {callable_ref!r} must look like 'module:function'")
        fn = getattr(importlib.import_module(module_name), attr, None)
        if fn is None or not callable(fn):
            raise ValueError(f"callable_ref {callable_ref!r}: no callable {attr!r} there")
        return "callable", fn
    file = Path(str(path))
    if not file.is_file():
        raise ValueError(f"model file {file} does not exist")
    fmt: ModelFormat = format or (
        "torchscript" if file.suffix in {".pt", ".pth", ".ts", ".torchscript"} else "joblib"
    )
    if fmt == "torchscript":
        try:
            import torch
        except ImportError as exc:  # pragma: no cover - torch is in the test extra
            raise ImportError("TorchScript models need `pip install bakeoff[torch]`") from exc
        with warnings.catch_warnings():  # TorchScript is deprecated in torch 2.x but supported
            warnings.simplefilter("ignore", DeprecationWarning)
            module = torch.jit.load(str(file), map_location=device)  # type: ignore[no-untyped-call]
        module.eval()
        return "torchscript", module
    if fmt == "callable":
        raise ValueError("format='callable' needs callable_ref= or model=, not a file path")
    import joblib

    loaded = joblib.load(file)
    if not (hasattr(loaded, "predict_proba") and hasattr(loaded, "classes_")) and not hasattr(
        loaded, "predict"
    ):
        raise ValueError(
            f"{file}: the joblib object ({type(loaded).__name__}) is not a fitted classifier "
            "with predict_proba and classes_, nor an estimator with predict"
        )
    return "joblib", loaded
