"""Ready-made simulated vendors for demos: different quality, speed and price.

>>> [v.name for v in demo_vendors()]
['boxy', 'budget', 'premium']
"""

from __future__ import annotations

from pydantic import SecretStr

from adapters.simulator.config import (
    AnnotatorPool,
    BoxBias,
    ClassNoise,
    Faults,
    LatencySpec,
    PriceList,
    SimulatedVendor,
)

__all__ = ["demo_vendors"]


def demo_vendors(
    *, webhook_secret: str | None = None, confusions: dict[str, str] | None = None
) -> list[SimulatedVendor]:
    """Three contrasting vendors.

    ``boxy``
        Good labels, but every box is drawn 15% too wide and shifted right (a systematic
        bias that accuracy at IoU 0.5 hides and IoU 0.75 reveals); mid price, mid speed.
    ``budget``
        Cheap and fast, noisy (80% accurate, misses 10% of objects, invents some),
        with occasional 5xx errors and duplicate callbacks.
    ``premium``
        Slow and accurate (98%), three annotators per item, expensive.

    Parameters
    ----------
    webhook_secret
        The secret each signs its callbacks with (the vendors' settings in Bakeoff must
        hold the same one).
    confusions
        ``{true class: class it is mistaken for}`` for the noisy vendor, e.g.
        ``{"3": "8"}`` for digits.
    """
    secret = SecretStr(webhook_secret) if webhook_secret else None
    noisy = {
        true: ClassNoise(accuracy=0.6, confuse_with={wrong: 1.0})
        for true, wrong in (confusions or {}).items()
    }
    return [
        SimulatedVendor(
            name="boxy",
            seed=11,
            accuracy=0.93,
            box_bias=BoxBias(width_scale=1.15, dx=0.05, jitter=0.02),
            annotators=AnnotatorPool(count=5, per_item=1, skill_spread=0.03),
            latency=LatencySpec(distribution="lognormal", mean_s=90, sigma=0.6),
            prices=PriceList(per_item=0.06, per_label=0.01),
            webhook_secret=secret,
        ),
        SimulatedVendor(
            name="budget",
            seed=12,
            accuracy=0.8,
            per_class=noisy,
            miss_rate=0.1,
            false_positive_rate=0.3,
            annotators=AnnotatorPool(count=20, per_item=1, skill_spread=0.1),
            latency=LatencySpec(distribution="exponential", mean_s=30),
            prices=PriceList(per_item=0.02),
            faults=Faults(error_rate=0.05, duplicate_callback_rate=0.05, out_of_order=True),
            webhook_secret=secret,
        ),
        SimulatedVendor(
            name="premium",
            seed=13,
            accuracy=0.98,
            box_bias=BoxBias(jitter=0.01),
            annotators=AnnotatorPool(count=6, per_item=3, skill_spread=0.01),
            latency=LatencySpec(distribution="lognormal", mean_s=600, sigma=0.4),
            prices=PriceList(per_item=0.25, per_hour=12.0),
            webhook_secret=secret,
        ),
    ]
