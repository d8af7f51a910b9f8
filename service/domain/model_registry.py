"""Model candidates the server's operator registered; API callers can only name them.

A ``model`` candidate runs code on the worker: a joblib/pickle file executes whatever it was
pickled with, a TorchScript file runs its graph, and a callable is code. So a model is never
given over the API as a file path or an import path. Two places register models, both under the
control of whoever runs the server:

* files in the folder ``BAKEOFF_MODEL_DIR`` (``.joblib``/``.pkl`` scikit-learn estimators,
  ``.pt``/``.pth``/``.ts``/``.torchscript`` TorchScript modules), named by their file name;
* entry points in the group ``bakeoff.models`` of packages installed in the server's
  environment, each a callable named by the entry point: ``f(X) -> (N, K) probabilities``
  for classification and multi-label, or, for delivery flags of task types whose prediction
  is not a row of class probabilities (preference, rating, ...), ``f(inputs) -> one
  prediction per item`` (``inputs``: the items' ``data[feature_key]`` values, as stored;
  :data:`service.domain.delivery_probs.PREDICTION_SOURCES` says which a task type uses).

A vendor of kind ``model`` names one of them in its settings: ``{"model": "digits.joblib"}``.
"""

from __future__ import annotations

import importlib.metadata
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from service.core.config import Settings
from service.domain.errors import Invalid

__all__ = [
    "ENTRY_POINT_GROUP",
    "MODEL_FILE_SUFFIXES",
    "RegisteredModel",
    "registered_models",
    "model_adapter_arguments",
]

ENTRY_POINT_GROUP = "bakeoff.models"
MODEL_FILE_SUFFIXES = frozenset({".joblib", ".pkl", ".pt", ".pth", ".ts", ".torchscript"})


@dataclass(frozen=True)
class RegisteredModel:
    """One model the operator registered.

    Attributes
    ----------
    name
        What a vendor's settings name it by (a file name, or an entry point's name).
    source
        ``"file"`` (under ``model_dir``) or ``"entry_point"``.
    target
        The file's path, or the entry point's ``"module:attribute"``.
    """

    name: str
    source: Literal["file", "entry_point"]
    target: str


def registered_models(settings: Settings) -> dict[str, RegisteredModel]:
    """Every registered model by name; a file and an entry point of one name: the file wins."""
    found: dict[str, RegisteredModel] = {}
    for ep in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        found[ep.name] = RegisteredModel(ep.name, "entry_point", ep.value)
    if settings.model_dir:
        folder = Path(settings.model_dir)
        if folder.is_dir():
            for file in sorted(folder.iterdir()):
                if file.is_file() and file.suffix in MODEL_FILE_SUFFIXES:
                    found[file.name] = RegisteredModel(file.name, "file", str(file.resolve()))
    return found


def _lookup(name: object, settings: Settings) -> RegisteredModel:
    models = registered_models(settings)
    if not isinstance(name, str) or name not in models:
        known = ", ".join(sorted(models)) or "none (the operator sets BAKEOFF_MODEL_DIR)"
        raise Invalid(
            f"adapter setting 'model' must name a model registered on the server; "
            f"registered: {known}",
            location=("body", "adapter_settings", "model"),
        )
    return models[name]


def model_adapter_arguments(settings_in: Mapping[str, Any], settings: Settings) -> dict[str, Any]:
    """The ``ModelAdapter`` keyword arguments for a vendor's stored settings.

    ``settings_in["model"]`` is replaced by the registered model's ``path`` (a file) or
    ``model`` (the entry point's callable, loaded here).

    Raises
    ------
    Invalid
        The named model is not registered.
    """
    arguments = {k: v for k, v in settings_in.items() if k != "model"}
    model = _lookup(settings_in.get("model"), settings)
    if model.source == "file":
        arguments["path"] = model.target
    else:
        (ep,) = importlib.metadata.entry_points(group=ENTRY_POINT_GROUP, name=model.name)
        arguments["model"] = ep.load()
        arguments["format"] = "callable"
    return arguments


def check_model_name(name: object, settings: Settings) -> None:
    """Refuse a ``model`` setting that names no registered model (HTTP 422)."""
    _lookup(name, settings)
