"""``bakeoff demo`` end to end: the same API, queue and adapters a deployment uses.

The demo starts three processes on localhost, the way a real deployment runs them:
the vendor simulator (three simulated vendors speaking the HTTP vendor protocol), the
API (uvicorn) and a dispatch worker (Huey on SQLite). Everything else goes through the
REST API: projects, instructions, golden sets, vendors, bake-offs, runs, progress and
disagreement flags. Reports are rendered from the stored results, as ``bakeoff report``
does.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.table import Table
from sqlmodel import Session

import service.models as m
from adapters.simulator import SimulatorProcess
from reports.defaults import DEFAULT_RANKING_WEIGHTS
from reports.render import render_html, render_json
from reports.results import Report
from service.cli.run import show_progress
from service.core.db import create_db_engine
from service.core.migrations import upgrade_head
from service.demo.data import DemoGoldenSet, digits_golden_set, scenes_golden_set
from service.demo.pairs import pairs_golden_set, ratings_golden_set
from service.demo.vendors import simulator_config, train_digit_model, vendor_requests
from service.domain.api_keys import create_api_key
from service.domain.dispatch import RunProgress
from service.domain.reporting import bakeoff_report
from service.stack import LocalStack

__all__ = ["DemoOutcome", "run_demo"]

_INSTRUCTIONS = {
    "classification": (
        "# Which digit is this?\n\nChoose the digit 0-9 that the writer meant. If a stroke is "
        "ambiguous, pick the digit the overall shape suggests; do not skip items."
    ),
    "detection": (
        "# Draw a box around every vehicle, pedestrian and sign\n\nBoxes are tight around the "
        "visible object. **Do not include shadows or motion trails** in a vehicle's box. Label "
        "objects in dim scenes too."
    ),
    "preference": (
        "# Which reply answers the prompt better?\n\nPick the reply that is correct. If both "
        "are correct, or both wrong, choose **tie**. Length and tone do not matter, and "
        "neither does which reply is shown first."
    ),
    "rating": (
        "# Rate the reply on each criterion, 1 (worst) to 5 (best)\n\n**correctness**: is the "
        "answer right? **helpfulness**: does it answer the prompt directly, without filler? "
        "Keep 5 for replies that could not be improved."
    ),
}


@dataclass(frozen=True)
class DemoOutcome:
    """Where the demo left its results."""

    workdir: Path
    database_url: str
    reports: dict[str, Path]
    bakeoff_ids: dict[str, int]
    keys: dict[str, str]
    seconds: float


@contextmanager
def _services(workdir: Path, database_url: str) -> Iterator[LocalStack]:
    stack = LocalStack.prepare(
        workdir,
        database_url,
        environment="dev",
        settings={
            "BAKEOFF_DISPATCH_BATCH_SIZE": "50",
            "BAKEOFF_DISPATCH_SLICE_S": "5",
            # The simulator compresses hours of work into milliseconds: its vendors report
            # simulated completion times, hours ahead of the wall clock.
            "BAKEOFF_VENDOR_CLOCK_SKEW_S": str(30 * 86_400),
        },
    )
    with stack:
        stack.start_api()
        stack.start_worker(workers=4)
        # Generous: on a loaded 2-core machine importing the app alone can take a while.
        stack.wait_ready(timeout_s=240)
        yield stack


class _Api:
    """A thin JSON client that fails loudly with the API's own error message."""

    def __init__(self, url: str, key: str) -> None:
        self._client = httpx.Client(base_url=url, headers={"X-API-Key": key}, timeout=120)

    def call(self, method: str, path: str, body: Any = None) -> Any:
        answer = self._client.request(method, path, json=body)
        if answer.status_code >= 300:
            raise RuntimeError(f"{method} {path} -> {answer.status_code}: {answer.text[:500]}")
        return answer.json() if answer.content else None

    def close(self) -> None:
        self._client.close()


@dataclass(frozen=True)
class _Pinned:
    """A project with its pinned instructions and golden-set versions."""

    project_id: int
    instructions_id: int
    version_id: int
    name: str


def _create_project(api: _Api, golden: DemoGoldenSet) -> _Pinned:
    """Project, instructions v1 and a golden set whose version 1 holds the expert's labels."""
    project = api.call(
        "POST",
        "/projects",
        {
            "name": golden.name,
            "task_type": golden.task_type,
            "ontology": {
                "classes": [{"name": c} for c in golden.classes],
                "ordinal": False,
                **({"rating_scale": list(golden.rating_scale)} if golden.rating_scale else {}),
            },
        },
    )
    instructions = api.call(
        "POST",
        f"/projects/{project['id']}/instructions",
        {"text": _INSTRUCTIONS[golden.task_type]},
    )
    golden_set = api.call(
        "POST", "/golden-sets", {"name": f"{golden.name} gold", "project_id": project["id"]}
    )
    api.call(
        "POST",
        f"/golden-sets/{golden_set['id']}/items",
        [
            {"key": item.item_id, "data": item.data, "meta": golden.metadata.get(item.item_id, {})}
            for item in golden.items
        ],
    )
    version = api.call("POST", f"/golden-sets/{golden_set['id']}/versions", {"note": "expert"})
    api.call(
        "POST",
        f"/golden-sets/{golden_set['id']}/versions/{version['version']}/labels",
        {"labels": [{"item_key": key, "value": _jsonable(v)} for key, v in golden.gold.items()]},
    )
    return _Pinned(
        project_id=int(project["id"]),
        instructions_id=int(instructions["id"]),
        version_id=int(version["id"]),
        name=golden.name,
    )


def _create_bakeoff(
    api: _Api,
    pinned: _Pinned,
    quarter: str,
    vendor_ids: list[int],
    *,
    constraints: dict[str, float],
) -> int:
    bakeoff = api.call(
        "POST",
        "/bakeoffs",
        {
            "name": f"{pinned.name}: {quarter} vendor bake-off",
            "project_id": pinned.project_id,
            "golden_set_version_id": pinned.version_id,
            "instructions_version_id": pinned.instructions_id,
            "vendor_ids": vendor_ids,
            "ranking_weights": dict(DEFAULT_RANKING_WEIGHTS),  # the one documented default
            "constraints": constraints,
            "production_volume": 100_000,
        },
    )
    return int(bakeoff["id"])


def _run_bakeoffs(
    api: _Api, stack: LocalStack, console: Console, bakeoff_ids: dict[str, int]
) -> None:
    """Start every bake-off, then follow each one's per-vendor progress until it settles."""
    for bakeoff_id in bakeoff_ids.values():
        api.call("POST", f"/bakeoffs/{bakeoff_id}/run")
    for name, bakeoff_id in bakeoff_ids.items():
        console.print(f"Running the {name} bake-off (id {bakeoff_id})")
        final = show_progress(
            lambda b=bakeoff_id: RunProgress.model_validate(  # type: ignore[misc]
                api.call("GET", f"/bakeoffs/{b}/progress")
            ),
            console=console,
            poll_s=0.3,
            timeout_s=150,
        )
        if not final.done:
            raise RuntimeError(f"the {name} run did not finish:\n{stack.log('worker')}")


def _jsonable(value: Any) -> Any:
    if isinstance(value, list):
        return [v.model_dump(mode="json") if hasattr(v, "model_dump") else v for v in value]
    return value


def _ranking_table(title: str, report: Report) -> Table:
    """The report's ranking rows as printed; every number is the report's (engine's)."""
    table = Table(title=title, title_justify="left")
    main = f"{report.main_metric}, all items (95% CI)"
    for column in ("rank", "vendor", "score", main, "p95 latency", "$/item"):
        table.add_column(column, justify="left" if column == "vendor" else "right")
    for row in report.ranking.systems:
        accuracy = row.accuracy
        interval = (
            f" [{accuracy.low:.3f}, {accuracy.high:.3f}]"
            if accuracy.low is not None and accuracy.high is not None
            else ""
        )
        latency = row.p95_latency_s.value if row.p95_latency_s is not None else None
        cost = row.cost_per_item.value if row.cost_per_item is not None else None
        score = row.score.value if row.score is not None else None
        rank = str(row.rank) if row.rank is not None else row.status.replace("_", " ")
        if row.tie_group is not None:
            rank += f" (group {row.tie_group})"
        table.add_row(
            rank,
            row.name,
            f"{score:.3f}" if score is not None else "-",
            f"{accuracy.value:.3f}{interval}" if accuracy.value is not None else "-",
            f"{latency / 3600:.1f} h" if latency is not None else "-",
            f"{cost:.4f}" if cost is not None else "-",
        )
    return table


def run_demo(
    workdir: Path,
    *,
    console: Console,
    n_digits: int = 300,
    n_scenes: int = 60,
    n_pairs: int = 120,
    n_ratings: int = 120,
    seed: int = 7,
) -> DemoOutcome:
    """Run the whole demo in ``workdir`` (wiped first) and return where its results are."""
    started = time.monotonic()
    workdir = workdir.resolve()
    if workdir.exists():
        shutil.rmtree(workdir)
    workdir.mkdir(parents=True)
    database_url = f"sqlite:///{(workdir / 'bakeoff.db').resolve()}"

    with console.status("Building golden sets (digits, scenes, replies) and the model candidate"):
        digits = digits_golden_set(n_items=n_digits, seed=seed)
        scenes = scenes_golden_set(n_items=n_scenes, seed=seed + 4)
        pairs = pairs_golden_set(n_items=n_pairs, seed=seed + 8)
        ratings = ratings_golden_set(n_items=n_ratings, seed=seed + 12)
        model_path = train_digit_model(
            workdir / "models" / "digit-model.joblib", n_golden=n_digits, seed=seed
        )
        upgrade_head(database_url)
        engine = create_db_engine(database_url)
        keys: dict[str, str] = {}
        with Session(engine) as session:
            for role in ("admin", "lead", "qa", "viewer"):
                created = create_api_key(
                    session=session, data=m.ApiKeyCreate(name=f"demo-{role}", role=role)
                )
                keys[role] = created.key
        engine.dispose()
    console.print(
        f"[green]✓[/] golden sets: {len(digits.items)} digits, {len(scenes.items)} scenes, "
        f"{len(pairs.items)} reply pairs, {len(ratings.items)} rated replies"
    )

    oracle = {**{k: _jsonable(v) for k, v in digits.gold.items()}}
    oracle.update({k: _jsonable(v) for k, v in scenes.gold.items()})
    # a pair's truth names its response A, so the simulator judges swapped pairs by content
    first = {item.item_id: item.data["response_a"] for item in pairs.items}
    oracle.update({k: {"label": v, "response_a": first[k]} for k, v in pairs.gold.items()})
    oracle.update(ratings.gold)
    with (
        console.status("Starting the vendor simulator, the API and a worker"),
        SimulatorProcess(
            simulator_config(), oracle, workdir=workdir / "simulator", startup_timeout_s=120
        ) as sim,
        _services(workdir, database_url) as stack,
    ):
        console.print(f"[green]✓[/] simulator at {sim.url}, API at {stack.api_url}")
        api = _Api(stack.api_url, keys["admin"])
        try:
            vendors = {
                body["name"]: int(api.call("POST", "/vendors", body)["id"])
                for body in vendor_requests(sim.url, model_path, quarter="Q3")
            }
            humans = [vendors[n] for n in ("swiftlabel", "boxwise", "precisionworks")]
            digit_project = _create_project(api, digits)
            scene_project = _create_project(api, scenes)
            pair_project = _create_project(api, pairs)
            rating_project = _create_project(api, ratings)
            digit_constraints = {"min_accuracy": 0.9, "max_p95_latency_h": 72}
            # Last quarter's bake-off first: the vendors as they were then (their Q3
            # simulator profiles), so the report can show each vendor's trend.
            last_quarter = {
                "digits, Q3": _create_bakeoff(
                    api,
                    digit_project,
                    "Q3",
                    [*humans, vendors["digit-model"]],
                    constraints=digit_constraints,
                )
            }
            _run_bakeoffs(api, stack, console, last_quarter)
            for body in vendor_requests(sim.url, model_path, quarter="Q4"):
                api.call("PATCH", f"/vendors/{vendors[str(body['name'])]}", body)
            bakeoff_ids = {
                "digits": _create_bakeoff(
                    api,
                    digit_project,
                    "Q4",
                    [*humans, vendors["digit-model"]],
                    constraints=digit_constraints,
                ),
                "scenes": _create_bakeoff(
                    api,
                    scene_project,
                    "Q4",
                    humans,
                    constraints={"min_accuracy": 0.85, "max_cost_per_item": 0.5},
                ),
                # half of each vendor's pairs go out swapped: position bias is measured
                "replies": _create_bakeoff(
                    api, pair_project, "Q4", humans, constraints={"min_accuracy": 0.7}
                ),
                # precisionworks' raters are lenient: the verdict names it per criterion
                "ratings": _create_bakeoff(
                    api, rating_project, "Q4", humans, constraints={"min_accuracy": 0.8}
                ),
            }
            _run_bakeoffs(api, stack, console, bakeoff_ids)
            with console.status("Flagging disagreements for QA review"):
                features = {item.item_id: item.data["features"] for item in digits.items}
                digit_flags = api.call(
                    "POST",
                    f"/review/bakeoffs/{bakeoff_ids['digits']}/flags",
                    {"features": features},
                )
                scene_flags = api.call(
                    "POST", f"/review/bakeoffs/{bakeoff_ids['scenes']}/flags", {}
                )
                pair_flags = api.call(
                    "POST", f"/review/bakeoffs/{bakeoff_ids['replies']}/flags", {}
                )
                rating_flags = api.call(
                    "POST", f"/review/bakeoffs/{bakeoff_ids['ratings']}/flags", {}
                )
            console.print(
                f"[green]✓[/] flags: {sum(digit_flags['open_by_reason'].values())} on digits, "
                f"{sum(scene_flags['open_by_reason'].values())} on scenes, "
                f"{sum(pair_flags['open_by_reason'].values())} on reply pairs, "
                f"{sum(rating_flags['open_by_reason'].values())} on rated replies"
            )
            notes = [digit_flags, scene_flags, pair_flags, rating_flags]
            for note in [n for flags in notes for n in flags.get("notes", [])]:
                console.print(f"  [yellow]note:[/] {note}", markup=True, highlight=False)
        finally:
            api.close()

    reports: dict[str, Path] = {}
    engine = create_db_engine(database_url)
    try:
        with Session(engine) as session:
            for name, bakeoff_id in bakeoff_ids.items():
                with console.status(f"Ranking and writing the {name} report"):
                    report = bakeoff_report(session=session, bakeoff_id=bakeoff_id, seed=seed)
                    path = workdir / f"report-{name}.html"
                    render_html(report, path)
                    render_json(report, workdir / f"report-{name}.json")
                reports[name] = path
                console.print(_ranking_table(report.title, report))
                for sentence in report.ranking.summary:
                    console.print(f"  {sentence}")
                for warning in report.trend_warnings:
                    console.print(f"  [yellow]Trend:[/] {warning.message}")
    finally:
        engine.dispose()
    return DemoOutcome(
        workdir=workdir,
        database_url=database_url,
        reports=reports,
        bakeoff_ids=bakeoff_ids,
        keys=keys,
        seconds=time.monotonic() - started,
    )
