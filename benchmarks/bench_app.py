"""How fast the app answers: the first page, the first result of a new example, and the redraw
after a condition switch, for this checkout and (with --before DIR) another one, in one run.

- browser: a real `streamlit run` driven by Playwright + Debian's chromium at 1280x800; the
  clock runs from the user's action until the page shows the answer (metric text, URL),
  Streamlit's "running" indicator is gone and the browser has painted twice. This is what a
  user waits for. Beside it, **script**: the seconds the server spent in the script runs the
  action caused (the whole page, or a fragment alone), timed by `benchmarks/app_timed.py`.
  With --before, both checkouts' servers run side by side and the repeats alternate between
  them (one fresh tab per repeat each), so both see the same machine load.
- apptest (--apptest): Streamlit's in-process AppTest, the whole script run alone (no network,
  no rendering; AppTest has no fragment reruns, so a switch is timed as a whole-page run).

And, with --exports, what an export click costs: a figure's PNG rendered by a one-shot kaleido
(what the page did before issue 13: a fresh renderer per click), the same PNG from the renderer
the page keeps warm, and the "export all for this phrase" zip.

Usage:
  git archive main | tar -x -C /tmp/app_before            # the baseline checkout
  HF_HUB_OFFLINE=1 python benchmarks/bench_app.py --before /tmp/app_before --repeats 5
  HF_HUB_OFFLINE=1 python benchmarks/bench_app.py --model tiny     # tiny test model (always there)
  HF_HUB_OFFLINE=1 python benchmarks/bench_app.py --exports --skip-browser --repeats 5
Prints a Markdown table and the load average; --json writes the numbers too.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
MEASURES = ("first page", "first page, returning visitor", "new example", "new example, in page",
            "condition switch", "condition switch, in page")
# In the page: from the pointerdown event to the paint after the page's last DOM change (the
# user's wait, without Playwright's own actionability checks and round trips around the click).
IN_PAGE = """(() => { window.__lastPaint = 0; window.__down = null;
  new MutationObserver(() => requestAnimationFrame(() => { window.__lastPaint = performance.now(); }))
    .observe(document, {subtree: true, childList: true, attributes: true, characterData: true});
  document.addEventListener('pointerdown', () => { window.__down = performance.now(); }, true); })()"""
SWITCHES = (("vis4lang", "All", "MLM loss, All"), ("vis4lang", "Object", "MLM loss, Object"),
            ("lang4vis", "All", "MRC-KL, All"), ("lang4vis", "Phrase", "MRC-KL, Phrase"))
# the switches by side as well: a Regions replaced switch redraws three charts, a Words masked one
# (Vision tab closed) none, so their pooled median falls between two modes and jumps with noise
SIDES = {"vis4lang": "· Regions replaced", "lang4vis": "· Words masked"}
ROWS = (*MEASURES, *SIDES.values(), *(side + ", in page" for side in SIDES.values()))


def script_and_query(model: str, dataset: str) -> tuple[str, dict]:
    if model == "tiny":
        return "tests/app_tiny.py", {"model": "tiny", "dataset": "tinyset"}
    return "app.py", {"model": model, "dataset": dataset}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def example_ids(model: str, dataset: str) -> list[str]:
    """The examples the gallery shows, in its order (the first is the one the page opens with):
    "new example" clicks one of these thumbnails, as a user does."""
    sys.path.insert(0, str(ROOT / "tests"))
    from vlexplore import registry
    from vlexplore.views.page.picker import distinct_scenes

    if model == "tiny":
        from tiny import load_tiny_set

        return [e.example_id for e in distinct_scenes(load_tiny_set())]
    return [e.example_id for e in distinct_scenes(registry.load_dataset(dataset))]


class Server:
    """`streamlit run` of ``root``'s app on a free port, its script runs timed (app_timed.py)."""

    def __init__(self, root: Path, script: str) -> None:
        self.port = free_port()
        self.log = Path(tempfile.mkstemp(prefix="app_runs_", suffix=".log")[1])
        env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(root), VLEXPLORE_APP=str(root / script),
                   VLEXPLORE_RUN_LOG=str(self.log))
        self.process = subprocess.Popen(
            [sys.executable, "-m", "streamlit", "run", str(ROOT / "benchmarks" / "app_timed.py"),
             "--server.headless", "true", "--server.port", str(self.port), "--server.address", "127.0.0.1",
             "--browser.gatherUsageStats", "false"],
            cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(600):
            with contextlib.suppress(OSError):
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            time.sleep(0.1)
        raise RuntimeError(f"streamlit did not start for {root}")

    def runs(self) -> list[tuple[str, float]]:
        lines = self.log.read_text().split()
        return [(kind, float(sec)) for kind, sec in zip(lines[::2], lines[1::2], strict=True)]

    def close(self) -> None:
        self.process.terminate()
        self.process.wait(10)
        self.log.unlink(missing_ok=True)


def one_repeat(browser, server: Server, query: dict, target: str, times: dict, scripts: dict) -> None:
    """One fresh tab: the first page, a new example, then the four condition switches."""
    url = f"http://127.0.0.1:{server.port}/?" + "&".join(f"{k}={v}" for k, v in query.items())

    def settled(page):
        page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')",
                               timeout=120_000)
        page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")

    def timed(measure: str, action, answer, in_page: bool = False) -> None:
        before = len(server.runs())
        start = time.perf_counter()
        action()
        answer()
        settled(page)
        times[measure].append(time.perf_counter() - start)
        if in_page:
            time.sleep(0.3)  # a change still on its way would move the last paint
            times[measure + ", in page"].append(page.evaluate("() => (window.__lastPaint - window.__down) / 1000"))
        # a run's line is written when Streamlit is done with it (the old page's GC after the
        # script included): wait for one, then until none came for 0.3 s (5 s at most)
        deadline, runs = time.perf_counter() + 5, []
        while time.perf_counter() < deadline:
            now = server.runs()[before:]
            if now and now == runs:
                break
            runs = now
            time.sleep(0.3)
        scripts[measure].append(sum(seconds for _, seconds in runs))
        if in_page:
            scripts[measure + ", in page"].append(scripts[measure][-1])

    # a fresh browser context per repeat: a first-time visitor, nothing in the browser's cache
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    context.add_init_script(IN_PAGE)
    page = context.new_page()
    metric = '[data-testid="stMetric"]:has-text("{}")'
    timed("first page", lambda: page.goto(url),
          lambda: page.wait_for_selector(metric.format("MLM loss"), timeout=120_000))
    page.get_by_text("Pick an example", exact=False).first.click()
    settled(page)
    button = page.locator(f".st-key-open_{target} button").first
    if not button.count():  # never time a page load as a click: that measured the wrong thing once
        raise SystemExit(f"the gallery shows no thumbnail of {target}")
    timed("new example", button.click,
          lambda: (page.wait_for_url(f"**example={target}**", timeout=120_000),
                   page.wait_for_selector(metric.format("MLM loss"), timeout=120_000)), in_page=True)
    for key, option, label in SWITCHES:
        radio = page.locator(f".st-key-{key}").get_by_role("radio", name=option, exact=True)
        timed("condition switch", radio.click,
              lambda label=label: page.wait_for_selector(metric.format(label), timeout=60_000), in_page=True)
        for measure in ("condition switch", "condition switch, in page"):  # and by side
            side = SIDES[key] + (", in page" if measure.endswith("in page") else "")
            times[side].append(times[measure][-1])
            scripts[side].append(scripts[measure][-1])
    page.close()
    page = context.new_page()  # the same visitor again: the app's scripts come from the browser's cache
    timed("first page, returning visitor", lambda: page.goto(url),
          lambda: page.wait_for_selector(metric.format("MLM loss"), timeout=120_000))
    context.close()


def bench_browser(roots: dict[str, Path], model: str, dataset: str, repeats: int) -> dict:
    """{checkout: {"browser": {measure: [s]}, "script": {measure: [s]}}}, repeats alternating."""
    from playwright.sync_api import sync_playwright

    script, query = script_and_query(model, dataset)
    ids = example_ids(model, dataset)
    servers = {name: Server(root, script) for name, root in roots.items()}
    out = {name: {"browser": {m: [] for m in ROWS}, "script": {m: [] for m in ROWS}} for name in roots}
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            for attempt in range(repeats):
                if attempt + 1 >= len(ids):
                    raise SystemExit(f"--repeats {repeats}: the gallery has {len(ids)} examples, "
                                     f"so at most {len(ids) - 1} repeats click one not opened before")
                target = ids[1 + attempt]  # not opened before in this server: not cached
                for name, server in servers.items():
                    one_repeat(browser, server, query, target, out[name]["browser"], out[name]["script"])
            browser.close()
    finally:
        for server in servers.values():
            server.close()
    return out


def bench_spinner() -> list[tuple[str, float, float]]:
    """A bert-base-size model (app_base_model.py: VOLTA UNITER, random weights) on a fresh server:
    each spinner text the page shows while it loads and runs, when it was first seen and when the
    result was (seconds from the navigation; the page is polled every 0.2 s), for the first page
    and for a new example."""
    from playwright.sync_api import sync_playwright

    server = Server(ROOT, "benchmarks/app_base_model.py")
    url = f"http://127.0.0.1:{server.port}/?model=uniter-random&dataset=regions36"
    spinners = "() => [...document.querySelectorAll('[data-testid=stSpinner]')].map(e => e.innerText.trim())"
    seen = []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            for action, address in (("first page", url), ("new example", url + "&example=r1")):
                start, texts = time.perf_counter(), {}
                page.goto(address)
                while not page.locator('[data-testid="stMetric"]:has-text("MLM loss")').count():
                    for text in page.evaluate(spinners):
                        texts.setdefault(text, time.perf_counter() - start)
                    if time.perf_counter() - start > 600:
                        raise TimeoutError("no result after 600 s")
                    time.sleep(0.2)
                done = time.perf_counter() - start
                seen += [(f"{action}: {text}", at, done) for text, at in texts.items() if text]
            browser.close()
    finally:
        server.close()
    return seen


def bench_apptest(model: str, dataset: str, repeats: int) -> dict:
    sys.path.insert(0, str(ROOT / "tests"))
    from streamlit.testing.v1 import AppTest

    from vlexplore import registry

    registry.register_model("tiny", "tiny:load_tiny")
    registry.register_dataset("tinyset", "tiny:load_tiny_set")
    _, query = script_and_query(model, dataset)
    ids = example_ids(model, dataset)
    times: dict[str, list[float]] = {m: [] for m in ("first page", "new example", "condition switch")}
    for attempt in range(repeats):
        at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
        at.query_params.update(query)
        start = time.perf_counter()
        at.run()
        times["first page"].append(time.perf_counter() - start)
        target = ids[(1 + attempt) % len(ids)]
        start = time.perf_counter()
        at.button(key=f"open_{target}").click().run() if f"open_{target}" in [
            b.key for b in at.button] else at.selectbox(key="example_picker").set_value(target).run()
        times["new example"].append(time.perf_counter() - start)
        for option in ("all", "object"):
            start = time.perf_counter()
            at.segmented_control(key="vis4lang").set_value(option).run()
            times["condition switch"].append(time.perf_counter() - start)
        assert not at.exception, [e.value for e in at.exception]
    return times


def bench_exports(model: str, dataset: str, repeats: int) -> dict:
    """Seconds per PNG (one-shot renderer vs the warm one) and per zip of one phrase's figures."""
    sys.path.insert(0, str(ROOT / "tests"))
    import plotly.io as pio

    from vlexplore.engine import diagnose
    from vlexplore.views import export, figures, overlay, sources

    if model == "tiny":
        from tiny import TinyVL, load_tiny_set

        vl, example = TinyVL(), load_tiny_set().examples[0]
    else:
        vl, example = sources.load_model(model), sources.load_dataset(dataset).examples[0]
    diagnosis = diagnose(vl, example, (example.diagnosable_phrases() or [0])[0], all_regions=True)
    image = overlay.example_image(example)
    figs = {"tokens": figures.token_figure(diagnosis), "top predictions": figures.topk_figure(diagnosis, 0),
            "region KL": figures.region_kl_figure(diagnosis), "change map": figures.heat_figure(diagnosis, image)}
    tables = {"tokens": diagnosis.tokens, "topk": diagnosis.topk, "regions": diagnosis.regions}
    slide = export.slide_figure(figs["top predictions"])
    times: dict[str, list[float]] = {"PNG, one-shot renderer": [], "PNG, warm renderer": [],
                                     "zip of the phrase": []}
    for _ in range(repeats):
        start = time.perf_counter()
        pio.to_image(slide, format="png", width=export.SLIDE_SIZE[0], height=export.SLIDE_SIZE[1], scale=2)
        times["PNG, one-shot renderer"].append(time.perf_counter() - start)
    export.warm_renderer()
    export.png_bytes(figs["tokens"], scale=0.1)  # the page primes the renderer when it shows the export
    for _ in range(repeats):
        for fig in figs.values():
            start = time.perf_counter()
            export.png_bytes(fig)
            times["PNG, warm renderer"].append(time.perf_counter() - start)
        start = time.perf_counter()
        export.phrase_zip(figs, tables, "bench")
        times["zip of the phrase"].append(time.perf_counter() - start)
    return times


def table(results: dict, note: str) -> str:
    lines = [f"| measure | {' | '.join(results)} |", "|---|" + "---|" * len(results)]
    measures = list(next(iter(results.values())))
    for measure in measures:
        cells = []
        for times in results.values():
            values = times[measure]
            cells.append(f"{statistics.median(values):.2f} s ({min(values):.2f}–{max(values):.2f}, n={len(values)})")
        lines.append(f"| {measure} | {' | '.join(cells)} |")
    return "\n".join(lines) + f"\n\n{note}\n"


def cell(values: list[float], ms: bool = False) -> str:
    if not values:
        return "–"
    scale, unit, digits = (1000, " ms", 0) if ms else (1, " s", 2)
    med, low, high = (v * scale for v in (statistics.median(values), min(values), max(values)))
    return f"{med:.{digits}f}{unit} ({low:.{digits}f}–{high:.{digits}f}, n={len(values)})"


TARGETS = {"first page": "≤ 3 s", "first page, returning visitor": "≤ 3 s", "new example": "≤ 0.6 s",
           "new example, in page": "≤ 0.6 s", "condition switch": "≤ 0.25 s (script ≤ 50 ms)",
           "condition switch, in page": "≤ 0.25 s"}
TARGETS |= dict.fromkeys(ROWS[len(MEASURES):], "≤ 0.25 s")


def browser_table(out: dict) -> str:
    """One row per measure: each checkout's browser and script times, and before / after."""
    names = list(out)
    head = " | ".join(f"{name}: browser | {name}: script" for name in names)
    lines = [f"| measure | {head} |" + (" before / after |" if len(names) == 2 else "") + " target |",
             "|---|" + "---|" * (2 * len(names) + (len(names) == 2) + 1)]
    for measure in ROWS:
        cells = []
        for name in names:
            cells += [cell(out[name]["browser"][measure]), cell(out[name]["script"][measure], ms=True)]
        if len(names) == 2:
            before, after = (statistics.median(out[n]["browser"][measure]) for n in names)
            cells.append(f"{before / after:.1f}x")
        lines.append(f"| {measure} | {' | '.join(cells)} | {TARGETS[measure]} |")
    return "\n".join(lines)


class LoadAverage:
    """The 1-minute load average, sampled every 2 s while the benchmark runs."""

    def __init__(self) -> None:
        import threading

        self.samples: list[float] = [os.getloadavg()[0]]
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.sample, daemon=True)
        self.thread.start()

    def sample(self) -> None:
        while not self.stop.wait(2.0):
            self.samples.append(os.getloadavg()[0])

    def summary(self) -> str:
        self.stop.set()
        values = self.samples
        return (f"load average (1 min) during the run: median {statistics.median(values):.1f}, "
                f"{min(values):.1f}–{max(values):.1f} ({len(values)} samples)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="demo")
    parser.add_argument("--dataset", default="demo")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--before", type=Path, help="another checkout (e.g. main) to measure in the same run")
    parser.add_argument("--skip-browser", action="store_true")
    parser.add_argument("--apptest", action="store_true", help="also time whole-script runs with AppTest")
    parser.add_argument("--exports", action="store_true", help="time PNG and zip exports instead")
    parser.add_argument("--spinner", action="store_true",
                        help="instead: which spinners a bert-base-size model's first page and new example show")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if args.spinner:
        for text, appeared, done in bench_spinner():
            print(f"{text!r}: appeared at {appeared:.1f} s, result at {done:.1f} s")
        return 0
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    sys.path.insert(0, str(ROOT))
    if args.model != "tiny":
        from vlexplore.views import sources

        try:
            sources.load_model(args.model)
            sources.load_dataset(args.dataset)
        except ValueError as error:
            print(f"note: {error}\nnote: measuring with the tiny test model instead", file=sys.stderr)
            args.model = "tiny"
    if args.exports:
        results = {"seconds per export": bench_exports(args.model, args.dataset, args.repeats)}
        print(table(results, f"median (min–max, n); model `{args.model}`; {platform.machine()}, "
                             f"{os.cpu_count()} CPUs; PNG 1600x900 at scale 2."))
        return 0
    load = LoadAverage()
    dataset = "tinyset" if args.model == "tiny" else args.dataset
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    results: dict = {}
    if not args.skip_browser and Path(CHROMIUM).exists():
        roots = ({"before": args.before.resolve()} if args.before else {}) | {"this checkout": ROOT}
        results["browser"] = bench_browser(roots, args.model, args.dataset, args.repeats)
        print(browser_table(results["browser"]) + "\n")
    if args.apptest:
        results["apptest"] = bench_apptest(args.model, args.dataset, args.repeats)
        print(table({"AppTest (whole script run)": results["apptest"]}, ""))
    print(f"median (min–max, n); run of {started}; model `{args.model}`, dataset `{dataset}`; "
          f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}; {load.summary()}. "
          "The first repeat's first page loads the model and examples (the max of that row); later "
          "repeats find them cached; each repeat's new example is one that server has not run before.")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
