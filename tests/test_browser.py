"""The HTML reports in a real browser (headless Chromium driven by Playwright): no console errors, every image
loaded, the answer visible above the fold, a planted failure listed in the summary, sorting and filtering.

Chromium comes from Debian's `chromium` package (.ci/run installs it); Playwright is pointed at it and never
downloads a browser. PARITY_REPORTS_UNDER_TEST=DIR also checks every report.html under DIR (e.g. the reports
`nox -s parity` wrote)."""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from parity.check import cases
from parity.cli.app import main
from parity.check.case import Case, Sides

VIEWPORT = {"width": 1400, "height": 900}
CHROMIUM_FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                  "--disable-background-networking", "--disable-component-update"]


def _chromium() -> str | None:
    return os.environ.get("PARITY_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def browser():
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed (test extra)")
    executable = _chromium()
    if executable is None:
        pytest.skip("no Chromium on this machine: install Debian's chromium package (.ci/run does) or set "
                    "PARITY_CHROMIUM")
    with sync_api.sync_playwright() as p:
        instance = p.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        yield instance
        instance.close()


class Page:
    """One report opened at 1400 x 900, with the console errors it produced."""

    def __init__(self, browser, path: Path):
        self.page = browser.new_page(viewport=VIEWPORT)
        self.errors = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.goto(path.resolve().as_uri())
        self.page.wait_for_load_state("load")

    def broken_images(self) -> list[str]:
        return self.page.eval_on_selector_all("img", "imgs => imgs.filter(i => !(i.complete && i.naturalWidth > 0))"
                                                     ".map(i => i.getAttribute('src'))")

    def above_the_fold(self, selector: str) -> bool:
        box = self.page.locator(selector).first.bounding_box()
        return box is not None and box["y"] >= 0 and box["y"] + box["height"] <= VIEWPORT["height"]

    def column(self, table: str, index: int) -> list[str]:
        return self.page.eval_on_selector_all(f"#{table} tbody tr", f"rows => rows.filter(r => !r.hidden)"
                                                                    f".map(r => r.cells[{index}].textContent.trim())")


def _layered_failure(ctx) -> Sides:
    good = np.ones(4)
    return Sides(good, good, layers=[("stem", good, good, None), ("block.1", good, good * 1.5, None),
                                     ("block.2", good, good * 2.0, None)])


@pytest.fixture(scope="module")
def check_report(tmp_path_factory):
    """A real check report: the loss and schedule cases, the 32->64 resize matrix (a figure), and a planted
    layer-wise failure."""
    planted = Case("model", "planted twin that parts at block.1", "matched", _layered_failure, "features_f32",
                   key="planted_twin_that_parts_at_block_1")
    chosen = [c for c in cases.all_cases() if c.component in ("loss", "schedule")
              or c.name == "matrix 32x32->64"] + [planted]
    out = tmp_path_factory.mktemp("browser") / "check"
    real = cases.all_cases
    cases.all_cases = lambda: chosen
    try:
        assert main(["check", "--out", str(out)]) == 1
    finally:
        cases.all_cases = real
    return out / "report.html"


@pytest.fixture(scope="module")
def bisect_report(tmp_path_factory):
    """A bisect report from the synthetic known-answer bisection (no training)."""
    from parity.reports import attribution
    from parity.train.bisect import run_bisect
    from test_bisect import make

    result = run_bisect(make(), permutations=4)
    out = tmp_path_factory.mktemp("browser") / "bisect"
    attribution.write(out, "bisect", "parity bisect (synthetic)", {
        "bisect": result, "notes": [], "verdict": {"ok": None, "text": result["answer"]}, "data": {"source": "test"},
        "body": "none", "seeds": result["seeds"], "versions": {"python": "3"}})
    return out / "report.html"


def test_check_report_in_a_browser(browser, check_report):
    page = Page(browser, check_report)
    assert page.errors == []
    assert page.broken_images() == [] and page.page.locator("img").count() >= 1
    assert page.above_the_fold("#verdict") and page.page.locator("#verdict").inner_text().startswith("FAILED")
    attention = page.page.locator("#attention")
    assert page.above_the_fold("#attention h2") or attention.bounding_box()["y"] < VIEWPORT["height"] * 1.5
    assert "planted twin that parts at block.1" in attention.inner_text()
    assert "block.1" in attention.inner_text()  # the first layer over tolerance, named in the summary
    attention.locator("a").first.click()
    target = "details#case-model-planted-twin-that-parts-at-block-1"
    # the report opens it on 'hashchange', an event the browser fires after the click returns: wait up to 5 s
    page.page.wait_for_selector(f"{target}[open]", state="attached", timeout=5000)
    assert page.page.locator(target).get_attribute("open") is not None


def test_check_report_tables_sort_and_filter(browser, check_report):
    page = Page(browser, check_report)
    table = "t-loss"
    header = page.page.locator(f"#{table} thead th", has_text="max_abs")
    header.click()
    values = [float(v) for v in page.column(table, 3) if v != "-"]
    assert values == sorted(values) and len(values) >= 3
    header.click()
    values = [float(v) for v in page.column(table, 3) if v != "-"]
    assert values == sorted(values, reverse=True)
    page.page.fill(f'input[data-filter="{table}"]', "clipped")
    shown = page.column(table, 0)
    assert shown and all("clipped" in name for name in shown)
    page.page.fill(f'input[data-filter="{table}"]', "")
    page.page.check('input[data-problems="t-model"]')
    assert page.column("t-model", 0) == ["planted twin that parts at block.1"]


def test_bisect_report_in_a_browser(browser, bisect_report):
    page = Page(browser, bisect_report)
    assert page.errors == []
    assert page.broken_images() == [] and page.page.locator("img[src='waterfall.png']").count() == 1
    assert page.above_the_fold("#verdict") and "Going from fastai_v1_fit" in page.page.locator("#verdict").inner_text()
    page.page.locator("#factor-table thead th", has_text="Shapley (pts)").click()
    values = [float(v) for v in page.column("factor-table", 3)]
    assert values == sorted(values)


def test_screened_bisect_report_in_a_browser(browser, tmp_path):
    """A bisect screened at a lower fidelity (synthetic, no training): the two-fidelities table, its flagged
    sign change, sorting by the screened effect."""
    from parity.components.datasets import DataSpec
    from parity.reports import attribution
    from parity.train import fidelity
    from parity.train.budget import run_budgeted
    from test_fidelity import Model, pair

    full, low = pair(Model())
    result = run_budgeted(full, None, low=low, confirm=3)
    spec = DataSpec("digits", None, 20, 10)
    fidelity.record(result, fidelity.Fidelity(epochs=1), spec, spec, 3)
    out = tmp_path / "screened"
    attribution.write(out, "bisect", "parity bisect (screened, synthetic)", {
        "bisect": result, "notes": [], "verdict": {"ok": None, "text": result["answer"]}, "data": {"source": "test"},
        "body": "none", "seeds": result["seeds"], "versions": {"python": "3"}})
    page = Page(browser, out / "report.html")
    assert page.errors == []
    assert "the sign changes between fidelities for: lr" in page.page.locator("#verdict").inner_text()
    flagged = page.page.locator("#fidelity-table tr.problem")
    assert flagged.count() == 1 and "lr" in flagged.inner_text() and "changes" in flagged.inner_text()
    page.page.locator("#fidelity-table thead th", has_text="screened effect").click()
    values = [float(v.split()[0]) for v in page.column("fidelity-table", 1)]
    assert values == sorted(values) and len(values) == 7


@pytest.fixture(scope="module")
def sweep_report(tmp_path_factory):
    """A sweep report from known numbers (no training), with a gap whose sign flips along the sweep."""
    from parity.reports import sweep
    from test_sweep import _fake_sweep

    sw, results = _fake_sweep([-0.10, -0.02, 0.05])
    summary = sweep.summarise(sw, results)
    out = tmp_path_factory.mktemp("browser") / "sweep"
    sweep.write(out, "parity sweep (synthetic)", {
        "sweep": summary, "verdict": {"ok": None, "text": summary["sentences"][0]}, "data": {"source": "test"},
        "body": "none", "seeds": summary["seeds"], "versions": {"python": "3"}})
    return out / "report.html"


def test_sweep_report_in_a_browser(browser, sweep_report):
    page = Page(browser, sweep_report)
    assert page.errors == []
    assert page.broken_images() == [] and page.page.locator("img[src='sweep.png']").count() == 1
    assert page.above_the_fold("#verdict") and "the sign flips" in page.page.locator("#verdict").inner_text()
    page.page.locator("#accuracy-table thead th", has_text="keras_thread_64").first.click()
    values = [float(v.rstrip("%")) for v in page.column("accuracy-table", 3)]
    assert values == sorted(values) and len(values) == 3


def test_recipes_diff_report_in_a_browser(browser, tmp_path):
    """Two captured recipes (their origins written by hand: no program runs): the knobs that differ, both sources
    per knob, the approximate mark and the settings no knob covers."""
    from dataclasses import replace

    from parity.train import recipefiles, recipes

    files = []
    for name, base, uncovered in (("fa", "fastai_v1_fit", ()), ("ke", "keras_thread_64",
                                                                (("label smoothing", "CategoricalCrossentropy(0.1)"),))):
        recipe = recipes.get_recipe(base)
        origin = recipes.Origin(program=f"{name}.py", provenance=tuple((k, f"{name} source of {k}")
                                                                       for k in recipes.KNOBS),
                                approximate=("lr",) if name == "ke" else (), uncovered=uncovered)
        files.append(tmp_path / f"{name}.toml")
        files[-1].write_text(recipefiles.dumps(replace(recipe, name=name, origin=origin)))
    assert main(["recipes", "--diff", *map(str, files), "--out", str(tmp_path / "d")]) == 0
    page = Page(browser, tmp_path / "d" / "report.html")
    assert page.errors == [] and page.above_the_fold("#verdict")
    differ = list(recipes.diff(recipes.get_recipe("fastai_v1_fit"), recipes.get_recipe("keras_thread_64")))
    assert page.column("knob-table", 0) == differ
    assert page.column("knob-table", 2) == [f"fa source of {k}" for k in differ]
    assert page.column("knob-table", 4) == [f"ke source of {k}" for k in differ]
    assert "approximate" in page.column("knob-table", 3)[differ.index("lr")]
    assert "label smoothing" in page.page.locator("#uncovered").inner_text()
    page.page.locator("#knob-table thead th", has_text="knob").click()
    assert page.column("knob-table", 0) == sorted(differ)


def test_index_and_diff_pages_in_a_browser(browser, check_report, tmp_path):
    reports = check_report.parent.parent
    assert main(["reports", "--dir", str(reports)]) == 0
    page = Page(browser, reports / "index.html")
    assert page.errors == [] and "check" in page.column("reports", 0)
    assert main(["diff", str(check_report.parent), str(check_report.parent), "--out", str(tmp_path / "d")]) == 0
    page = Page(browser, tmp_path / "d" / "report.html")
    assert page.errors == [] and page.above_the_fold("#verdict")


def _reports_under_test():
    root = os.environ.get("PARITY_REPORTS_UNDER_TEST")
    return sorted(Path(root).rglob("report.html")) if root else []


@pytest.mark.parametrize("path", _reports_under_test(), ids=str)
def test_given_reports_in_a_browser(browser, path):
    page = Page(browser, path)
    assert page.errors == [] and page.broken_images() == [] and page.above_the_fold("#verdict")
    kind = json.loads((path.parent / "results.json").read_text())["kind"]
    if kind == "check":
        assert page.page.locator("#attention").count() == 1
