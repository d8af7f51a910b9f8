"""The verdict's money figures carry each system's currency (from its price list)."""

from __future__ import annotations

import re
from collections.abc import Callable

from reports.inputs import Constraints, PricingTerms, RankingConfig, SystemEvaluation
from reports.ranking import rank_systems
from reports.render import render_html_string
from reports.report import build_report

MakeSystem = Callable[..., SystemEvaluation]
N_RES = 200


def _score_line(summary: list[str]) -> str:
    return next(x for x in summary if x.startswith("Score = "))


def test_each_cost_in_the_verdict_is_in_its_systems_currency(make_system: MakeSystem) -> None:
    euro = make_system("euro", n_correct=390, cost=0.04, pricing=PricingTerms(currency="EUR"))
    pound = make_system("pound", n_correct=380, cost=0.03, pricing=PricingTerms(currency="GBP"))
    ranking = rank_systems([euro, pound], config=RankingConfig(n_resamples=N_RES))
    line = _score_line(ranking.summary)
    rows = {r.name: r for r in ranking.systems}
    for name, code in (("euro", "EUR"), ("pound", "GBP")):
        est = rows[name].cost_per_correct
        assert est is not None and est.value is not None
        assert f"cost per correct {code} {est.value:.4f} -> " in line
    # 400 items at 0.04 over 390 correct: the amount itself, not only its label, is right
    assert "cost per correct EUR 0.0410 -> " in line
    assert "$" not in line


def test_a_system_without_a_price_list_shows_a_bare_amount_not_a_guessed_currency(
    make_system: MakeSystem,
) -> None:
    ranking = rank_systems(
        [make_system("a", n_correct=390), make_system("b", n_correct=350)],
        config=RankingConfig(n_resamples=N_RES),
    )
    costs = re.findall(r"cost per correct (\S+) -> ", _score_line(ranking.summary))
    assert costs == ["0.0513", "0.0571"]  # 400 x 0.05 over 390 and over 350 correct


def test_a_cost_limit_breach_is_said_in_the_systems_currency(make_system: MakeSystem) -> None:
    pricey = make_system("pricey", n_correct=395, cost=0.2, pricing=PricingTerms(currency="EUR"))
    ok = make_system("ok", n_correct=390, cost=0.05, pricing=PricingTerms(currency="EUR"))
    cfg = RankingConfig(constraints=Constraints(max_cost_per_item=0.08), n_resamples=N_RES)
    ranking = rank_systems([pricey, ok], config=cfg)
    row = next(r for r in ranking.systems if r.name == "pricey")
    assert row.violations == ["cost per item EUR 0.2000 > allowed EUR 0.0800"]
    assert "pricey is not ranked: cost per item EUR 0.2000 > allowed EUR 0.0800." in (
        ranking.summary
    )


def test_the_report_and_its_html_show_the_currency_in_the_verdict(
    make_system: MakeSystem,
) -> None:
    systems = [
        make_system("euro", n_correct=390, cost=0.04, pricing=PricingTerms(currency="EUR")),
        make_system("pound", n_correct=380, cost=0.03, pricing=PricingTerms(currency="GBP")),
    ]
    report = build_report(systems, config=RankingConfig(n_resamples=N_RES), title="t")
    assert report.currencies == {"euro": "EUR", "pound": "GBP"}
    line = _score_line(report.ranking.summary)
    assert "cost per correct EUR 0.0410" in line and "cost per correct GBP " in line
    html = render_html_string(report)
    assert "cost per correct EUR 0.0410 -&gt; " in html
