"""The paper's figures in a real browser: the HTML that `vlexplore figures` writes, opened in
Chromium, draws every published point it was given; screenshots go to test-artifacts/.

Needs Debian's /usr/bin/chromium and playwright; skipped (with the reason) only when chromium
is missing outside CI.
"""

import os
from pathlib import Path

import pytest
from tiny import load_tiny, load_tiny_set

from vlexplore import paper
from vlexplore.diagnostics import results_frame
from vlexplore.engine import diagnose_dataset
from vlexplore.runs import run_frame
from vlexplore.views import paper_figures

pytestmark = [pytest.mark.browser, pytest.mark.slow]

ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]

PAPER_POINTS = """() => {
  const plot = document.querySelector('.js-plotly-plot');
  const out = [];
  for (const trace of plot._fullData) {  // decoded: the numbers plotly.js actually drew
    if (!trace.meta || trace.meta.source !== 'paper') continue;
    Array.from(trace.y).forEach((y, i) => out.push([y, ...trace.customdata[i].slice(0, 3)]));
  }
  return {points: out, runs: plot.data.filter(t => t.meta && t.meta.source === 'run').length,
          drawn: document.querySelectorAll('.js-plotly-plot .trace').length};
}"""


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing in CI; install Debian's chromium (apt-get install chromium)")
        pytest.skip(f"{CHROMIUM} is missing; install Debian's chromium to run the browser test")
    sync_api = pytest.importorskip("playwright.sync_api")
    results = list(diagnose_dataset(load_tiny(), load_tiny_set(), progress=False))
    runs = run_frame(results_frame(results), "tiny · run1", "tiny", 0.5)
    out = tmp_path_factory.mktemp("figures")
    paper_figures.write_figures(paper_figures.paper_figures(runs), out, formats=("html",))
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        yield page, out
        browser.close()


@pytest.mark.parametrize("name", list(paper_figures.FIGURES))
def test_each_figure_draws_the_published_numbers_in_chromium(pages, name):
    page, out = pages
    page.goto((out / f"{name}.html").as_uri())
    page.wait_for_selector(".js-plotly-plot .main-svg", timeout=30_000)
    drawn = page.evaluate(PAPER_POINTS)
    frame = paper.published().set_index(["table", "row", "metric"])["value"]
    assert drawn["points"] and drawn["runs"] > 0 and drawn["drawn"] > 0
    for y, table, row, metric in drawn["points"]:
        assert y == frame[table, row, metric]
    page.screenshot(path=str(ARTIFACTS / f"paper_figure_{name}.png"), full_page=True)


def open_whole_set(page, base: str, query: str) -> None:
    """The real app's whole-set view for ``query``, once its chart is drawn and the page is idle."""
    from test_browser import wait_idle

    page.set_default_timeout(120_000)
    page.goto(base + "?view=dataset&" + query)
    page.wait_for_selector(".st-key-dataset_chart .js-plotly-plot", timeout=120_000)
    wait_idle(page)


def test_whole_set_view_of_the_positive_control_with_the_paper_figures(pages):
    """The real app (`streamlit run app.py`): demo-lang on its world, scored against gold classes;
    the run's MRC-KL bars and the paper's figures beside them, screenshotted."""
    from test_browser import start_server, wait_idle

    page, _ = pages
    for base in start_server("app.py"):
        open_whole_set(page, base, "model=demo-lang&dataset=demo-lang&region_labels=gold")
        bars = page.evaluate("""() => {
          const plot = document.querySelector('.st-key-dataset_chart .js-plotly-plot');
          const run = plot._fullData.filter(t => t.name === 'demo-lang (this run)' && t.xaxis === 'x2')[0];
          return Array.from(run.y);
        }""")
        none, phrase, everything = bars
        assert phrase - none >= 0.3 and everything - none >= 0.3, bars
        page.screenshot(path=str(ARTIFACTS / "app_positive_control.png"), full_page=True)
        page.get_by_text("The paper's figures, with this run beside them").click()
        page.wait_for_selector(".st-key-paper_figure_main .js-plotly-plot", timeout=60_000)
        wait_idle(page)
        page.locator(".st-key-paper_figure_main").screenshot(path=str(ARTIFACTS / "app_paper_figures.png"))


def test_every_loaded_model_grouped_in_the_whole_set_view(pages):
    """The real app: demo on its world, demo-gold chosen beside it, both run on the whole set
    (the button) and grouped like the paper's main figure, each named under its bars."""
    from test_browser import start_server, wait_idle

    page, _ = pages
    for base in start_server("app.py"):
        open_whole_set(page, base, "model=demo&dataset=demo")
        box = page.locator(".st-key-compare_models input")
        box.scroll_into_view_if_needed()  # at the viewport's edge its list opens out of sight
        box.click()
        page.get_by_role("option", name="demo-gold", exact=True).click()
        page.keyboard.press("Escape")
        wait_idle(page)
        page.locator(".st-key-group_run button").click()
        page.wait_for_selector(".st-key-fig_grouped .js-plotly-plot", timeout=120_000)
        wait_idle(page)
        drawn = page.evaluate("""() => {
          const plot = document.querySelector('.st-key-fig_grouped .js-plotly-plot');
          const runs = plot._fullData.filter(t => t.meta && t.meta.source === 'run');
          return {runs: runs.map(t => t.meta.run),
                  ticks: Array.from(plot.querySelectorAll('.xtick text')).map(t => t.textContent),
                  names: Array.from(plot.querySelectorAll('.annotation-text')).map(t => t.textContent)};
        }""")
        assert sorted(set(drawn["runs"])) == ["demo · demo", "demo-gold · demo"] and len(drawn["runs"]) == 12
        for name in ("demo", "demo-gold"):  # named on the axis, not only on hover
            assert any(tick.startswith(f"{name}demo") for tick in drawn["ticks"]), drawn["ticks"]
            assert drawn["names"].count(name) == 2, drawn["names"]  # above its bars in both panels
        page.locator(".st-key-fig_grouped").screenshot(path=str(ARTIFACTS / "app_models_grouped.png"))
