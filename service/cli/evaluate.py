"""``bakeoff evaluate`` and ``bakeoff agreement``: score label files from the command line.

Examples
--------
Score two vendors against gold, as JSON for scripts::

    bakeoff evaluate --task classification --gold gold.csv \\
        --labels acme=acme.csv --labels bolt=bolt.csv --json

Agreement among annotators of one file::

    bakeoff agreement --labels answers.csv --level ordinal --json

Bad input exits with status 1 and one line on stderr naming the file, the row or object,
and what is wrong; labels whose classes are not in the gold vocabulary are refused the
same way (name the unknown and the known classes) unless ``--unknown-as-wrong``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal, TypeVar

import typer

from service.cli._app import app
from service.cli._choices import AgreementTask, EvalTask, KappaWeights, Level, ReadFormat

if TYPE_CHECKING:  # imported inside the commands: `bakeoff --help` must not load them
    from rich.console import Console
    from rich.table import Table

    from metrics.transcription import Normalization
    from reports.results import Estimate
    from service import evaluation

__all__ = ["evaluate_command", "agreement_command"]

_T = TypeVar("_T")

# What each --task reads; an input detected as another task's format gets a hint.
_TASK_FORMATS: dict[str, tuple[str, ...]] = {
    "classification": ("csv",),
    "multilabel": ("csv",),
    "detection": ("coco", "coco_results"),
    "segmentation": ("coco", "coco_results"),
    "spans": ("jsonl", "doccano", "prodigy"),
    "keypoints": ("coco", "coco_results", "jsonl"),
    "preference": ("csv", "jsonl"),
    "rating": ("csv", "jsonl"),
    "transcription": ("csv", "jsonl"),
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
    on the inputs after reading them failed, so a COCO file given to ``--task classification``
    is named as COCO instead of being printed whole as an unrecognised CSV header.
    """
    from adapters.formats import FormatError
    from adapters.formats.registry import detect_format

    for path in paths:
        try:
            found = detect_format(path)
        except (FormatError, OSError, ValueError):
            continue
        if found in _TASK_FORMATS.get(task, ()) or found not in _FORMAT_TASKS:
            continue
        name = _FORMAT_NAMES.get(found, found)
        return f"{path.name} looks like {name}: use {_FORMAT_TASKS[found]}"
    return None


def _run(step: Callable[[], _T], *, task: str | None = None, paths: Sequence[Path] = ()) -> _T:
    """Run a loading/scoring step, turning input errors into one line and exit 1.

    Given the ``task`` and the input ``paths``, a failure first checks whether an input is in
    another task's format and, if so, says which ``--task`` reads it.
    """
    from adapters.formats import FormatError

    try:
        return step()
    except Exception as exc:
        # A file of another task's format may fail in any way deep in a reader (even an
        # AttributeError); naming its format and the right --task is the useful answer.
        hint = _wrong_task_hint(task, paths) if task is not None else None
        if hint is not None:
            raise _fail(hint) from None
        if not isinstance(exc, FormatError | ValueError | TypeError):
            raise
        if isinstance(exc, FormatError):
            raise _fail(str(exc)) from None
        raise _fail(str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None


def _fmt(x: float | None) -> str:
    if x is None or (isinstance(x, float) and math.isnan(x)):
        return "-"
    return f"{x:.3f}"


def _estimate(e: Estimate | None) -> str:
    if e is None:
        return "-"
    interval = f"\n[dim]{_fmt(e.low)}–{_fmt(e.high)}[/dim]" if e.low is not None else ""
    return f"{_fmt(e.value)}{interval}"


def _fitting_tables(
    console: Console, systems: list[str], build: Callable[[list[str]], Table]
) -> list[Table]:
    """The scores as one table, or as several side by side groups that each fit the screen.

    Intervals are never cut short ("0.923–0…"): piped or redirected output has no screen and
    gets one table as wide as it needs; a terminal too narrow for every system gets the systems
    in groups of as many columns as fit (at least one each).
    """
    from rich.measure import Measurement

    def width(table: Table) -> int:
        return Measurement.get(console, console.options.update_width(10_000), table).maximum

    whole = build(systems)
    if not console.is_terminal:
        console.width = max(console.width, width(whole))
        return [whole]
    if width(whole) <= console.width:
        return [whole]
    tables: list[Table] = []
    group: list[str] = []
    for name in systems:
        if group and width(build([*group, name])) > console.width:
            tables.append(build(group))
            group = []
        group.append(name)
    tables.append(build(group))
    return tables


def _print(result: evaluation.Evaluation) -> None:
    """The systems' scores as one table (metrics in rows), then warnings and tests."""
    from rich.console import Console
    from rich.table import Table

    console = Console()
    first = next(iter(result.systems.values()))
    names = list(dict.fromkeys(n for s in result.systems.values() for n in s.metrics))
    coco = any(s.coco is not None for s in result.systems.values())

    def scores_table(systems: list[str]) -> Table:
        table = Table(
            title=f"{result.task.capitalize()} vs {result.gold} ({result.n_gold} items): "
            f"main metric {first.main_title}"
        )
        table.add_column("metric", style="bold", no_wrap=True)
        shown = [result.systems[n] for n in systems]
        for name in systems:
            table.add_column(name, justify="right", no_wrap=True)
        table.add_row("status", *(s.status for s in shown))
        for metric in names:
            label = metric
            if metric == first.main_metric:
                label = f"{metric} (answered)"
            elif metric == first.ranking_metric:
                label = f"{metric} (ranked)"
            table.add_row(label, *(_estimate(s.metrics.get(metric)) for s in shown))
        if coco:
            for stat in ("AP", "AP50", "AP75", "AR100"):
                table.add_row(
                    f"COCO {stat}", *(_fmt(s.coco.get(stat)) if s.coco else "-" for s in shown)
                )
        return table

    for table in _fitting_tables(console, list(result.systems), scores_table):
        console.print(table)
    console.print(
        f"[dim]{first.main_metric}: over the items a system answered; "
        f"{first.ranking_metric}: {first.ranking_title or first.main_title} over all gold "
        f"items, a skipped item counting as wrong (what the ranking uses).[/dim]"
    )
    console.print(
        f"[dim]under each value: 95% interval (Wilson for means of per-item scores, paired "
        f"bootstrap: {result.n_resamples} resamples, seed {result.seed}); "
        f"coverage floor {result.min_coverage:.2f}[/dim]"
    )
    for name, s in result.systems.items():
        agreement = s.crowd_agreement
        if agreement is None:
            continue
        kappa = (
            _fmt(agreement.fleiss_kappa)
            if agreement.fleiss_kappa_note is None
            else f"- ({agreement.fleiss_kappa_note})"
        )
        console.print(
            f"{name}: its annotators' agreement on {agreement.n_items} items: "
            f"Fleiss' kappa {kappa}, Krippendorff's alpha ({agreement.level}) "
            f"{_fmt(agreement.krippendorff_alpha)}",
            highlight=False,
        )
    for name, s in result.systems.items():
        for warning in s.warnings:
            console.print(f"[yellow]{name}:[/] {warning}")
    for name, s in result.systems.items():
        if not s.annotators:
            continue
        per = Table(title=f"{name}: each annotator alone (the scores above are the consensus)")
        for col in ("annotator", "items", "agreement with gold", "agreement with peers"):
            per.add_column(col, justify="left" if col == "annotator" else "right")
        for who, row in s.annotators.items():
            items = row.get("n_items")
            per.add_row(
                who,
                "-" if items is None else f"{items:.0f}",
                _fmt(row.get("agreement_with_gold")),
                _fmt(row.get("agreement_with_peers")),
            )
        console.print(per)
    if result.comparisons:
        comp = Table(title=f"Paired tests on {result.comparisons[0].metric} (Holm-adjusted)")
        for col in ("A", "B", "A - B", "A better", "B better", "test", "p", "p (Holm)"):
            comp.add_column(col, justify="left" if col in ("A", "B", "test") else "right")
        for c in result.comparisons:
            comp.add_row(
                c.system_a,
                c.system_b,
                f"{c.difference:+.4f}",
                str(c.a_better),
                str(c.b_better),
                c.test,
                f"{c.pvalue:.4g}",
                f"{c.pvalue_holm:.4g}" + (" *" if c.significant else ""),
            )
        console.print(comp)


def _sigmas(text: str | None) -> tuple[tuple[str, tuple[float, ...]], ...]:
    if text is None:
        return ()
    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        raise ValueError(f"--oks-sigmas: expected comma-separated numbers, got {text!r}") from None
    if not all(v > 0 for v in values):
        raise ValueError(f"--oks-sigmas: every sigma must be positive, got {text!r}")
    return (("*", values),)


def _scale(text: str | None) -> tuple[int, int] | None:
    if text is None:
        return None
    try:
        low, high = (int(p) for p in text.split(","))
    except ValueError:
        raise ValueError(
            f"--rating-scale: expected LOWEST,HIGHEST integers, got {text!r}"
        ) from None
    return low, high


def _normalization(choice: str) -> Normalization:
    from metrics.scoring import ScoringOptions
    from metrics.transcription import Normalization

    return ScoringOptions().transcript_normalization if choice == "default" else Normalization()


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
    min_coverage: Annotated[
        float,
        typer.Option(
            "--min-coverage",
            min=0.0,
            max=1.0,
            help="Coverage floor: below it a system has 'not enough results' (no rank).",
        ),
    ] = 0.95,
    unknown_as_wrong: Annotated[
        bool,
        typer.Option(
            "--unknown-as-wrong",
            help="Score labels whose class is not in the gold vocabulary as wrong "
            "(default: refuse them, naming the unknown and the known classes).",
        ),
    ] = False,
    ties: Annotated[
        Literal["wrong", "random", "dawid_skene"],
        typer.Option(
            "--ties",
            help="A crowd's tied vote: scored wrong (default, as review flags do), a seeded "
            "random pick, or Dawid-Skene's choice. Ties are counted either way.",
        ),
    ] = "wrong",
    oks_sigmas: Annotated[
        str | None,
        typer.Option(
            "--oks-sigmas",
            help="Keypoints: comma-separated OKS sigma per keypoint for categories whose "
            "gold gives none (default: COCO's person sigmas for 17 keypoints).",
        ),
    ] = None,
    rating_scale: Annotated[
        str | None,
        typer.Option(
            "--rating-scale",
            help="Rating: the scale LOWEST,HIGHEST of every criterion, e.g. 1,5 (default: "
            "gold metadata scale_min/scale_max, else the range seen, with a warning).",
        ),
    ] = None,
    normalize: Annotated[
        Literal["default", "none"],
        typer.Option(
            "--normalize",
            help="Transcription: 'default' lowercases, writes numbers as words, strips "
            "punctuation and collapses whitespace before WER/CER; 'none' only collapses "
            "whitespace (docs/language-tasks.md).",
        ),
    ] = "default",
    html: Annotated[
        Path | None,
        typer.Option("--html", help="Also write the ranked HTML report of the same scores."),
    ] = None,
    question: Annotated[
        str | None,
        typer.Option(
            "--question",
            help="Label Studio control (from_name), Labelbox question or SageMaker attribute "
            "to score, where a file answers several.",
        ),
    ] = None,
    label_config: Annotated[
        Path | None,
        typer.Option(
            "--label-config",
            help="Keypoints with Label Studio gold: the project's labeling config (XML); its "
            "<KeyPointLabels> give the keypoint order.",
        ),
    ] = None,
) -> None:
    """Score one or more systems' labels against gold."""
    from metrics.scoring import ScoringOptions
    from service import evaluation

    sources = _run(lambda: [evaluation.parse_label_source(s) for s in labels])
    paths = [gold, *(Path(s.path) for s in sources)]
    options = _run(
        lambda: ScoringOptions(
            n_resamples=resamples,
            seed=seed,
            min_coverage=min_coverage,
            unknown_labels="wrong" if unknown_as_wrong else "refuse",
            iou_threshold=iou_threshold if iou_threshold > 0 else 0.5,
            kappa_weights=kappa_weights,
            ties=ties,
            keypoint_sigmas=_sigmas(oks_sigmas),
            rating_scale=_scale(rating_scale),
            transcript_normalization=_normalization(normalize),
        )
    )
    inputs = _run(
        lambda: evaluation.load_inputs(
            task, gold, sources, question=question, label_config=label_config
        ),
        task=task,
        paths=paths,
    )
    for note in inputs.notes:  # what a reader skipped or could not check, said out loud
        typer.echo(f"note: {note}", err=True)
    scored = _run(lambda: evaluation.score_inputs(inputs, options=options))
    result = evaluation.evaluation(inputs, scored, options=options)
    if html is not None:  # the same Scored objects as the table and the JSON
        from reports.render import render_html
        from service.domain.report_files import report_from_scored

        report = _run(
            lambda: report_from_scored(
                scored, title=f"{inputs.gold_name} bake-off", options=options
            )
        )
        written = render_html(report, html)
        typer.echo(f"report written to {written}", err=True)
    if as_json:
        typer.echo(result.model_dump_json())
    else:
        _print(result)


@app.command("agreement")
def agreement_command(
    labels: Annotated[
        Path,
        typer.Option(
            "--labels",
            help="Answers with annotators: CSV item_id,annotator_id,label, a Label Studio "
            "JSON export, JSON Lines, or any format bakeoff import reads (told by content).",
        ),
    ],
    level: Annotated[
        Level, typer.Option("--level", help="Level of measurement for Krippendorff's alpha.")
    ] = "nominal",
    gold: Annotated[
        Path | None, typer.Option("--gold", help="Optional gold CSV item_id,label.")
    ] = None,
    task: Annotated[
        AgreementTask,
        typer.Option("--task", help="What the answers are: classes, preferences or ratings."),
    ] = "classification",
    question: Annotated[
        str | None,
        typer.Option(
            "--question",
            help="Label Studio control (from_name), Labelbox or Argilla question, when several.",
        ),
    ] = None,
    fmt: Annotated[
        ReadFormat | None,
        typer.Option("--format", help="The file's format (default: told from its content)."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Agreement among annotators: Fleiss' kappa, Krippendorff's alpha, per annotator."""
    from rich.console import Console
    from rich.table import Table

    from service import evaluation

    result = _run(
        lambda: evaluation.evaluate_agreement_file(
            labels, level=level, gold_path=gold, task=task, question=question, format=fmt
        )
    )
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
    summary.add_row(
        "pairwise Cohen's kappa (mean weighted by shared items)",
        _fmt(result.pairwise_cohen_kappa),
    )
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
