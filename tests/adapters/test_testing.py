"""The no-gold check itself must catch leaks, or the contract test proves nothing."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.testing import assert_no_gold, toy_golden


def _clean(task: str = "classification") -> tuple[Any, list[Any]]:
    golden = toy_golden(task)  # type: ignore[arg-type]
    batch = golden.batch().model_dump(mode="json")
    return golden, [batch]


def test_a_clean_batch_passes() -> None:
    for task in ("classification", "detection", "multilabel", "rating", "transcription"):
        golden, payloads = _clean(task)
        assert_no_gold(payloads, golden)


def test_empty_record_is_refused() -> None:
    golden, _ = _clean()
    with pytest.raises(AssertionError, match="vacuous"):
        assert_no_gold([], golden)


@pytest.mark.parametrize("key", ["label", "gold", "annotations", "truth"])
def test_a_label_key_next_to_an_item_is_caught(key: str) -> None:
    golden, payloads = _clean()
    payloads[0]["items"][3][key] = golden.gold[golden.items[3].item_id]
    with pytest.raises(AssertionError):
        assert_no_gold(payloads, golden)


def test_gold_smuggled_into_item_data_is_caught() -> None:
    golden, payloads = _clean()
    payloads[0]["items"][0]["data"]["hint"] = "cat"
    with pytest.raises(AssertionError, match="altered"):
        assert_no_gold(payloads, golden)


def test_a_gold_box_anywhere_is_caught() -> None:
    golden, payloads = _clean("detection")
    box = golden.gold_json()[golden.items[0].item_id][1]
    payloads.append({"preview": {"shapes": [box]}})
    with pytest.raises(AssertionError, match="gold box"):
        assert_no_gold(payloads, golden)


def test_labels_inside_instruction_examples_are_allowed() -> None:
    golden, payloads = _clean()
    assert payloads[0]["instructions"]["examples"][0]["label"] == "cat"
    assert_no_gold(payloads, golden)


def test_empty_annotation_lists_are_allowed() -> None:
    golden, _ = _clean()
    coco_like: dict[str, list[object]] = {"images": [], "annotations": [], "categories": []}
    assert_no_gold([coco_like], golden)


def test_a_preference_pair_may_be_swapped_and_nothing_else() -> None:
    from adapters.pairs import swap_pair

    golden, payloads = _clean("preference")
    assert sorted(str(golden.gold[i.item_id]) for i in golden.items[:3]) == ["A", "B", "tie"]
    item = payloads[0]["items"][1]
    item["data"] = swap_pair(item["data"])
    assert_no_gold(payloads, golden)  # the order of the responses is all that changed
    item["data"]["swapped"] = True
    with pytest.raises(AssertionError, match="altered|swap"):
        assert_no_gold(payloads, golden)
    golden, payloads = _clean("preference")
    payloads[0]["items"][2]["swapped"] = True
    with pytest.raises(AssertionError, match="swap"):
        assert_no_gold(payloads, golden)
    golden, payloads = _clean("preference")
    payloads[0]["items"][0]["data"]["response_a"] += " (the better one)"
    with pytest.raises(AssertionError, match="altered"):
        assert_no_gold(payloads, golden)


def test_a_repeated_pair_may_come_under_an_unlinked_id_and_nothing_else() -> None:
    from adapters.pairs import swap_pair

    golden, payloads = _clean("preference")
    first = payloads[0]["items"][1]
    repeat: dict[str, Any] = {
        "item_id": "9f86d081884c7d659a2feaa0c55ad015",
        "data": swap_pair(first["data"]),
    }
    payloads[0]["items"].append(repeat)
    assert_no_gold(payloads, golden)  # a second sending under an opaque id: allowed
    repeat["repeat_of"] = first["item_id"]
    with pytest.raises(AssertionError, match="extra keys|swap"):
        assert_no_gold(payloads, golden)
    del repeat["repeat_of"]
    repeat["item_id"] = f"{first['item_id']}-again"  # an id that names its item
    with pytest.raises(AssertionError, match="names item"):
        assert_no_gold(payloads, golden)
    repeat["item_id"] = "9f86d081884c7d659a2feaa0c55ad015"
    repeat["data"] = {**repeat["data"], "repeat": True}  # a marker inside the data
    with pytest.raises(AssertionError, match="about a swap or repeat"):
        assert_no_gold(payloads, golden)


def test_a_gold_rating_or_transcript_anywhere_is_caught() -> None:
    golden, payloads = _clean("rating")
    rating = golden.gold_json()[golden.items[2].item_id]
    payloads.append({"prefill": {"scores": rating}})
    with pytest.raises(AssertionError, match="gold rating"):
        assert_no_gold(payloads, golden)
    golden, payloads = _clean("transcription")
    text = golden.gold[golden.items[4].item_id]
    payloads[0]["instructions"]["text"] += " "  # instructions may say anything
    payloads.append({"note": f"reference: {text}."})
    with pytest.raises(AssertionError, match="gold transcript"):
        assert_no_gold(payloads, golden)
