"""The family of paired comparisons: matched seeds, Holm over the whole family, closing."""

from __future__ import annotations

import pytest
from scipy import stats

from mtl_tutorial.report import family as fam_mod
from mtl_tutorial.report.family import Family, matched_seed_values
from mtl_tutorial.report.paired import holm, paired_comparison


def test_verdicts_use_holm_over_the_whole_family():
    fam = Family("f")
    # differences (0.5, 0.6, 0.4): t = 0.5 / (0.1 / sqrt 3) = 8.660 on 2 df
    fam.compare("strong", [1.0, 2.0, 3.0], [0.5, 1.4, 2.6], higher_is_better=True)
    fam.compare("null", [1.0, 1.1, 0.9], [1.0, 1.0, 1.0], higher_is_better=True)
    fam.compare("lower is better", [2.0, 3.0, 4.0], [1.5, 2.4, 3.6], higher_is_better=False)
    p = 2 * stats.t.sf(0.5 / (0.1 / 3**0.5), df=2)
    strong = fam.verdict("strong")
    assert strong.p_value == pytest.approx(p)
    # Holm by hand: p-values (p, 1, p) -> the two smallest tie; both become 3p, then 2p -> max
    assert strong.p_holm == pytest.approx(max(3 * p, 2 * p))
    assert strong.family_size == 3
    assert [v.verdict for v in fam.verdicts()] == (
        ["better", "no detectable difference", "worse"] if 3 * p < 0.05
        else ["no detectable difference"] * 3
    )
    assert [v.p_holm for v in fam.verdicts()] == pytest.approx(holm([v.p_value for v in fam.verdicts()]))


def test_a_borderline_difference_survives_alone_but_not_in_a_large_family():
    a, b = [1.0, 2.0, 3.0], [0.5, 1.4, 2.6]  # p = 0.013
    alone = Family("alone")
    alone.compare("x", a, b, True)
    assert alone.verdict("x").verdict == "better"
    crowd = Family("crowd")
    crowd.compare("x", a, b, True)
    for i in range(9):
        crowd.compare(f"null {i}", [1.0, 1.1, 0.9], [1.0, 1.0, 1.0], True)
    assert crowd.verdict("x").verdict == "no detectable difference"
    assert crowd.verdict("x").p_holm == pytest.approx(10 * paired_comparison(a, b).p_value)


def test_the_family_closes_when_a_verdict_is_read():
    fam = Family("f")
    fam.compare("x", [1.0, 2.0], [0.0, 0.5], True)
    fam.verdict("x")
    with pytest.raises(ValueError, match="add every comparison before reading one"):
        fam.compare("y", [1.0, 2.0], [0.0, 0.5], True)
    with pytest.raises(KeyError, match="no comparison 'z'"):
        fam.verdict("z")


def test_bad_comparisons_fail_when_added():
    fam = Family("f")
    with pytest.raises(ValueError, match="one per seed"):
        fam.compare("x", [1.0, 2.0, 3.0], [1.0, 2.0], True)
    with pytest.raises(ValueError, match="at least 2 matched seeds"):
        fam.compare("x", [1.0], [2.0], True)
    fam.compare("x", [1.0, 2.0], [0.0, 0.5], True)
    with pytest.raises(ValueError, match="already has"):
        fam.compare("x", [1.0, 2.0], [0.0, 0.5], True)


def test_describe_gives_the_interval_and_the_family():
    fam = Family("f")
    fam.compare("x", [0.91, 0.92, 0.93], [0.90, 0.905, 0.91], True)
    text = fam.verdict("x").describe(scale=100, unit=" %")
    assert text.startswith(("better: +1.50 %", "no detectable difference: +1.50 %"))
    assert "95 % CI" in text and "3 paired seeds" in text and "over 1 comparisons" in text


def test_matched_seed_values_pairs_common_seeds_only(monkeypatch):
    recorded = {"m": {0: 0.9, 1: 0.8, 2: 0.7, 3: 0.6}, "ref": {1: 0.5, 2: 0.4, 3: 0.3, 4: 0.2}}
    monkeypatch.setattr(fam_mod, "seeds", lambda name: sorted(recorded[name]))
    monkeypatch.setattr(fam_mod, "run_metrics", lambda name, s: {"acc": recorded[name][s]})
    assert matched_seed_values("m", "ref", "acc") == ([1, 2, 3], [0.8, 0.7, 0.6], [0.5, 0.4, 0.3])
    fam = Family("f")
    fam.compare_runs("m", "ref", "acc", higher_is_better=True)
    assert fam.verdict("m vs ref: acc").n == 3
    recorded["ref"] = {3: 0.3}
    with pytest.raises(ValueError, match="share 1 recorded seed"):
        matched_seed_values("m", "ref", "acc")
