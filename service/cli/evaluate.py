"""``bakeoff evaluate`` and ``bakeoff agreement``: score label files from the command line.

Examples
--------
Score two vendors against gold, as JSON for scripts::

    bakeoff evaluate --task classification --gold gold.csv \\
        --labels acme=acme.csv --labels bolt=bolt.csv --json

Agreement among annotators of one file::

    bakeoff agreement --labels answers.csv --level ordinal --json

Bad input exits with status 1 and one line on stderr naming the file, the row or object,
and what is wrong.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, TypeVar

import typer

from service.cli._app import app
from service.cli._choices import EvalTask, KappaWeights, Level

if TYPE_CHECKING:  # imported inside the commands: `bakeoff --help` must not load them
    from service import evaluation

__all__ = ["evaluate_command", "agreement_command"]

_T = TypeVar("_T")

# What each --task reads; a file detected as one of the other formats gets a hint.
_TASK_FORMATS: dict[str, tuple[str, ...]] = {
    "classification": ("csv",),
    "multilabel": ("csv",),
    "detection": ("coco", "coco_results"),
    "segmentation": ("coco", "coco_results"),
    "spans": ("jsonl", "doccano", "prodigy"),
}
_FORMAT_TASKS: dict[str, str] = {
    "coco": "--task detection or segmentation",
    "coco_results": "--task detection or segmentation",
    "csv": "--task classification or multilabel",
    "doccano": "--task spans",
    "prodigy": "--task spans",
}
_FORMAT_NAMES: dict[str, str] = {"coco": "COCO", "coco_results": "COCO results", "csv": "CSV"}


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code=1)


def _wrong_task_hint(task: str, paths: Sequence[Path]) -> str | None:
    """``"gold.json looks like COCO: use --task detection or segmentation"``, or None.

    Uses the format layer's content sniffing (:func:`adapters.formats.registry.detect_format`)
    on each input whose reading failed, so a COCO file given to ``--task classification`` is
    named as COCO instead of being printed whole as an unrecognised CSV header.
    """
    from adapters.formats import FormatError
    from adapters.formats.registry import detect_format

    for path in paths:
        try:
            found = detect_format(path)
        except (FormatError, OSError, ValueError):
            continue
        if found in _TASK_FORMATS[task] or found not in _FORMAT_TASKS:
            continue
        name = _FORMAT_NAMES.get(found, found)
        return f"{path.name} looks like {name}: use {_FORMAT_TASKS[found]}"
    return None


def _run(step: Callable[[], _T], *, task: str | None = None, paths: Sequence[Path] = ()) -> _T:
    """Run a loading/scoring step, turning input errors into one line and exit 1.

    Given the ``task`` and input ``paths``, a failure first checks whether an input is in
    another task's format and, if so, says which ``--task`` reads it.
    """
    from adapters.formats import FormatError

    try:
        return step()
    except (FormatError, ValueError, TypeError) as exc:
        hint = _wrong_task_hint(task, paths) if task is not None else None
        if hint is not None:
            raise _fail(hint) from None
        if isinstance(exc, FormatError):
            raise _fail(str(exc)) from None
        raise _fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None


def _fmt(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:.3f}"


def _print_classification(result: evaluation.ClassificationEvaluation) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    table = Table(title=f"Classification vs {result.gold} ({result.n_gold} items)")
    table.add_column("metric", style="bold", no_wrap=True)
    for name in result.systems:
        table.add_column(name, justify="right", no_wrap=True)
    rows = [
        ("accuracy", "accuracy"),
        ("accuracy_all", "accuracy, skip=wrong"),
        ("coverage", "coverage"),
        ("balanced_accuracy", "balanced accuracy"),
        ("cohen_kappa", "Cohen's kappa"),
        ("macro_f1", "macro F1"),
        ("micro_f1", "micro F1"),
    ]
    for key, title in rows:
        cells = []
        for s in result.systems.values():
            low, high = s.ci95[key]
            cells.append(f"{_fmt(getattr(s, key))}\n[dim]{_fmt(low)}–{_fmt(high)}[/dim]")
        table.add_row(title, *cells)
    console.print(table)
    note = (
        f"under each value: 95% paired bootstrap interval ({result.n_resamples} resamples, "
        f"seed {result.seed})"
    )
    console.print(f"[dim]{note}[/dim]")
    if result.comparisons:
        comp = Table(title="Paired accuracy (McNemar exact, Holm-adjusted)")
        for col in ("A", "B", "acc. A - B", "A right/B wrong", "A wrong/B right", "p", "p (Holm)"):
            comp.add_column(col, justify="right" if col not in ("A", "B") else "left")
        for c in result.comparisons:
            comp.add_row(
                c.system_a,
                c.system_b,
                f"{c.accuracy_difference:+.4f}",
                str(c.a_right_b_wrong),
                str(c.a_wrong_b_right),
                f"{c.pvalue:.4g}",
                f"{c.pvalue_holm:.4g}" + (" *" if c.significant else ""),
            )
        console.print(comp)


def _print_multilabel(result: evaluation.MultilabelEvaluation) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Multi-label vs {result.gold} ({result.n_gold} items)")
    table.add_column("system", style="bold")
    keys = ("coverage", "exact_match", "hamming_loss", "micro_f1", "macro_f1", "jaccard")
    for key in keys:
        table.add_column(key.replace("_", " "), justify="right")
    for name, s in result.systems.items():
        cells = []
        for key in keys:
            low, high = s.ci95[key]
            cells.append(f"{_fmt(getattr(s, key))}\n[dim][{_fmt(low)}, {_fmt(high)}][/dim]")
        table.add_row(name, *cells)
    Console().print(table)


def _print_detection(result: evaluation.DetectionEvaluation) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    title = f"{result.task.capitalize()} vs {result.gold}"
    for name, s in result.systems.items():
        if s.scored and s.coco_stats is not None and s.coco_stat_names is not None:
            table = Table(title=f"{title}: {name} (scored, COCO)")
            table.add_column("stat")
            table.add_column("value", justify="right")
            for stat, value in zip(s.coco_stat_names, s.coco_stats, strict=True):
                table.add_row(stat, _fmt(value))
        else:
            table = Table(title=f"{title}: {name} (unscored, IoU >= {s.iou_threshold})")
            for col in ("class", "gold", "labels", "precision", "recall", "F1", "mean IoU"):
                table.add_column(col, justify="left" if col == "class" else "right")
            for c in (s.per_class or {}).values():
                table.add_row(
                    c.name,
                    str(c.n_gold),
                    str(c.n_labels),
                    _fmt(c.precision),
                    _fmt(c.recall),
                    _fmt(c.f1),
                    _fmt(c.mean_iou),
                )
            table.add_row(
                "[bold]all[/bold]",
                "",
                str(s.n_labels),
                _fmt(s.precision),
                _fmt(s.recall),
                _fmt(s.f1),
                _fmt(s.mean_iou),
            )
        console.print(table)


def _print_spans(result: evaluation.SpanEvaluation) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"Spans vs {result.gold} ({result.n_gold} items)")
    for col in ("system", "coverage", "exact P", "exact R", "exact F1", "macro F1", "partial F1"):
        table.add_column(col, justify="left" if col == "system" else "right")
    for name, s in result.systems.items():
        table.add_row(
            name,
            _fmt(s.coverage),
            _fmt(s.precision),
            _fmt(s.recall),
            _fmt(s.f1),
            _fmt(s.macro_f1),
            _fmt(s.partial_f1),
        )
    Console().print(table)


@app.command("evaluate")
def evaluate_command(
    gold: Annotated[
        Path, typer.Option("--gold", help="Gold: CSV item_id,label; COCO JSON; spans JSONL.")
    ],
    labels: Annotated[
        list[str],
        typer.Option(
            "--labels",
            help="A system's labels as NAME=PATH; repeat for each system.",
        ),
    ],
    task: Annotated[
        EvalTask, typer.Option("--task", help="What kind of labels.")
    ] = "classification",
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    kappa_weights: Annotated[
        KappaWeights,
        typer.Option("--kappa-weights", help="Cohen's kappa weights (ordinal classes)."),
    ] = "none",
    resamples: Annotated[
        int, typer.Option("--resamples", min=1, help="Bootstrap resamples for the 95% CIs.")
    ] = 1000,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the bootstrap.")] = 0,
    iou_threshold: Annotated[
        float,
        typer.Option("--iou-threshold", min=0.0, max=1.0, help="Detection: IoU to match."),
    ] = 0.5,
    html: Annotated[
        Path | None,
        typer.Option(
            "--html", help="Also write the ranked HTML report (classification, detection)."
        ),
    ] = None,
) -> None:
    """Score one or more systems' labels against gold."""
    from service import evaluation

    sources = _run(lambda: [evaluation.parse_label_source(s) for s in labels])
    paths = [gold, *(Path(s.path) for s in sources)]
    if html is not None and task not in ("classification", "detection"):
        raise _fail("--html is available for --task classification and detection only")
    if task == "classification":
        gold_labels, systems, answers = _run(
            lambda: evaluation.load_classification_inputs(gold, sources), task=task, paths=paths
        )
        result = _run(
            lambda: evaluation.evaluate_classification(
                gold_labels,
                systems,
                answers=answers,
                weights=kappa_weights,
                n_resamples=resamples,
                seed=seed,
                gold_name=gold.name,
            )
        )
        if html is not None:
            written = _run(
                lambda: evaluation.write_classification_html(
                    gold_labels, systems, answers, html, seed=seed
                )
            )
            typer.echo(f"report written to {written}", err=True)
        if as_json:
            typer.echo(result.model_dump_json())
        else:
            _print_classification(result)
        return
    if task == "multilabel":
        ml = _run(
            lambda: evaluation.evaluate_multilabel_files(
                gold, sources, n_resamples=resamples, seed=seed
            ),
            task=task,
            paths=paths,
        )
        if as_json:
            typer.echo(ml.model_dump_json())
        else:
            _print_multilabel(ml)
        return
    if task in ("detection", "segmentation"):
        kind: Literal["detection", "segmentation"] = (
            "segmentation" if task == "segmentation" else "detection"
        )
        det = _run(
            lambda: evaluation.evaluate_detection_files(
                gold, sources, task=kind, iou_threshold=iou_threshold
            ),
            task=task,
            paths=paths,
        )
        if html is not None:  # per-image F1 ranking, box bias: service.domain.report_files
            from service.domain.report_files import write_html_report

            written = _run(
                lambda: write_html_report(
                    task, gold, sources, html, n_resamples=resamples, seed=seed
                )
            )
            typer.echo(f"report written to {written}", err=True)
        if as_json:
            typer.echo(det.model_dump_json())
        else:
            _print_detection(det)
        return
    spans = _run(lambda: evaluation.evaluate_span_files(gold, sources), task=task, paths=paths)
    if as_json:
        typer.echo(spans.model_dump_json())
    else:
        _print_spans(spans)


@app.command("agreement")
def agreement_command(
    labels: Annotated[
        Path, typer.Option("--labels", help="Answers: CSV item_id,annotator_id,label.")
    ],
    level: Annotated[
        Level, typer.Option("--level", help="Level of measurement for Krippendorff's alpha.")
    ] = "nominal",
    gold: Annotated[
        Path | None, typer.Option("--gold", help="Optional gold CSV item_id,label.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Agreement among annotators: Fleiss' kappa, Krippendorff's alpha, per annotator."""
    from rich.console import Console
    from rich.table import Table

    from service import evaluation

    result = _run(lambda: evaluation.evaluate_agreement_file(labels, level=level, gold_path=gold))
    if as_json:
        typer.echo(result.model_dump_json())
        return
    console = Console()
    summary = Table(title=f"Agreement in {result.labels}")
    summary.add_column("measure")
    summary.add_column("value", justify="right")
    summary.add_row("items", str(result.n_items))
    summary.add_row("annotators", str(result.n_annotators))
    summary.add_row("answers", str(result.n_answers))
    summary.add_row("Fleiss' kappa", _fmt(result.fleiss_kappa))
    summary.add_row(f"Krippendorff's alpha ({result.level})", _fmt(result.krippendorff_alpha))
    summary.add_row("mean pairwise Cohen's kappa", _fmt(result.pairwise_cohen_kappa))
    console.print(summary)
    per = Table(title="Per annotator")
    per.add_column("annotator")
    per.add_column("answers", justify="right")
    per.add_column("agrees with others' majority", justify="right")
    if gold is not None:
        per.add_column("accuracy vs gold", justify="right")
    for name, a in result.annotators.items():
        row = [name, str(a.n_answers), _fmt(a.consensus_agreement)]
        if gold is not None:
            row.append(_fmt(a.accuracy))
        per.add_row(*row)
    console.print(per)
