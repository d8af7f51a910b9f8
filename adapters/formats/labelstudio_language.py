"""Label Studio exports of language projects, read into plain label rows.

The export is the same JSON array as any Label Studio export (see
:mod:`adapters.formats.labelstudio`); each non-cancelled annotation becomes one
:class:`~adapters.formats._language.LanguageRow` whose ``label`` is a preference
(``Pairwise`` or A/B/tie ``Choices``), ratings ``{criterion: rating}`` (each ``Rating``
control, or ``Choices`` read as numbers, keyed by its name) or a transcript (``TextArea``),
as :mod:`adapters.formats._labelstudio_language` reads them.
Annotator, times and answer id are read as for every Label Studio annotation.

Examples
--------
>>> import io
>>> blob = b'[{"data": {"item_id": "a", "audio": "a.wav"}, "annotations": [{"completed_by": 2,'
>>> blob += b' "result": [{"type": "textarea", "value": {"text": ["hello world"]}}]}]}]'
>>> [r.label for r in iter_rows(io.BytesIO(blob), kind="transcription")]
['hello world']
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

from adapters.formats._json_stream import Source
from adapters.formats._labelstudio_language import language_label, rating_criteria
from adapters.formats._labelstudio_regions import RawAnnotation, validate
from adapters.formats._language import LanguageKind, LanguageRow
from adapters.formats.labelstudio import _iter_raw

__all__ = ["iter_rows", "read_rows"]


def iter_rows(
    source: Source,
    *,
    kind: LanguageKind,
    criterion: str | None = None,
    scale: Mapping[str, int] | None = None,
    id_field: str = "item_id",
    name: str | None = None,
) -> Iterator[LanguageRow]:
    """Stream every annotation of a Label Studio export of a language project.

    Parameters
    ----------
    source
        A path or a binary file object.
    kind
        ``preference``, ``rating`` or ``transcription``.
    criterion
        The control (``from_name``) to read when a project rates several criteria.
    scale
        Choice text → rating, for ``Choices`` whose values are not numbers.
    id_field, name
        As for :func:`adapters.formats.labelstudio.iter_tasks`.

    Raises
    ------
    FormatError
        Naming the file, the task and the region that does not read as ``kind``.
    """
    for src, where, raw, item_id in _iter_raw(source, id_field=id_field, name=name):
        for k, obj in enumerate(raw.annotations):
            aw = f"{where}.annotations[{k}]"
            ann = validate(RawAnnotation, obj, source=src, where=aw)
            if ann.was_cancelled:
                continue
            label: str | int | dict[str, int]
            if kind == "rating":  # the engine's shape: {criterion (control): rating}
                label = rating_criteria(
                    ann.result, source=src, where=f"{aw}.result", criterion=criterion, scale=scale
                )
            else:
                label = language_label(
                    ann.result,
                    kind=kind,
                    source=src,
                    where=f"{aw}.result",
                    criterion=criterion,
                    scale=scale,
                )
            started, completed = ann.times()
            yield LanguageRow(
                item_id=item_id,
                label=label,
                annotator_id=ann.annotator_id,
                started_at=started,
                completed_at=completed,
                external_id=None if ann.id is None else str(ann.id),
            )


def read_rows(
    source: Source,
    *,
    kind: LanguageKind,
    criterion: str | None = None,
    scale: Mapping[str, int] | None = None,
    id_field: str = "item_id",
    name: str | None = None,
) -> list[LanguageRow]:
    """Read a whole export; see :func:`iter_rows`."""
    return list(
        iter_rows(source, kind=kind, criterion=criterion, scale=scale, id_field=id_field, name=name)
    )
