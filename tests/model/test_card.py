import re

from riskstrat.model import card


def _headings(markdown: str) -> list[tuple[int, str]]:
    return [(int(n), t) for n, t in re.findall(r"^### (\d+)\. (.+)$", markdown, flags=re.M)]


def test_card_has_every_hti1_attribute_in_order(trained):
    _, result = trained
    md = (result.model_dir / "card.md").read_text()
    assert _headings(md) == list(card.ATTRIBUTES.items())
    spec = open_spec_titles()
    assert [t for _, t in _headings(md)] == spec


def open_spec_titles() -> list[str]:
    # The titles as the spec lists them, read from the spec when it is present beside the repo.
    from pathlib import Path

    spec = Path(__file__).resolve().parents[3] / "shared" / "spec" / "hti1-source-attributes.md"
    if not spec.exists():
        return list(card.ATTRIBUTES.values())
    return re.findall(r"^\d+\. (.+)$", spec.read_text(), flags=re.M)


def test_missing_facts_are_stated_and_synthetic_is_labelled(trained):
    _, result = trained
    md = (result.model_dir / "card.md").read_text()
    assert md.count("**Not available:**") >= 10
    assert "SYNTHETIC DATA" in md
    html = (result.model_dir / "card.html").read_text()
    # calibration, lift and the learning curve (no fairness plots: the frame has no lake to group by)
    assert html.count("<svg") == 3 and "SYNTHETIC DATA" in html
    assert "Quality against the number of training children" in md and "cross-fitting" in md
    assert "<h3 id=\"a31\">31." in html


def test_an_empty_attribute_is_still_printed_and_sections_can_be_added():
    c = card.ModelCard(title="t")
    c.add(22, card.text("Fairness table goes here."))
    md = c.to_markdown()
    assert len(_headings(md)) == 31
    assert "Fairness table goes here." in md
    assert md.count("**Not available:** no information was supplied") == 30


def test_a_baseline_that_ranks_better_is_said_so_with_chance_in_view():
    from riskstrat.model.card import _baseline_words

    model = {"auroc": 0.577, "auprc": 0.072, "events": 22, "n": 459}
    better = _baseline_words({"model": model, "logistic": {"auroc": 0.601, "auprc": 0.091}, "rules": {"auroc": 0.55, "auprc": 0.05}})
    assert better.startswith("The logistic regression ranks these test rows better than the model on AUROC (0.601 "
                             "against 0.577) and AUPRC (0.091 against 0.072); with 22 events an AUROC difference under about")
    assert "rules" not in better
    assert _baseline_words({"model": model, "rules": {"auroc": 0.55, "auprc": 0.05}}).startswith("The model ranks the test rows at least as well")
