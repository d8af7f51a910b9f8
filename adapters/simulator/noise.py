"""How a simulated annotator answers one item, given the truth: pure, seeded functions.

Every answer is a deterministic function of the vendor's seed, the item id and the
annotator id, so a resubmitted batch (or a restarted simulator) gives the same labels.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from adapters.base import Box, Keypoints, LabelValue, Mask, Span, TaskType
from adapters.simulator.config import BoxBias, OracleTruth, PreferenceTruth, SimulatedVendor

__all__ = [
    "Answer",
    "annotator_skills",
    "pair_content",
    "pick_annotators",
    "simulate_answer",
    "simulate_repeat",
    "sample_latency",
]


@dataclass(frozen=True)
class Answer:
    """One simulated annotation before it is put on the wire."""

    label: LabelValue
    score: float
    n_labels: int


def _rng(vendor: SimulatedVendor, *parts: str) -> random.Random:
    return random.Random(":".join((str(vendor.seed), vendor.name, *parts)))


def annotator_skills(vendor: SimulatedVendor) -> dict[str, float]:
    """Each annotator's accuracy offset, N(0, skill_spread), keyed by annotator id."""
    rng = _rng(vendor, "skills")
    return {
        f"{vendor.name}-a{i}": rng.gauss(0.0, vendor.annotators.skill_spread)
        if vendor.annotators.skill_spread > 0
        else 0.0
        for i in range(vendor.annotators.count)
    }


def pick_annotators(vendor: SimulatedVendor, item_id: str) -> list[str]:
    """The annotators who label ``item_id``."""
    pool = sorted(annotator_skills(vendor))
    k = min(vendor.annotators.per_item, len(pool))
    return sorted(_rng(vendor, "pick", item_id).sample(pool, k))


def sample_latency(vendor: SimulatedVendor, item_id: str, annotator: str) -> float:
    """Simulated seconds ``annotator`` spends on ``item_id``."""
    spec = vendor.latency
    rng = _rng(vendor, "latency", item_id, annotator)
    if spec.distribution == "constant" or spec.mean_s == 0:
        return spec.mean_s
    if spec.distribution == "uniform":
        return max(0.0, rng.uniform(spec.mean_s - spec.sigma, spec.mean_s + spec.sigma))
    if spec.distribution == "exponential":
        return rng.expovariate(1.0 / spec.mean_s)
    mu = math.log(spec.mean_s) - spec.sigma**2 / 2  # so that the mean is mean_s
    return rng.lognormvariate(mu, spec.sigma)


def _accuracy(vendor: SimulatedVendor, cls: str, skill: float) -> float:
    noise = vendor.per_class.get(cls)
    base = noise.accuracy if noise is not None else vendor.accuracy
    return min(1.0, max(0.0, base + skill))


def _answer_class(
    vendor: SimulatedVendor, true: str, classes: list[str], skill: float, rng: random.Random
) -> tuple[str, float]:
    acc = _accuracy(vendor, true, skill)
    score = min(1.0, max(0.0, rng.gauss(acc, 0.05)))
    if rng.random() < acc:
        return true, score
    noise = vendor.per_class.get(true)
    weights = {c: w for c, w in (noise.confuse_with if noise else {}).items() if c != true}
    if not weights:
        weights = {c: 1.0 for c in classes if c != true}
    if not weights:
        return true, score
    names = sorted(weights)
    return rng.choices(names, weights=[weights[n] for n in names])[0], score


def _distort(
    bbox: tuple[float, float, float, float], bias: BoxBias, rng: random.Random
) -> tuple[float, float, float, float]:
    x, y, w, h = bbox
    cx, cy = x + w / 2 + bias.dx * w, y + h / 2 + bias.dy * h
    nw, nh = w * bias.width_scale, h * bias.height_scale
    if bias.jitter > 0:
        nw = max(1.0, nw * (1 + rng.gauss(0, bias.jitter)))
        nh = max(1.0, nh * (1 + rng.gauss(0, bias.jitter)))
        cx += rng.gauss(0, bias.jitter) * w
        cy += rng.gauss(0, bias.jitter) * h
    return (round(cx - nw / 2, 2), round(cy - nh / 2, 2), round(nw, 2), round(nh, 2))


def _poisson(rate: float, rng: random.Random) -> int:
    # Knuth; rates here are small.
    limit, k, p = math.exp(-rate), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def simulate_answer(
    vendor: SimulatedVendor,
    *,
    item_id: str,
    data: dict[str, object],
    truth: OracleTruth | None,
    task_type: TaskType,
    classes: list[str],
    annotator: str,
) -> Answer:
    """Simulate ``annotator``'s answer for one item.

    Items missing from the oracle (``truth=None``) get a uniform guess, as a vendor
    labeling an item it knows nothing about would.
    """
    rng = _rng(vendor, "answer", item_id, annotator)
    skill = annotator_skills(vendor).get(annotator, 0.0)
    if task_type == "classification":
        if not isinstance(truth, str):
            return Answer(rng.choice(classes), 1.0 / max(1, len(classes)), 1)
        label, score = _answer_class(vendor, truth, classes, skill, rng)
        return Answer(label, score, 1)
    if task_type == "multilabel":
        true_set = [t for t in truth if isinstance(t, str)] if isinstance(truth, list) else []
        chosen: set[str] = set()
        for cls in true_set:
            if rng.random() < vendor.miss_rate:
                continue
            chosen.add(_answer_class(vendor, cls, classes, skill, rng)[0])
        for _ in range(_poisson(vendor.false_positive_rate, rng)):
            chosen.add(rng.choice(classes))
        return Answer(sorted(chosen), _accuracy(vendor, "", skill), len(chosen))
    if task_type == "preference":
        return _preference(vendor, data, truth, skill, rng)
    if isinstance(truth, PreferenceTruth):
        truth = truth.label
    if task_type == "rating":
        return _rating(vendor, data, truth, classes, rng)
    if task_type == "transcription":
        return _transcription(vendor, truth, rng)
    if task_type == "detection":
        return _detection(vendor, data, truth, classes, skill, rng)
    if task_type == "segmentation":
        return _segmentation(vendor, truth, classes, skill, rng)
    if task_type == "keypoints":
        return _keypoints(vendor, truth, skill, rng)
    return _spans(vendor, data, truth, classes, skill, rng)


def pair_content(data: dict[str, object]) -> tuple[str, frozenset[str]] | None:
    """What makes a preference pair the same pair in either order: its prompt and the set
    of its two responses (``None``: not a pair of texts)."""
    prompt, a, b = data.get("prompt"), data.get("response_a"), data.get("response_b")
    if not (isinstance(prompt, str) and isinstance(a, str) and isinstance(b, str)):
        return None
    return prompt, frozenset((a, b))


def simulate_repeat(
    vendor: SimulatedVendor,
    *,
    first_id: str,
    item_id: str,
    data: dict[str, object],
    truth: OracleTruth | None,
    annotator: str,
) -> Answer:
    """``annotator``'s answer to a pair seen before under ``first_id`` (sent again, maybe
    in the other order, under ``item_id``).

    The annotator judges it as the first time, from its content in the order shown (the
    same draws as for ``first_id``); then with chance ``inconsistency`` changes their mind
    to another answer. With position bias or noise on ties the two answers may also differ
    after un-swapping, as a real annotator's would.
    """
    first = simulate_answer(
        vendor,
        item_id=first_id,
        data=data,
        truth=truth,
        task_type="preference",
        classes=["A", "B", "tie"],
        annotator=annotator,
    )
    rng = _rng(vendor, "repeat", item_id, annotator)
    if rng.random() >= vendor.inconsistency:
        return first
    label = rng.choice([c for c in ("A", "B", "tie") if c != first.label])
    return Answer(label, first.score, 1)


def _keypoints(
    vendor: SimulatedVendor, truth: LabelValue | None, skill: float, rng: random.Random
) -> Answer:
    """Each true pose kept unless missed, every labelled point jittered by a Gaussian whose
    SD is ``keypoint_jitter`` times the pose's size (the square root of its area)."""
    poses = [p for p in truth if isinstance(p, Keypoints)] if isinstance(truth, list) else []
    out: list[Keypoints] = []
    for pose in poses:
        if rng.random() < vendor.miss_rate:
            continue
        seen = [p for p in pose.points if p[2] > 0]
        if pose.area is not None:
            size = math.sqrt(max(pose.area, 0.0))
        elif seen:
            xs, ys = [p[0] for p in seen], [p[1] for p in seen]
            size = math.sqrt(max(xs) - min(xs)) * math.sqrt(max(ys) - min(ys))
        else:
            size = 0.0
        sd = vendor.keypoint_jitter * max(size, 1.0)
        points = tuple(
            (round(x + rng.gauss(0, sd), 2), round(y + rng.gauss(0, sd), 2), v)
            if v > 0
            else (0.0, 0.0, 0.0)
            for x, y, v in pose.points
        )
        out.append(
            Keypoints(
                category=pose.category,
                points=points,
                score=round(_accuracy(vendor, pose.category, skill), 4),
            )
        )
    return Answer(out, _accuracy(vendor, "", skill), len(out))


def _shown_truth(data: dict[str, object], truth: OracleTruth | None) -> str | None:
    """The truth in the frame the pair was shown in (``A`` = the response shown first).

    With a :class:`PreferenceTruth` a pair sent swapped (its first response is the item's
    response B) is recognised by content; a bare ``A``/``B``/``tie`` is taken as shown.
    """
    if isinstance(truth, PreferenceTruth):
        swapped = data.get("response_a") != truth.response_a and (
            data.get("response_b") == truth.response_a
        )
        return {"A": "B", "B": "A"}.get(truth.label, truth.label) if swapped else truth.label
    return truth if isinstance(truth, str) and truth in ("A", "B", "tie") else None


def _preference(
    vendor: SimulatedVendor,
    data: dict[str, object],
    truth: OracleTruth | None,
    skill: float,
    rng: random.Random,
) -> Answer:
    """A/B/tie in the frame the pair was shown in, with the vendor's planted biases.

    The vendor never learns whether a pair was swapped: ``A`` is the response shown first
    (``data["response_a"]``), and the service turns the answer back to the item's frame.
    A share ``position_bias`` of answers goes to the response shown first, then a share
    ``length_bias`` to the longer one; the rest is right with the vendor's accuracy.
    """
    accuracy = _accuracy(vendor, "", skill)
    shown = _shown_truth(data, truth)
    label = shown if shown is not None else rng.choice(("A", "B", "tie"))
    if rng.random() >= accuracy:
        label = rng.choice([c for c in ("A", "B", "tie") if c != label])
    if rng.random() < vendor.position_bias:
        label = "A"
    a, b = data.get("response_a"), data.get("response_b")
    if isinstance(a, str) and isinstance(b, str) and len(a) != len(b):
        if rng.random() < vendor.length_bias:
            label = "A" if len(a) > len(b) else "B"
    return Answer(label, accuracy, 1)


def _rating(
    vendor: SimulatedVendor,
    data: dict[str, object],
    truth: LabelValue | None,
    classes: list[str],
    rng: random.Random,
) -> Answer:
    """Each criterion's true rating shifted by the planted ``rating_bias`` and noise.

    The shift is ``floor(b)`` steps plus one more step with probability ``b - floor(b)``
    (mean exactly ``b``), then a random +-1 step with probability ``rating_noise``;
    clipped to the scale (``data["scale_min"]``/``["scale_max"]``, else the vendor's
    ``rating_scale``), so near the ends the found bias is smaller than planted.
    """
    lo, hi = vendor.rating_scale
    if isinstance(data.get("scale_min"), int) and isinstance(data.get("scale_max"), int):
        lo, hi = int(data["scale_min"]), int(data["scale_max"])  # type: ignore[call-overload]
    if isinstance(truth, dict) and truth:
        true = {str(c): int(r) for c, r in truth.items()}
    else:  # no truth: a uniform guess per criterion
        true = {c: rng.randint(lo, hi) for c in (classes or ["rating"])}
    whole = math.floor(vendor.rating_bias)
    fraction = vendor.rating_bias - whole
    out: dict[str, int] = {}
    for criterion in sorted(true):
        shift = whole + (1 if rng.random() < fraction else 0)
        if rng.random() < vendor.rating_noise:
            shift += rng.choice((-1, 1))
        out[criterion] = min(hi, max(lo, true[criterion] + shift))
    return Answer(out, 1.0, len(out))


def _transcription(vendor: SimulatedVendor, truth: LabelValue | None, rng: random.Random) -> Answer:
    """The true transcript with planted word errors at rate ``transcript_wer``.

    Per reference word, with probability ``transcript_wer`` one error: a substitution
    (half the time: the word with an ``x`` in front), a deletion or an insertion of
    ``uh`` after it (a quarter each). Expected WER is ``transcript_wer`` (a minimal
    alignment can only find fewer errors, rarely).
    """
    words = truth.split() if isinstance(truth, str) else []
    out: list[str] = []
    for word in words:
        if rng.random() >= vendor.transcript_wer:
            out.append(word)
            continue
        kind = rng.random()
        if kind < 0.5:
            out.append("x" + word)
        elif kind >= 0.75:
            out += [word, "uh"]
    return Answer(" ".join(out), 1.0 - vendor.transcript_wer, 1)


def _image_size(data: dict[str, object], boxes: list[Box]) -> tuple[float, float]:
    width, height = data.get("width"), data.get("height")
    if isinstance(width, int | float) and isinstance(height, int | float):
        return float(width), float(height)
    right = max((b.bbox[0] + b.bbox[2] for b in boxes), default=100.0)
    bottom = max((b.bbox[1] + b.bbox[3] for b in boxes), default=100.0)
    return right * 1.2, bottom * 1.2


def _detection(
    vendor: SimulatedVendor,
    data: dict[str, object],
    truth: LabelValue | None,
    classes: list[str],
    skill: float,
    rng: random.Random,
) -> Answer:
    true_boxes = [b for b in truth if isinstance(b, Box)] if isinstance(truth, list) else []
    out: list[Box] = []
    for box in true_boxes:
        if rng.random() < vendor.miss_rate:
            continue
        cls, score = _answer_class(vendor, box.category, classes, skill, rng)
        bias = vendor.class_box_bias.get(box.category, vendor.box_bias)
        out.append(Box(category=cls, bbox=_distort(box.bbox, bias, rng), score=round(score, 4)))
    width, height = _image_size(data, true_boxes)
    for _ in range(_poisson(vendor.false_positive_rate, rng)):
        w, h = rng.uniform(0.05, 0.3) * width, rng.uniform(0.05, 0.3) * height
        x, y = rng.uniform(0, width - w), rng.uniform(0, height - h)
        bbox = (round(x, 2), round(y, 2), round(w, 2), round(h, 2))
        out.append(Box(category=rng.choice(classes), bbox=bbox, score=round(rng.random() / 2, 4)))
    return Answer(out, _accuracy(vendor, "", skill), len(out))


def _segmentation(
    vendor: SimulatedVendor,
    truth: LabelValue | None,
    classes: list[str],
    skill: float,
    rng: random.Random,
) -> Answer:
    masks = [m for m in truth if isinstance(m, Mask)] if isinstance(truth, list) else []
    out: list[Mask] = []
    for mask in masks:
        if rng.random() < vendor.miss_rate:
            continue
        cls, score = _answer_class(vendor, mask.category, classes, skill, rng)
        bias = vendor.class_box_bias.get(mask.category, vendor.box_bias)
        seg = mask.segmentation
        if isinstance(seg, list):
            seg = [_scale_polygon(p, bias) for p in seg]
        out.append(Mask(category=cls, segmentation=seg, score=round(score, 4)))
    return Answer(out, _accuracy(vendor, "", skill), len(out))


def _scale_polygon(poly: list[float], bias: BoxBias) -> list[float]:
    xs, ys = poly[0::2], poly[1::2]
    if not xs:
        return poly
    cx, cy = sum(xs) / len(xs), sum(ys) / len(ys)
    w, h = max(xs) - min(xs), max(ys) - min(ys)
    out: list[float] = []
    for x, y in zip(xs, ys, strict=False):
        out.append(round(cx + (x - cx) * bias.width_scale + bias.dx * w, 2))
        out.append(round(cy + (y - cy) * bias.height_scale + bias.dy * h, 2))
    return out


def _spans(
    vendor: SimulatedVendor,
    data: dict[str, object],
    truth: LabelValue | None,
    classes: list[str],
    skill: float,
    rng: random.Random,
) -> Answer:
    spans = [s for s in truth if isinstance(s, Span)] if isinstance(truth, list) else []
    text = data.get("text")
    length = len(text) if isinstance(text, str) else max((s.end for s in spans), default=0)
    out: list[Span] = []
    for span in spans:
        if rng.random() < vendor.miss_rate:
            continue
        cls, _ = _answer_class(vendor, span.type, classes, skill, rng)
        shift = vendor.span_shift
        start = min(max(0, span.start + rng.randint(-shift, shift)), length)
        end = min(max(start + 1, span.end + rng.randint(-shift, shift)), max(length, start + 1))
        out.append(Span(start=start, end=end, type=cls))
    for _ in range(_poisson(vendor.false_positive_rate, rng)):
        if length < 2:
            break
        start = rng.randrange(0, length - 1)
        out.append(Span(start=start, end=rng.randint(start + 1, length), type=rng.choice(classes)))
    return Answer(
        sorted(out, key=lambda s: (s.start, s.end)), _accuracy(vendor, "", skill), len(out)
    )
