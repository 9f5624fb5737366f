"""Wave 8 (ADR 0008): tool results may get their own trained threshold and veto, apart from
retrieved documents; without one they take the document's, and neither is ever below user input's."""

from __future__ import annotations

from flows.guards.classifier import Thresholds, injection_classifier
from flows.guards.policy import InjectionCheck, injection_finding


def test_a_tool_result_takes_the_document_threshold_unless_calibrated_apart() -> None:
    plain = Thresholds(threshold=0.9, model="m", document_threshold=0.99, veto=0.1, document_veto=0.5)
    assert plain.threshold_for("tool") == plain.threshold_for("document") == 0.99
    assert plain.veto_for("tool") == 0.5
    apart = Thresholds(
        threshold=0.9, model="m", document_threshold=0.99, document_veto=0.5, tool_threshold=0.95, tool_veto=0.2
    )
    assert apart.threshold_for("tool") == 0.95
    assert apart.veto_for("tool") == 0.2
    assert apart.threshold_for("document") == 0.99
    low = Thresholds(threshold=0.9, model="m", document_threshold=0.99, tool_threshold=0.5)
    assert low.threshold_for("tool") == 0.9  # never below user input's


def test_the_product_reads_the_tool_threshold_for_tool_results() -> None:
    trained = injection_classifier()
    text = "Weather in Oslo: 4 degrees, light rain, wind from the north."
    check = InjectionCheck(classifier=True)
    at_tool = trained.threshold_for("tool")
    at_document = trained.threshold_for("document")
    assert injection_finding(check, text, "document", lambda _: at_tool, tool=True) is not None
    below = min(at_tool, at_document) - 1e-4
    assert injection_finding(check, text, "document", lambda _: below, tool=True) is None
    assert injection_finding(check, text, "document", lambda _: below) is None
