"""How fast the app answers: time to first page, to the first result of a new example, and to
redraw after a condition toggle.

Two measurements of each:
- browser: a real `streamlit run` driven by Playwright + Debian's chromium at 1280x800; the
  clock runs from the user's action until the page shows the answer (metric text/URL) and
  Streamlit's "running" indicator is gone. This is what a user waits for.
- apptest: Streamlit's in-process AppTest; the script run alone (no network, no rendering).

And, with --exports, what an export click costs: a figure's PNG rendered by a one-shot kaleido
(what the page did before issue 13: a fresh renderer per click), the same PNG from the renderer
the page keeps warm, and the "export all for this phrase" zip.

Usage:
  HF_HUB_OFFLINE=1 python benchmarks/bench_app.py                 # built-in model and set
  HF_HUB_OFFLINE=1 python benchmarks/bench_app.py --model tiny     # tiny test model (always there)
  HF_HUB_OFFLINE=1 python benchmarks/bench_app.py --exports --skip-browser --repeats 5
Prints a Markdown table; --json writes the numbers too.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


def script_and_query(model: str, dataset: str) -> tuple[str, dict]:
    if model == "tiny":
        return "tests/app_tiny.py", {"model": "tiny", "dataset": "tinyset"}
    return "app.py", {"model": model, "dataset": dataset}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def example_ids(model: str, dataset: str) -> list[str]:
    sys.path.insert(0, str(ROOT / "tests"))
    from vlexplore import registry

    if model == "tiny":
        from tiny import load_tiny_set

        return [e.example_id for e in load_tiny_set()]
    return [e.example_id for e in registry.load_dataset(dataset).examples]


def bench_browser(model: str, dataset: str, repeats: int) -> dict:
    from playwright.sync_api import sync_playwright

    script, query = script_and_query(model, dataset)
    ids = example_ids(model, dataset)
    port = free_port()
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    server = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", script, "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    times: dict[str, list[float]] = {"first page": [], "new example": [], "toggle redraw": []}
    try:
        for _ in range(300):
            try:
                socket.create_connection(("127.0.0.1", port), 0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        url = f"http://127.0.0.1:{port}/?" + "&".join(f"{k}={v}" for k, v in query.items())
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)

            def idle(page):
                page.wait_for_function("() => !document.querySelector('[data-testid=\"stStatusWidget\"]')",
                                       timeout=120_000)

            for attempt in range(repeats):
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                start = time.perf_counter()
                page.goto(url)
                page.wait_for_selector('[data-testid="stMetric"]:has-text("MLM loss")', timeout=120_000)
                idle(page)
                times["first page"].append(time.perf_counter() - start)
                # a new example: one not seen before (its six conditions are not cached yet)
                target = ids[(1 + attempt) % len(ids)]
                page.get_by_text("Pick an example", exact=False).first.click()
                button = page.locator(f".st-key-open_{target} button").first
                if button.count():
                    start = time.perf_counter()
                    button.click()
                else:  # beyond the gallery: pick it in the list
                    start = time.perf_counter()
                    page.goto(url + f"&example={target}")
                page.wait_for_url(f"**example={target}**", timeout=120_000)
                page.wait_for_selector('[data-testid="stMetric"]:has-text("MLM loss")', timeout=120_000)
                idle(page)
                times["new example"].append(time.perf_counter() - start)
                for option in ("All", "Object"):
                    start = time.perf_counter()
                    page.locator(".st-key-vis4lang").get_by_role("radio", name=option, exact=True).click()
                    page.wait_for_selector(f'[data-testid="stMetric"]:has-text("MLM loss, {option}")',
                                           timeout=60_000)
                    idle(page)
                    times["toggle redraw"].append(time.perf_counter() - start)
                page.close()
            browser.close()
    finally:
        server.terminate()
        server.wait(10)
    return times


def bench_apptest(model: str, dataset: str, repeats: int) -> dict:
    sys.path.insert(0, str(ROOT / "tests"))
    from streamlit.testing.v1 import AppTest

    from vlexplore import registry

    registry.register_model("tiny", "tiny:load_tiny")
    registry.register_dataset("tinyset", "tiny:load_tiny_set")
    _, query = script_and_query(model, dataset)
    ids = example_ids(model, dataset)
    times: dict[str, list[float]] = {"first page": [], "new example": [], "toggle redraw": []}
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
            times["toggle redraw"].append(time.perf_counter() - start)
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="demo")
    parser.add_argument("--dataset", default="demo")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--skip-browser", action="store_true")
    parser.add_argument("--exports", action="store_true", help="time PNG and zip exports instead")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
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
    results = {}
    if args.exports:
        results["seconds per export"] = bench_exports(args.model, args.dataset, args.repeats)
        print(table(results, f"median (min–max, n); model `{args.model}`; {platform.machine()}, "
                             f"{os.cpu_count()} CPUs; PNG 1600x900 at scale 2."))
        return 0
    if not args.skip_browser and Path(CHROMIUM).exists():
        results["browser (streamlit run + chromium)"] = bench_browser(args.model, args.dataset, args.repeats)
    results["AppTest (script run only)"] = bench_apptest(args.model, args.dataset, args.repeats)
    dataset = "tinyset" if args.model == "tiny" else args.dataset
    note = (f"median (min–max, n repeats); model `{args.model}`, dataset `{dataset}`; {platform.machine()}, "
            f"{os.cpu_count()} CPUs, Python {platform.python_version()}. The first repeat's first page loads "
            "the model and examples (the max of that row); later repeats find them cached.")
    print(table(results, note))
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
