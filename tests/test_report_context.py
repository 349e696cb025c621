"""Every report renders report.md and report.html from one context through Jinja2 with StrictUndefined: a key a
template asks for and the context lacks (a misspelling) is an error, and no report is written."""

import jinja2
import pytest

from parity.reports import render, report
from parity.reports.publish import publish


def _results():
    row = {"component": "data", "case": "x", "id": "data.x", "title": "data/x", "kind": "matched", "tol": 0.0,
           "tol_name": "exact", "units": "", "relative": False, "tol_source": "", "reason": "r", "figure": None,
           "max_abs": 0.0, "max_rel": 0.0, "mean_abs": 0.0, "noise": None, "noise_rel": None, "noise_ratio": None,
           "passed": True, "status": "pass", "labels": ["torch", "keras_tf"], "detail": {}, "seconds": 0.1}
    results = report.results_for([row], 0, None, ("torch", "keras_tf"))
    return {**results, "versions": {"numpy": "x"}}


@pytest.mark.parametrize("template", ["check.md", "check.html"])
def test_both_forms_render_from_the_same_context(template):
    results = {**_results(), "created": "now", "command": "parity check", "wall_seconds": 1.0, "started": None,
               "kind": "check", "parity_version": "0"}
    text = render.render(template, **report.html_context(results, []))
    assert "data.x" in text


@pytest.mark.parametrize("template", ["check.md", "check.html"])
def test_a_misspelt_key_is_an_error_not_an_empty_cell(template):
    results = {**_results(), "created": "now", "command": "parity check", "wall_seconds": 1.0, "started": None,
               "kind": "check", "parity_version": "0"}
    context = report.html_context(results, [])
    context["persistance"] = context.pop("persistence")  # the misspelling a template would otherwise show as empty
    with pytest.raises(jinja2.UndefinedError, match="persistence"):
        render.render(template, **context)


def test_a_report_whose_context_lacks_a_key_writes_nothing(tmp_path, monkeypatch):
    def broken(results, figures):
        context = report.html_context(results, figures)
        del context["pairs"]
        return context

    with pytest.raises(jinja2.UndefinedError):
        publish(tmp_path / "out", "check", _results(), "check", broken)
    assert not (tmp_path / "out").exists()
