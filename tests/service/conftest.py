"""A small seeded bake-off that API tests of every service engineer can reuse.

``seeded`` builds, through the domain layer: a classification project (classes ``cat``,
``dog``, ``bird``), instructions v1, a golden set with six items and gold in version 1, a
second vendor next to ``key_vendor`` (the vendor key's vendor), and a ``draft`` bake-off with
both as candidates (``key_vendor`` is "Candidate A"). ``seed_bakeoff`` builds the same for any
project name and candidates (tests that need several projects call it once per project).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Session

import service.models as m
from service.core.config import get_settings
from service.domain import bakeoffs, golden_sets, projects, vendors
from service.domain.dispatch_results import forget_adapters
from service.domain.vendor_labels import add_vendor_labels

CLASSES = ("cat", "dog", "bird")
GOLD = {
    "img-1": "cat",
    "img-2": "dog",
    "img-3": "bird",
    "img-4": "cat",
    "img-5": "dog",
    "img-6": "cat",
}
META = {
    "img-1": "dim",
    "img-2": "dim",
    "img-3": "bright",
    "img-4": "bright",
    "img-5": "dim",
    "img-6": "bright",
}


@dataclass(frozen=True)
class Seed:
    """Ids of the seeded objects."""

    project_id: int
    instructions_id: int
    golden_set_id: int
    version: int
    version_id: int
    vendor_id: int  # the vendor key's vendor ("Candidate A")
    other_vendor_id: int  # "Candidate B"
    bakeoff_id: int
    gold: dict[str, str]
    lighting: dict[str, str]


def seed_bakeoff(
    session: Session,
    *,
    name: str,
    vendor_ids: list[int],
    gold: dict[str, str] | None = None,
    lighting: dict[str, str] | None = None,
) -> Seed:
    """Build a classification project ``name`` with a draft bake-off ``Q1 <name>``.

    Instructions v1, a golden set ``<name>-gold`` with one item per ``gold`` key (metadata
    ``lighting``) and its gold in version 1, and the bake-off with ``vendor_ids`` as candidates
    in alias order. ``vendor_ids`` needs at least two vendors (``Seed.other_vendor_id``).
    """
    gold = dict(GOLD if gold is None else gold)
    lighting = dict(META if lighting is None else lighting)
    project = projects.create_project(
        session=session,
        data=m.ProjectCreate(
            name=name,
            task_type="classification",
            ontology={"classes": [{"name": c} for c in CLASSES]},
        ),
    )
    assert project.id is not None
    instructions = projects.create_instructions(
        session=session,
        project_id=project.id,
        data=m.InstructionsVersionCreate(text="# Label the animal"),
    )
    golden = golden_sets.create_golden_set(
        session=session, data=m.GoldenSetCreate(name=f"{name}-gold", project_id=project.id)
    )
    assert golden.id is not None
    golden_sets.add_items(
        session=session,
        golden_set_id=golden.id,
        items=[
            m.GoldenItemCreate(key=k, data={"image": f"{k}.jpg"}, meta={"lighting": lighting[k]})
            for k in gold
        ],
    )
    version = golden_sets.create_version(session=session, golden_set_id=golden.id, note="first")
    golden_sets.set_gold_labels(
        session=session,
        golden_set_id=golden.id,
        version=version.version,
        labels=[m.GoldLabelCreate(item_key=k, value=v) for k, v in gold.items()],
    )
    assert version.id is not None and instructions.id is not None
    bakeoff = bakeoffs.create_bakeoff(
        session=session,
        data=m.BakeOffCreate(
            name=f"Q1 {name}",
            project_id=project.id,
            golden_set_version_id=version.id,
            instructions_version_id=instructions.id,
            vendor_ids=vendor_ids,
        ),
    )
    assert bakeoff.id is not None
    return Seed(
        project_id=project.id,
        instructions_id=instructions.id,
        golden_set_id=golden.id,
        version=version.version,
        version_id=version.id,
        vendor_id=vendor_ids[0],
        other_vendor_id=vendor_ids[1],
        bakeoff_id=bakeoff.id,
        gold=gold,
        lighting=lighting,
    )


@pytest.fixture
def seeded(session: Session, key_vendor: m.Vendor) -> Seed:
    """A classification bake-off with gold for six items and two candidate vendors."""
    other = vendors.create_vendor(
        session=session, data=m.VendorCreate(name="Other Vendor Ltd.", price_per_item=0.02)
    )
    assert other.id is not None and key_vendor.id is not None
    return seed_bakeoff(session, name="animals", vendor_ids=[key_vendor.id, other.id])


LabelGold = Callable[[int, int, dict[str, str], Collection[str], float], None]
LABELLED_AT = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


@pytest.fixture
def label_gold(session: Session) -> LabelGold:
    """``label_gold(bakeoff_id, vendor_id, gold, wrong, hours)``: a vendor answers every item.

    Its answers are the gold except ``"bird"`` on the ``wrong`` items, each completed
    ``hours`` after it started.
    """

    def label(
        bakeoff_id: int, vendor_id: int, gold: dict[str, str], wrong: Collection[str], hours: float
    ) -> None:
        add_vendor_labels(
            session=session,
            bakeoff_id=bakeoff_id,
            vendor_id=vendor_id,
            records=[
                m.VendorLabelCreate(
                    item_key=key,
                    value="bird" if key in wrong else value,
                    started_at=LABELLED_AT,
                    completed_at=LABELLED_AT + timedelta(hours=hours),
                )
                for key, value in gold.items()
            ],
        )

    return label


@dataclass(frozen=True)
class ServerFolders:
    """The server-side folders an operator configures (``BAKEOFF_MODEL_DIR``, ...)."""

    model_dir: Path
    vendor_files_dir: Path


@pytest.fixture
def server_folders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[ServerFolders]:
    """An operator's set-up: a model folder, a vendor-package folder, one entry-point model.

    ``identity`` is registered the way an operator installs a model package: a distribution
    on ``sys.path`` whose ``bakeoff.models`` entry point is ``numpy:asarray`` (items' features
    read as probabilities). Settings read from the environment (``get_settings()``) see the
    folders for the test's duration.
    """
    folders = ServerFolders(tmp_path / "models", tmp_path / "vendor-files")
    folders.model_dir.mkdir()
    dist = tmp_path / "site" / "toy_models-1.0.dist-info"
    dist.mkdir(parents=True)
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-models\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[bakeoff.models]\nidentity = numpy:asarray\n")
    monkeypatch.syspath_prepend(str(tmp_path / "site"))
    monkeypatch.setenv("BAKEOFF_MODEL_DIR", str(folders.model_dir))
    monkeypatch.setenv("BAKEOFF_VENDOR_FILES_DIR", str(folders.vendor_files_dir))
    get_settings.cache_clear()
    forget_adapters()
    yield folders
    get_settings.cache_clear()
    forget_adapters()


@pytest.fixture
def cli_database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A migrated SQLite file that the ``bakeoff`` commands (and ``get_engine()``) use."""
    from service.core.db import get_engine
    from service.core.migrations import upgrade_head

    monkeypatch.setenv("BAKEOFF_DATABASE_URL", f"sqlite:///{tmp_path / 'cli.db'}")
    get_settings.cache_clear()
    get_engine.cache_clear()
    upgrade_head(get_settings().database_url)
    yield
    get_engine().dispose()
    get_settings.cache_clear()
    get_engine.cache_clear()
