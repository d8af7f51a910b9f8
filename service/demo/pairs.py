"""The demo's language golden sets: generated replies to generated prompts, as pairs to
judge and as single replies to rate.

Three made-up chat models answer short factual prompts (sums, unit conversions, capitals,
words spelt backwards): ``model-alpha`` is terse and usually right, ``model-beta`` pads every
reply with reassurance and is right less often, ``model-gamma`` is right least often. Each
golden item shows one prompt with two models' replies in a random order; the expert prefers
the right reply, and calls a tie when both are right or both wrong. Nothing is downloaded:
prompts and replies are generated from the seed. Item metadata carries ``model_a``/``model_b``
(for the Bradley-Terry ranking of the models) and ``length_a``/``length_b`` (for length bias).

The rating set shows one reply per item, rated on a two-criterion rubric (``correctness``,
``helpfulness``) on a 1-5 scale. The expert's ratings stay within 2-4 (right 4, wrong 2;
a right reply padded with filler is less helpful, 3), so a planted leniency of less than one
step and +-1 rating noise are never clipped at an end of the scale: the bias the report
finds is the planted one.
"""

from __future__ import annotations

import random

from adapters.base import LabelValue, WorkItem
from service.demo.data import DemoGoldenSet

__all__ = ["MODELS", "RATING_CRITERIA", "RATING_SCALE", "pairs_golden_set", "ratings_golden_set"]

#: name -> (chance of a right answer, padded with filler)
MODELS: dict[str, tuple[float, bool]] = {
    "model-alpha": (0.85, False),
    "model-beta": (0.6, True),
    "model-gamma": (0.4, False),
}
#: The demo rubric's criteria and scale.
RATING_CRITERIA = ("correctness", "helpfulness")
RATING_SCALE = (1, 5)
_CAPITALS = {
    "France": "Paris",
    "Japan": "Tokyo",
    "Kenya": "Nairobi",
    "Canada": "Ottawa",
    "Australia": "Canberra",
    "Brazil": "Brasília",
    "Norway": "Oslo",
    "Egypt": "Cairo",
    "Peru": "Lima",
    "Vietnam": "Hanoi",
}
_WORDS = ("planet", "garden", "window", "silver", "harbour", "lantern", "meadow", "pencil")
_FILLER = (
    " I checked this carefully, step by step, and I am confident it is correct.",
    " Let me know if you would like a longer explanation or more examples.",
    " This is a common question, and the answer above is the standard one.",
)


def _question(rng: random.Random) -> tuple[str, str, str]:
    """``(prompt, right reply, wrong reply)``."""
    kind = rng.randrange(4)
    if kind == 0:
        a, b = rng.randint(12, 99), rng.randint(12, 99)
        return f"What is {a} + {b}?", f"{a + b}.", f"{a + b + rng.choice((-10, -1, 1, 10))}."
    if kind == 1:
        hours = rng.randint(2, 12)
        wrong = hours * rng.choice((30, 100, 50))
        return (
            f"How many minutes are in {hours} hours?",
            f"{hours * 60} minutes.",
            f"{wrong} minutes.",
        )
    if kind == 2:
        country = rng.choice(sorted(_CAPITALS))
        other = rng.choice([c for k, c in sorted(_CAPITALS.items()) if k != country])
        return (
            f"What is the capital of {country}?",
            f"The capital of {country} is {_CAPITALS[country]}.",
            f"The capital of {country} is {other}.",
        )
    word = rng.choice(_WORDS)
    letters = list(word[::-1])
    i = rng.randrange(len(letters) - 1)
    letters[i], letters[i + 1] = letters[i + 1], letters[i]
    return f"Spell '{word}' backwards.", f"{word[::-1]}", "".join(letters)


def _reply(model: str, right: str, wrong: str, rng: random.Random) -> tuple[str, bool]:
    p_right, padded = MODELS[model]
    ok = rng.random() < p_right
    text = right if ok else wrong
    return (text + rng.choice(_FILLER) if padded else text), ok


def pairs_golden_set(*, n_items: int = 120, seed: int = 11) -> DemoGoldenSet:
    """``n_items`` pairs of replies with the expert's preference (A, B or tie)."""
    rng = random.Random(seed)
    models = sorted(MODELS)
    items: list[WorkItem] = []
    gold: dict[str, LabelValue] = {}
    metadata: dict[str, dict[str, str]] = {}
    for i in range(n_items):
        prompt, right, wrong = _question(rng)
        first, second = rng.sample(models, 2)
        text_a, ok_a = _reply(first, right, wrong, rng)
        text_b, ok_b = _reply(second, right, wrong, rng)
        if text_a == text_b:  # same words from two models: make the pair tell them apart
            text_b += " That is my answer."
        key = f"pair-{i:04d}"
        items.append(
            WorkItem(
                item_id=key, data={"prompt": prompt, "response_a": text_a, "response_b": text_b}
            )
        )
        gold[key] = "tie" if ok_a == ok_b else ("A" if ok_a else "B")
        metadata[key] = {
            "model_a": first,
            "model_b": second,
            "length_a": str(len(text_a)),
            "length_b": str(len(text_b)),
        }
    return DemoGoldenSet(
        name="Chat replies",
        task_type="preference",
        classes=("A", "B", "tie"),
        items=tuple(items),
        gold=gold,
        metadata=metadata,
    )


def ratings_golden_set(*, n_items: int = 120, seed: int = 19) -> DemoGoldenSet:
    """``n_items`` replies with the expert's rubric ratings (``correctness``, ``helpfulness``).

    Ratings lie in 2-4 on the 1-5 scale (see the module docstring): correctness 4 for a
    right reply and 2 for a wrong one; helpfulness the same, except 3 for a right reply
    padded with filler. Metadata: ``model`` (which made-up model wrote the reply).
    """
    rng = random.Random(seed)
    models = sorted(MODELS)
    items: list[WorkItem] = []
    gold: dict[str, LabelValue] = {}
    metadata: dict[str, dict[str, str]] = {}
    for i in range(n_items):
        prompt, right, wrong = _question(rng)
        model = rng.choice(models)
        text, ok = _reply(model, right, wrong, rng)
        padded = MODELS[model][1]
        key = f"reply-{i:04d}"
        items.append(WorkItem(item_id=key, data={"prompt": prompt, "response": text}))
        gold[key] = {
            "correctness": 4 if ok else 2,
            "helpfulness": (3 if padded else 4) if ok else 2,
        }
        metadata[key] = {"model": model}
    return DemoGoldenSet(
        name="Chat reply ratings",
        task_type="rating",
        classes=RATING_CRITERIA,
        items=tuple(items),
        gold=gold,
        metadata=metadata,
        rating_scale=RATING_SCALE,
    )
