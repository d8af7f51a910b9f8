"""Bake-offs for the cross-door test (tests/test_one_truth.py): generated and the demo's.

A :class:`Case` is gold per item and each vendor's answers ``(item, annotator, value)``
in the service's JSON shapes; :func:`write_files` writes the same case as the files
``bakeoff evaluate`` reads (CSV, span JSON Lines, COCO).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import numpy as np
from sqlmodel import Session, select

import service.models as m
from service.demo.data import digits_golden_set, scenes_golden_set
from service.domain import bakeoffs, golden_sets, projects, vendors
from service.domain.vendor_labels import add_vendor_labels

__all__ = [
    "Answer",
    "Case",
    "GENERATORS",
    "Seeded",
    "demo_cases",
    "preference_sendings",
    "seed_case",
    "write_files",
]

Answer = tuple[str, str | None, Any]  # item, annotator, value
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@dataclass
class Case:
    """A bake-off: gold and each vendor's answers ``(item, annotator, value)``."""

    task: str
    classes: list[str]
    gold: dict[str, Any]
    vendors: dict[str, list[Answer]]
    sizes: dict[str, tuple[int, int]] = field(default_factory=dict)
    meta: dict[str, dict[str, str]] = field(default_factory=dict)
    # preference pairs as the dispatcher sends them: the bake-off's (swap_share,
    # repeat_share), and each vendor's answers to the second sendings (item's own frame;
    # only those of the items drawn for a repeat are stored). None: answers stored as given.
    sendings: tuple[float, float] | None = None
    repeats: dict[str, list[Answer]] = field(default_factory=dict)


# --------------------------------------------------------------------------- generated data


def _classification(rng: np.random.Generator, n: int, coverage: float) -> Case:
    classes = ["bird", "cat", "dog"]
    keys = [f"i{k:03d}" for k in range(n)]
    gold = {k: str(rng.choice(classes)) for k in keys}

    def answer(k: str, p: float) -> str:
        return gold[k] if rng.random() < p else str(rng.choice(classes))

    alpha: list[Answer] = [(k, None, answer(k, 0.85)) for k in keys if rng.random() < coverage]
    crowd: list[Answer] = [(k, w, answer(k, 0.7)) for k in keys for w in ("w1", "w2", "w3")]
    return Case("classification", classes, gold, {"alpha": alpha, "crowd": crowd})


def _multilabel(rng: np.random.Generator, n: int, coverage: float) -> Case:
    classes = ["a", "b", "c", "d"]
    keys = [f"i{k:03d}" for k in range(n)]

    def some() -> list[str]:
        return sorted(set(rng.choice(classes, int(rng.integers(1, 3)))))

    gold = {k: some() for k in keys}
    vendor: dict[str, list[Answer]] = {
        name: [(k, None, gold[k] if rng.random() < p else some()) for k in keys if rng.random() < c]
        for name, p, c in (("alpha", 0.8, coverage), ("beta", 0.6, 1.0))
    }
    return Case("multilabel", classes, gold, vendor)


def _spans(rng: np.random.Generator, n: int, coverage: float) -> Case:
    types = ["LOC", "ORG", "PER"]
    keys = [f"i{k:03d}" for k in range(n)]
    gold: dict[str, Any] = {}
    for k in keys:
        spans = []
        for slot in range(int(rng.integers(0, 4))):
            start = 20 * slot + int(rng.integers(0, 5))
            spans.append(
                {
                    "start": start,
                    "end": start + int(rng.integers(2, 8)),
                    "type": str(rng.choice(types)),
                }
            )
        gold[k] = spans

    def answer(spans: list[dict[str, Any]], p: float) -> list[dict[str, Any]]:
        out = [s if rng.random() < p else {**s, "end": s["end"] + 1} for s in spans]
        if rng.random() < 0.15:
            out.append({"start": 95, "end": 99, "type": "ORG"})
        return out

    vendor: dict[str, list[Answer]] = {
        name: [(k, None, answer(gold[k], p)) for k in keys if rng.random() < c]
        for name, p, c in (("alpha", 0.85, coverage), ("beta", 0.6, 1.0))
    }
    return Case("spans", types, gold, vendor)


def _detection(rng: np.random.Generator, n: int, _coverage: float) -> Case:
    classes = ["bus", "car"]
    keys = [str(k + 1) for k in range(n)]
    gold = {
        k: [
            {"category": str(rng.choice(classes)), "bbox": [30.0 * j + 5, 10.0, 20.0, 20.0]}
            for j in range(int(rng.integers(0, 4)))
        ]
        for k in keys
    }

    def answer(objs: list[dict[str, Any]], sd: float) -> list[dict[str, Any]]:
        out = [
            {
                **o,
                "bbox": [
                    o["bbox"][0] + float(np.round(abs(rng.normal(0, sd)), 2)),
                    10.0,
                    20.0,
                    20.0,
                ],
            }
            for o in objs
            if rng.random() < 0.9
        ]
        if rng.random() < 0.2:
            out.append({"category": "car", "bbox": [150.0, 150.0, 10.0, 10.0]})
        return out

    # a COCO results file answers every image, so every vendor answers every image here
    vendor: dict[str, list[Answer]] = {
        name: [(k, None, answer(gold[k], sd)) for k in keys]
        for name, sd in (("alpha", 2.0), ("beta", 6.0))
    }
    return Case("detection", classes, gold, vendor)


def _square(x: float, y: float, size: float) -> list[list[float]]:
    return [[x, y, x + size, y, x + size, y + size, x, y + size]]


def _segmentation(rng: np.random.Generator, n: int, _coverage: float) -> Case:
    keys = [str(k + 1) for k in range(n)]
    gold = {
        k: [
            {"category": "cell", "segmentation": _square(20.0 * j + 2, 4.0, 12.0)}
            for j in range(int(rng.integers(0, 3)))
        ]
        for k in keys
    }

    def answer(objs: list[dict[str, Any]]) -> list[dict[str, Any]]:
        shift = float(rng.choice([0.0, 1.0, 7.0]))
        return [
            {
                "category": "cell",
                "segmentation": _square(o["segmentation"][0][0] + shift, 4.0, 12.0),
            }
            for o in objs
        ]

    vendor: dict[str, list[Answer]] = {
        name: [(k, None, answer(gold[k])) for k in keys] for name in ("alpha", "beta")
    }
    return Case("segmentation", ["cell"], gold, vendor, sizes=dict.fromkeys(keys, (32, 80)))


def _keypoints(rng: np.random.Generator, n: int, _coverage: float) -> Case:
    keys = [str(k + 1) for k in range(n)]
    gold: dict[str, Any] = {}
    for k in keys:
        poses = []
        for j in range(int(rng.integers(0, 3))):
            x0 = 100.0 * j + 10
            pts = [
                [round(x0 + float(rng.uniform(0, 60)), 2), round(float(rng.uniform(10, 90)), 2), 2]
                for _ in range(17)
            ]
            poses.append(
                {
                    "category": "person",
                    "points": pts,
                    "bbox": [x0, 10.0, 60.0, 80.0],
                    "area": 4800.0,
                }
            )
        gold[k] = poses

    def answer(poses: list[dict[str, Any]], sd: float) -> list[dict[str, Any]]:
        out = [
            {
                "category": "person",
                "points": [
                    [
                        round(x + float(rng.normal(0, sd)), 2),
                        round(y + float(rng.normal(0, sd)), 2),
                        2,
                    ]
                    for x, y, _ in p["points"]
                ],
                "score": round(float(rng.uniform(0.1, 1.0)), 3),
            }
            for p in poses
            if rng.random() < 0.9
        ]
        if rng.random() < 0.2:
            out.append({"category": "person", "points": [[400.0, 400.0, 2]] * 17, "score": 0.5})
        return out

    vendor: dict[str, list[Answer]] = {
        name: [(k, None, answer(gold[k], sd)) for k in keys]
        for name, sd in (("alpha", 2.0), ("beta", 8.0))
    }
    return Case("keypoints", ["person"], gold, vendor)


def _preference(rng: np.random.Generator, n: int, coverage: float) -> Case:
    choices = ["A", "B", "tie"]
    keys = [f"i{k:03d}" for k in range(n)]
    gold = {k: str(rng.choice(choices, p=[0.45, 0.45, 0.1])) for k in keys}

    def answer(k: str, p: float) -> str:
        return gold[k] if rng.random() < p else str(rng.choice(choices))

    alpha: list[Answer] = [(k, None, answer(k, 0.8)) for k in keys if rng.random() < coverage]
    crowd: list[Answer] = [(k, w, answer(k, 0.7)) for k in keys for w in ("w1", "w2", "w3")]
    return Case("preference", choices, gold, {"alpha": alpha, "crowd": crowd})


_OTHER = {"A": ("B", "tie"), "B": ("A", "tie"), "tie": ("A", "B")}


def preference_sendings(rng: np.random.Generator, n: int, coverage: float) -> Case:
    """Pairs sent as the dispatcher sends them: half swapped, every pair twice (once in each
    order), with the lengths and compared models in the metadata. ``fickle`` prefers the
    longer reply and changes its mind on a third of the pairs seen again; ``crowd`` answers
    again alike, save one pair in twenty. Every preference metric is there to compare:
    position, length bias, self-consistency, the Bradley-Terry rank correlation."""
    choices = ["A", "B", "tie"]
    models = ["m1", "m2", "m3"]
    keys = [f"p{k:03d}" for k in range(n)]
    gold = {k: str(rng.choice(choices, p=[0.45, 0.45, 0.1])) for k in keys}
    meta: dict[str, dict[str, str]] = {}
    for k in keys:
        a, b = rng.choice(models, 2, replace=False)
        meta[k] = {
            "length_a": str(int(rng.integers(20, 400))),
            "length_b": str(int(rng.integers(20, 400))),
            "model_a": str(a),
            "model_b": str(b),
        }

    def answer(k: str, p: float, longer: float) -> str:
        if rng.random() < longer:
            return "A" if int(meta[k]["length_a"]) > int(meta[k]["length_b"]) else "B"
        return gold[k] if rng.random() < p else str(rng.choice(choices))

    def again(first: list[Answer], change: float) -> list[Answer]:
        return [
            (k, w, str(rng.choice(_OTHER[v])) if rng.random() < change else v) for k, w, v in first
        ]

    fickle: list[Answer] = [(k, None, answer(k, 0.8, 0.3)) for k in keys if rng.random() < coverage]
    crowd: list[Answer] = [(k, w, answer(k, 0.7, 0.0)) for k in keys for w in ("w1", "w2")]
    return Case(
        "preference",
        choices,
        gold,
        {"fickle": fickle, "crowd": crowd},
        meta=meta,
        sendings=(0.5, 1.0),
        repeats={"fickle": again(fickle, 1 / 3), "crowd": again(crowd, 0.05)},
    )


def _rating(rng: np.random.Generator, n: int, coverage: float) -> Case:
    criteria = ["fact", "help"]
    keys = [f"i{k:03d}" for k in range(n)]
    gold = {k: {c: int(rng.integers(1, 6)) for c in criteria} for k in keys}

    def answer(k: str, lenient: int) -> dict[str, int]:
        return {
            c: int(np.clip(r + lenient * (rng.random() < 0.4) + rng.integers(-1, 2), 1, 5))
            for c, r in gold[k].items()
        }

    alpha: list[Answer] = [(k, None, answer(k, 1)) for k in keys if rng.random() < coverage]
    crowd: list[Answer] = [(k, w, answer(k, 0)) for k in keys for w in ("w1", "w2", "w3")]
    meta = {k: {"scale_min": 1, "scale_max": 5} for k in keys}
    return Case("rating", criteria, gold, {"alpha": alpha, "crowd": crowd}, meta=meta)  # type: ignore[arg-type]


_WORDS = "the cat sat on a mat dog ran far away 21 Hello, world!".split()


def _transcription(rng: np.random.Generator, n: int, coverage: float) -> Case:
    keys = [f"u{k:03d}" for k in range(n)]
    gold = {k: " ".join(rng.choice(_WORDS, int(rng.integers(2, 9)))) for k in keys}

    def answer(k: str, p: float) -> str:
        words = [str(rng.choice(_WORDS)) if rng.random() < p else w for w in gold[k].split()]
        words = [w for w in words if rng.random() > p / 2] or ["x"]
        return " ".join(words)

    alpha: list[Answer] = [(k, None, answer(k, 0.1)) for k in keys if rng.random() < coverage]
    crowd: list[Answer] = [(k, w, answer(k, 0.25)) for k in keys for w in ("w1", "w2", "w3")]
    meta = {k: {"speaker": f"s{i % 2}"} for i, k in enumerate(keys)}
    return Case("transcription", [], gold, {"alpha": alpha, "crowd": crowd}, meta=meta)


GENERATORS = {
    "classification": _classification,
    "multilabel": _multilabel,
    "spans": _spans,
    "detection": _detection,
    "segmentation": _segmentation,
    "keypoints": _keypoints,
    "preference": _preference,
    "rating": _rating,
    "transcription": _transcription,
}


def demo_cases() -> list[Case]:
    rng = np.random.default_rng(7)
    digits = digits_golden_set(n_items=300)
    classes = list(digits.classes)
    gold = {k: str(v) for k, v in digits.gold.items()}
    swift: list[Answer] = [
        (k, None, v if rng.random() < 0.9 else str(rng.choice(classes))) for k, v in gold.items()
    ]
    team: list[Answer] = [
        (k, w, v if rng.random() < 0.8 else str(rng.choice(classes)))
        for k, v in gold.items()
        for w in ("ann-1", "ann-2", "ann-3")
    ]
    scenes = scenes_golden_set(n_items=40)
    # COCO files name images by integer id: item "scene-007" is image 8
    ids = {k: str(i + 1) for i, k in enumerate(scenes.gold)}
    boxes: dict[str, Any] = {
        ids[k]: [json.loads(b.model_dump_json(exclude_none=True)) for b in v]  # type: ignore[union-attr]
        for k, v in scenes.gold.items()
    }

    def shadow(b: dict[str, Any], px: float) -> dict[str, Any]:
        x, y, w, h = b["bbox"]
        return {**b, "bbox": [x, y, w + (px if b["category"] == "vehicle" else 0.0), h]}

    # "boxwise" draws every vehicle with its shadow (+4.8 px on the right edge)
    boxwise: list[Answer] = [(k, None, [shadow(b, 4.8) for b in v]) for k, v in boxes.items()]
    careful: list[Answer] = [
        (k, None, [shadow(b, 0.5) for b in v][: max(len(v) - 1, 1)]) for k, v in boxes.items()
    ]
    return [
        Case(
            "classification",
            classes,
            gold,
            {"swiftlabel": swift, "precisionworks": team},
            meta=digits.metadata,
        ),
        Case(
            "detection",
            list(scenes.classes),
            boxes,
            {"boxwise": boxwise, "careful": careful},
            meta={ids[k]: v for k, v in scenes.metadata.items()},
        ),
    ]


def write_files(case: Case, root: Path) -> tuple[Path, dict[str, Path]]:
    """Gold and one label file per vendor in the CLI's formats."""
    root.mkdir(parents=True, exist_ok=True)
    out: dict[str, Path] = {}
    if case.task in ("classification", "multilabel", "preference"):
        gold = root / "gold.csv"
        join = (lambda v: "|".join(v)) if case.task == "multilabel" else str
        gold.write_text(
            "item_id,label\n" + "".join(f"{k},{join(v)}\n" for k, v in case.gold.items())
        )
        for name, rows in case.vendors.items():
            crowd = any(w is not None for _, w, _ in rows)
            head = "item_id,annotator_id,label\n" if crowd else "item_id,label\n"
            body = "".join(
                f"{k},{w},{join(v)}\n" if crowd else f"{k},{join(v)}\n" for k, w, v in rows
            )
            out[name] = root / f"{name}.csv"
            out[name].write_text(head + body)
        return gold, out
    if case.task in ("rating", "transcription"):
        gold = root / "gold.jsonl"
        gold.write_text(
            "".join(
                json.dumps({"item_id": k, "label": v, "metadata": case.meta.get(k, {})}) + "\n"
                for k, v in case.gold.items()
            )
        )
        for name, rows in case.vendors.items():
            out[name] = root / f"{name}.jsonl"
            out[name].write_text(
                "".join(
                    json.dumps({"item_id": k, "label": v, "annotator_id": w}) + "\n"
                    for k, w, v in rows
                )
            )
        return gold, out
    if case.task == "spans":
        gold = root / "gold.jsonl"
        gold.write_text(
            "".join(json.dumps({"item_id": k, "label": v}) + "\n" for k, v in case.gold.items())
        )
        for name, rows in case.vendors.items():
            out[name] = root / f"{name}.jsonl"
            out[name].write_text(
                "".join(json.dumps({"item_id": k, "label": v}) + "\n" for k, _, v in rows)
            )
        return gold, out
    cats = {c: i + 1 for i, c in enumerate(case.classes)}
    if case.task == "keypoints":
        return _write_keypoints(case, root, cats)
    shape = "segmentation" if case.task == "segmentation" else "bbox"
    images = [
        {
            "id": int(k),
            "file_name": f"{k}.png",
            "height": case.sizes.get(k, (480, 640))[0],
            "width": case.sizes.get(k, (480, 640))[1],
        }
        for k in case.gold
    ]
    annotations: list[dict[str, Any]] = []
    for k, objs in case.gold.items():
        for o in objs:
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": int(k),
                    "category_id": cats[o["category"]],
                    shape: o[shape],
                    "iscrowd": 0,
                }
            )
    gold = root / "gold.json"
    gold.write_text(
        json.dumps(
            {
                "images": images,
                "categories": [{"id": i, "name": c} for c, i in cats.items()],
                "annotations": annotations,
            }
        )
    )
    for name, rows in case.vendors.items():
        results = [
            {"image_id": int(k), "category_id": cats[o["category"]], shape: o[shape]}
            for k, _, objs in rows
            for o in objs
        ]
        out[name] = root / f"{name}.json"
        out[name].write_text(json.dumps(results))
    return gold, out


def _write_keypoints(case: Case, root: Path, cats: dict[str, int]) -> tuple[Path, dict[str, Path]]:
    """COCO keypoints gold and one keypoint results array per vendor."""
    out: dict[str, Path] = {}
    images = [{"id": int(k), "file_name": k, "height": 480, "width": 640} for k in case.gold]
    annotations = [
        {
            "id": i,
            "image_id": int(k),
            "category_id": cats[o["category"]],
            "keypoints": [v for p in o["points"] for v in p],
            "num_keypoints": sum(1 for p in o["points"] if p[2] > 0),
            "bbox": o["bbox"],
            "area": o["area"],
            "iscrowd": 0,
        }
        for i, (k, o) in enumerate(((k, o) for k, objs in case.gold.items() for o in objs), start=1)
    ]
    gold = root / "gold.json"
    gold.write_text(
        json.dumps(
            {
                "images": images,
                "categories": [
                    {"id": i, "name": c, "keypoints": [f"k{j}" for j in range(17)]}
                    for c, i in cats.items()
                ],
                "annotations": annotations,
            }
        )
    )
    for name, rows in case.vendors.items():
        results = [
            {
                "image_id": int(k),
                "category_id": cats[o["category"]],
                "keypoints": [v for p in o["points"] for v in p],
                "score": o["score"],
            }
            for k, _, objs in rows
            for o in objs
        ]
        out[name] = root / f"{name}.json"
        out[name].write_text(json.dumps(results))
    return gold, out


# --------------------------------------------------------------------------- stored


@dataclass(frozen=True)
class Seeded:
    """A stored case: its bake-off and the service's vendor names."""

    bakeoff_id: int
    names: dict[str, str]  # service vendor name -> case vendor name


def _item_data(case: Case, key: str) -> dict[str, Any]:
    """An item's data as an import of the CLI's gold file stores it: its size and, for the
    COCO task types, its image id (COCO AP visits images in id order, as the CLI does)."""
    data: dict[str, Any] = {}
    if key in case.sizes:
        data.update(height=case.sizes[key][0], width=case.sizes[key][1])
    if case.task in ("detection", "segmentation", "keypoints"):
        data["coco_id"] = int(key)
    return data


def seed_case(session: Session, case: Case) -> Seeded:
    """Store ``case`` through the domain layer: project, gold, vendors, a bake-off, labels."""
    tag = uuid.uuid4().hex[:8]
    project = projects.create_project(
        session=session,
        data=m.ProjectCreate(
            name=f"{case.task}-{tag}",
            task_type=case.task,  # type: ignore[arg-type]
            ontology={"classes": [{"name": c} for c in case.classes]},
        ),
    )
    assert project.id is not None
    instructions = projects.create_instructions(
        session=session, project_id=project.id, data=m.InstructionsVersionCreate(text="label")
    )
    golden = golden_sets.create_golden_set(
        session=session, data=m.GoldenSetCreate(name=f"gold-{tag}", project_id=project.id)
    )
    assert golden.id is not None and instructions.id is not None
    golden_sets.add_items(
        session=session,
        golden_set_id=golden.id,
        items=[
            m.GoldenItemCreate(
                key=k,
                data=_item_data(case, k),
                meta=case.meta.get(k, {}),
            )
            for k in case.gold
        ],
    )
    version = golden_sets.create_version(session=session, golden_set_id=golden.id)
    golden_sets.set_gold_labels(
        session=session,
        golden_set_id=golden.id,
        version=version.version,
        labels=[m.GoldLabelCreate(item_key=k, value=v) for k, v in case.gold.items()],
    )
    names: dict[str, str] = {}
    ids: dict[str, int] = {}
    for i, name in enumerate(case.vendors):
        vendor = vendors.create_vendor(
            session=session,
            data=m.VendorCreate(name=f"{name}-{tag}", price_per_item=0.01 * (i + 1)),
        )
        assert vendor.id is not None
        names[vendor.name] = name
        ids[name] = vendor.id
    assert version.id is not None
    bakeoff = bakeoffs.create_bakeoff(
        session=session,
        data=m.BakeOffCreate(
            name=f"bake-off {tag}",
            project_id=project.id,
            golden_set_version_id=version.id,
            instructions_version_id=instructions.id,
            vendor_ids=list(ids.values()),
        ),
    )
    assert bakeoff.id is not None
    sent: dict[tuple[int, str, int], bool] = {}  # (vendor, item, repeat) -> shown swapped
    if case.sendings is not None:
        bakeoff.swap_share, bakeoff.repeat_share = case.sendings
        session.add(bakeoff)
        session.commit()
        bakeoffs.create_tasks(session=session, bakeoff_id=bakeoff.id)
        rows_sent = session.exec(
            select(m.Task, m.GoldenItem)
            .where(m.Task.bakeoff_id == bakeoff.id)
            .where(m.GoldenItem.id == m.Task.item_id)
        ).all()
        sent = {(t.vendor_id, i.key, t.repeat): t.swapped for t, i in rows_sent}
    sendings: list[tuple[Literal[0, 1], dict[str, list[Answer]]]] = [
        (0, case.vendors),
        (1, case.repeats),
    ]
    for repeat, answers in sendings:
        for name, rows in answers.items():
            vendor_id = ids[name]
            if repeat:  # only the pairs drawn for a second sending come back twice
                rows = [r for r in rows if (vendor_id, r[0], 1) in sent]
            if not rows:
                continue
            add_vendor_labels(
                session=session,
                bakeoff_id=bakeoff.id,
                vendor_id=vendor_id,
                records=[
                    m.VendorLabelCreate(
                        item_key=k,
                        # answered in the order shown; the service turns it back
                        value=_FLIP[v] if sent.get((vendor_id, k, repeat)) else v,
                        annotator_id=w,
                        started_at=T0,
                        completed_at=T0 + timedelta(minutes=5 + 7 * (j % 11)),
                    )
                    for j, (k, w, v) in enumerate(rows)
                ],
                repeat=repeat,
            )
    return Seeded(bakeoff.id, names)


_FLIP = {"A": "B", "B": "A", "tie": "tie"}
