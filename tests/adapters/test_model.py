"""The ``model`` kind: scikit-learn via joblib, TorchScript, and plain callables."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import joblib
import numpy as np
import numpy.typing as npt
import pytest
from sklearn.linear_model import LogisticRegression

from adapters.base import JobNotFound, LabelingVendor, VendorJob, VendorRejected, WorkItem
from adapters.model import ModelAdapter
from adapters.registry import get_adapter
from adapters.testing import VendorContract, toy_golden
from tests.needs import require_module


class Recorder:
    """A callable model that remembers every input it was given."""

    def __init__(self) -> None:
        self.inputs: list[npt.NDArray[np.float64]] = []

    def __call__(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        self.inputs.append(x.copy())
        e = np.exp(3 * x)
        return np.asarray(e / e.sum(axis=1, keepdims=True), dtype=np.float64)


class TestModelContract(VendorContract):
    @pytest.fixture
    def model(self) -> Recorder:
        return Recorder()

    @pytest.fixture
    def adapter(self, model: Recorder) -> LabelingVendor:
        return ModelAdapter("softmax", model=model, cost_per_item=0.001)

    @pytest.fixture
    def finish(self) -> Callable[[VendorJob], None]:
        return lambda _job: None

    @pytest.fixture
    def sent(self, model: Recorder) -> Callable[[], list[object]]:
        return lambda: [{"inputs": x.tolist()} for x in model.inputs]


def test_model_sees_only_the_item_features() -> None:
    golden = toy_golden()
    model = Recorder()
    adapter = ModelAdapter("m", model=model)
    adapter.submit(golden.batch())
    (x,) = model.inputs
    expected = np.array([i.data["features"] for i in golden.items])
    np.testing.assert_array_equal(x, expected)


def _fit(golden_n: int = 60) -> tuple[LogisticRegression, list[WorkItem], list[str]]:
    golden = toy_golden(n=golden_n)
    x = np.array([i.data["features"] for i in golden.items])
    y = [str(golden.gold[i.item_id]) for i in golden.items]
    return LogisticRegression().fit(x, y), list(golden.items), y


def test_joblib_estimator_matches_sklearn_predict_proba(tmp_path: Path) -> None:
    clf, items, _ = _fit()
    path = tmp_path / "clf.joblib"
    joblib.dump(clf, path)
    adapter = ModelAdapter("lr", path=path)
    classes = ["bird", "cat", "dog"][::-1]  # ontology order differs from classes_
    pred = adapter.predict_proba(items, classes)
    x = np.array([i.data["features"] for i in items])
    reference = clf.predict_proba(x)
    for j, name in enumerate(clf.classes_):
        np.testing.assert_allclose(
            pred.probabilities[:, classes.index(name)], reference[:, j], rtol=0, atol=1e-9
        )
    assert pred.predicted == list(clf.predict(x))
    np.testing.assert_allclose(pred.probabilities.sum(axis=1), 1.0, atol=1e-9)


def test_joblib_model_as_a_bakeoff_candidate(tmp_path: Path) -> None:
    clf, _, _ = _fit()
    path = tmp_path / "clf.joblib"
    joblib.dump(clf, path)
    adapter = get_adapter("model", vendor="lr", path=str(path), cost_per_item=0.002)
    golden = toy_golden()
    job = adapter.submit(golden.batch())
    results = adapter.fetch_results(job)
    accuracy = np.mean([a.label == golden.gold[a.item_id] for a in results])
    assert accuracy == 1.0  # the features are separable
    assert all(a.score is not None and a.score > 0.34 for a in results)
    assert all(a.cost == 0.002 and a.instructions_version == 3 for a in results)


def test_integer_classes_map_through_class_names(tmp_path: Path) -> None:
    golden = toy_golden(n=30)
    x = np.array([i.data["features"] for i in golden.items])
    y = [["cat", "dog", "bird"].index(str(golden.gold[i.item_id])) for i in golden.items]
    clf = LogisticRegression().fit(x, y)
    with pytest.raises(VendorRejected, match="class_names"):
        ModelAdapter("int", model=clf).submit(golden.batch())
    adapter = ModelAdapter("int", model=clf, class_names=["cat", "dog", "bird"])
    labels = [a.label for a in adapter.fetch_results(adapter.submit(golden.batch()))]
    assert labels == [golden.gold[i.item_id] for i in golden.items]


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated:DeprecationWarning")
def test_torchscript_model(tmp_path: Path) -> None:
    torch = require_module("torch")
    net = torch.nn.Linear(3, 3, bias=False)
    with torch.no_grad():
        net.weight.copy_(torch.eye(3) * 4)
    path = tmp_path / "net.pt"
    torch.jit.script(net).save(str(path))
    adapter = ModelAdapter("ts", path=path)
    golden = toy_golden()
    pred = adapter.predict_proba(golden.items, golden.ontology.class_names)
    x = torch.tensor([i.data["features"] for i in golden.items], dtype=torch.float32)
    reference = torch.softmax(net(x), dim=1).detach().numpy()
    np.testing.assert_allclose(pred.probabilities, reference, atol=1e-6)
    assert pred.predicted == [golden.gold[i.item_id] for i in golden.items]


def test_callable_by_reference() -> None:
    adapter = ModelAdapter("ref", callable_ref="numpy:asarray")
    items = [WorkItem(item_id="a", data={"features": [0.2, 0.8]})]
    pred = adapter.predict_proba(items, ["x", "y"])
    assert pred.predicted == ["y"]


def test_multilabel_uses_the_threshold() -> None:
    adapter = ModelAdapter("ml", model=lambda x: np.tile([0.7, 0.2, 0.55], (len(x), 1)))
    golden = toy_golden("multilabel", n=2)
    results = adapter.fetch_results(adapter.submit(golden.batch()))
    assert [a.label for a in results] == [["cat", "bird"], ["cat", "bird"]]


def test_pixel_arrays_are_flattened_for_sklearn() -> None:
    rng = np.random.default_rng(0)
    images = rng.random((40, 4, 4))
    y = (images.mean(axis=(1, 2)) > 0.5).astype(int)
    clf = LogisticRegression().fit(images.reshape(40, -1), y)
    items = [WorkItem(item_id=str(i), data={"pixels": images[i].tolist()}) for i in range(40)]
    adapter = ModelAdapter("px", model=clf, feature_key="pixels", class_names=["dark", "light"])
    pred = adapter.predict_proba(items, ["dark", "light"])
    np.testing.assert_allclose(
        pred.probabilities, clf.predict_proba(images.reshape(40, -1)), atol=1e-12
    )


def test_bad_inputs_name_the_item() -> None:
    adapter = ModelAdapter("m", model=Recorder())
    with pytest.raises(ValueError, match="'b' has no data\\['features'\\]"):
        adapter.predict_proba(
            [WorkItem(item_id="a", data={"features": [1.0]}), WorkItem(item_id="b", data={})],
            ["x"],
        )
    with pytest.raises(ValueError, match="different shapes"):
        adapter.predict_proba(
            [
                WorkItem(item_id="a", data={"features": [1.0]}),
                WorkItem(item_id="b", data={"features": [1.0, 2.0]}),
            ],
            ["x"],
        )


def test_loading_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="exactly one"):
        ModelAdapter("m")
    with pytest.raises(ValueError, match="does not exist"):
        ModelAdapter("m", path=tmp_path / "missing.joblib")
    joblib.dump({"not": "a model"}, tmp_path / "dict.joblib")
    with pytest.raises(ValueError, match="not a fitted classifier"):
        ModelAdapter("m", path=tmp_path / "dict.joblib")
    with pytest.raises(ValueError, match="module:function"):
        ModelAdapter("m", callable_ref="nocolon")


def test_jobs_from_another_process_are_not_found() -> None:
    golden = toy_golden(n=3)
    job = ModelAdapter("m", model=Recorder()).submit(golden.batch())
    with pytest.raises(JobNotFound, match="submit the items again"):
        ModelAdapter("m", model=Recorder()).fetch_results(job)


def test_predict_items_gives_one_prediction_per_item_in_the_models_form(tmp_path: Path) -> None:
    from sklearn.linear_model import LinearRegression

    items = [WorkItem(item_id=f"i{n}", data={"features": [float(n), 1.0]}) for n in range(4)]
    adapter = ModelAdapter("m", model=lambda xs: [sum(x) for x in xs], format="callable")
    assert adapter.predict_items(items) == [1.0, 2.0, 3.0, 4.0]
    assert adapter.predict_items([]) == []
    x = np.asarray([i.data["features"] for i in items])
    joblib.dump(LinearRegression().fit(x, 2 * x[:, 0]), tmp_path / "reg.joblib")
    regressor = ModelAdapter("r", path=tmp_path / "reg.joblib")
    assert regressor.predict_items(items) == pytest.approx([0.0, 2.0, 4.0, 6.0])
    with pytest.raises(ValueError, match="no predict_proba"):
        regressor.predict_proba(items, ["a", "b"])
    short = ModelAdapter("s", model=lambda xs: list(xs)[:1], format="callable")
    with pytest.raises(ValueError, match="returned 1 predictions for 4 items"):
        short.predict_items(items)
    with pytest.raises(ValueError, match="has no data\\['features'\\]"):
        adapter.predict_items([WorkItem(item_id="x", data={})])
