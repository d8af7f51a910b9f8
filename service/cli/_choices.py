"""The option choices of the ``bakeoff`` commands, importable without the heavy packages.

Typer needs each option's ``Literal`` when the command is registered, which is when
``bakeoff --help`` runs. The originals live in modules that import pandas, SQLAlchemy or
NumPy (:mod:`service.evaluation`, :mod:`metrics`, :mod:`service.models`,
:mod:`adapters.formats.registry`); importing them would cost seconds before any help is
shown. These copies are checked against the originals by
``tests/service/test_cli_startup.py``, so they cannot drift apart.
"""

from __future__ import annotations

from typing import Literal, TypeAlias

__all__ = [
    "AgreementTask",
    "EvalTask",
    "ExportFormat",
    "GoldFormat",
    "KappaWeights",
    "LabelFormat",
    "Level",
    "ReadFormat",
    "Role",
]

EvalTask: TypeAlias = Literal[
    "classification",
    "multilabel",
    "detection",
    "segmentation",
    "spans",
    "keypoints",
    "preference",
    "rating",
    "transcription",
]
"""Copy of :data:`service.evaluation.EvalTask`."""

AgreementTask: TypeAlias = Literal["classification", "preference", "rating"]
"""Copy of :data:`service.evaluation.AgreementTask`."""

KappaWeights: TypeAlias = Literal["none", "linear", "quadratic"]
"""Copy of :data:`metrics.classification.KappaWeights`."""

Level: TypeAlias = Literal["nominal", "ordinal", "interval", "ratio"]
"""Copy of :data:`metrics.agreement.Level`."""

LabelFormat: TypeAlias = Literal["jsonl", "csv", "coco", "labelstudio"]
"""Copy of :data:`service.domain.label_io.LabelFormat`."""

GoldFormat: TypeAlias = Literal["jsonl", "csv", "coco", "labelstudio", "voc"]
"""Copy of :data:`service.domain.label_io.GoldFormat`."""

ExportFormat: TypeAlias = Literal[
    "jsonl", "csv", "coco", "labelstudio", "voc", "yolo", "cvat", "doccano", "prodigy", "sagemaker"
]
"""Copy of :data:`service.domain.label_io.ExportFormat` (text formats, then file formats)."""

ReadFormat: TypeAlias = Literal[
    "jsonl",
    "csv",
    "coco",
    "coco_results",
    "labelstudio",
    "voc",
    "yolo",
    "cvat",
    "doccano",
    "prodigy",
    "labelbox",
    "sagemaker",
    "argilla",
]
"""Copy of :data:`adapters.formats.registry.FormatName`."""

Role: TypeAlias = Literal["admin", "lead", "qa", "viewer", "vendor"]
"""Copy of :data:`service.models.Role`."""
