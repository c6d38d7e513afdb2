"""N browser sessions against the app for a fixed time: errors, latency percentiles, server RSS.

Starts `streamlit run app.py` on 127.0.0.1 (a free port; or ``--url`` to drive a running
one), opens ``--sessions`` Chromium tabs (one Streamlit session each) and lets each click
at random until ``--seconds`` have passed: open another example through a link, pick a
phrase, switch the MLM / MRC-KL condition, switch to the whole-set view and back. After
every action it waits for the rerun to finish and records its latency, and counts a
Streamlit traceback (``stException``) or an "internal error" message as an error. A sampler
reads the server's RSS (with its children) and asks ``/_stcore/health`` every 2 s.

    HF_HUB_OFFLINE=1 python benchmarks/load_test.py --sessions 8 --seconds 300 --out load.json

Loopback only; needs Debian's /usr/bin/chromium and the playwright package.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
IDLE = ("() => !document.querySelector('[data-testid=\"stStatusWidget\"], "
        "[data-testid=\"stSkeleton\"], [data-stale=\"true\"]')")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def rss_mb(pid: int) -> float:
    """Resident memory of ``pid`` and its children, in MB (Linux /proc)."""
    total = 0
    pids = [pid]
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    except OSError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            pass
    return total / 1024


def healthy(base: str) -> bool:
    try:
        with urllib.request.urlopen(base + "_stcore/health", timeout=5) as response:
            return response.status == 200
    except OSError:
        return False


def example_ids() -> list[str]:
    sys.path.insert(0, str(ROOT))
    from vlexplore.world.demo import load_demo_set

    return [e.example_id for e in load_demo_set(with_images=False)]


class Session:
    def __init__(self, number: int, base: str, ids: list[str], deadline: float, seed: int):
        self.number, self.base, self.ids, self.deadline = number, base, ids, deadline
        self.random = random.Random(seed)
        self.latencies: dict[str, list[float]] = {}
        self.errors: list[str] = []
        self.timeouts = 0

    async def idle(self, page) -> None:
        await page.wait_for_timeout(300)
        await page.wait_for_function(IDLE, timeout=180_000)

    async def act(self, page, name: str, action) -> None:
        start = time.perf_counter()
        try:
            await action()
            await self.idle(page)
        except Exception as error:  # a timeout or a vanished element: counted, the session goes on
            self.timeouts += 1
            self.errors.append(f"session {self.number} {name}: {type(error).__name__}: {str(error)[:120]}")
            return
        self.latencies.setdefault(name, []).append(time.perf_counter() - start)
        if await page.locator('[data-testid="stException"]').count():
            self.errors.append(f"session {self.number} {name}: traceback on the page")
        alerts = page.locator('[data-testid="stAlertContentError"]').filter(has_text="internal error")
        if await alerts.count():
            self.errors.append(f"session {self.number} {name}: {(await alerts.first.inner_text())[:160]}")

    async def run(self, browser) -> None:
        context = await browser.new_context(viewport={"width": 1280, "height": 800})
        page = await context.new_page()
        page.set_default_timeout(180_000)
        await self.act(page, "first page (to the first result)", lambda: self.open(page, self.base))
        while time.time() < self.deadline:
            choice = self.random.random()
            if choice < 0.25:
                example = self.random.choice(self.ids)
                await self.act(page, "open example (link)", lambda e=example: self.open(page, f"{self.base}?example={e}"))
            elif choice < 0.5:
                option = self.random.choice(["None", "Object", "All"])
                await self.act(page, "MLM condition", lambda o=option: self.click(page, "vis4lang", o))
            elif choice < 0.65:
                option = self.random.choice(["None", "Phrase", "All"])
                await self.act(page, "MRC-KL condition", lambda o=option: self.click(page, "lang4vis", o))
            elif choice < 0.9:
                await self.act(page, "pick phrase", lambda: self.pick_phrase(page))
            else:
                await self.act(page, "whole set view", lambda: self.click(page, "view", "Whole set"))
                await self.act(page, "back to one example", lambda: self.click(page, "view", "One example"))
        await context.close()

    async def open(self, page, url: str) -> None:
        """Load ``url`` in the tab, until the example's scores are shown (a new session's run)."""
        await page.goto(url)
        await page.wait_for_selector('[data-testid="stMetric"], [data-testid="stException"]')

    async def click(self, page, key: str, option: str) -> None:
        await page.locator(f".st-key-{key}").get_by_role("radio", name=option, exact=True).click(force=True)

    async def pick_phrase(self, page) -> None:
        radios = page.locator(".st-key-phrase").get_by_role("radio")
        count = await radios.count()
        if count:
            await radios.nth(self.random.randrange(count)).click(force=True)


async def sample(pid: int | None, base: str, stop: asyncio.Event, samples: list) -> None:
    start = time.time()
    while not stop.is_set():
        samples.append({"t": round(time.time() - start, 1), "rss_mb": rss_mb(pid) if pid else None,
                        "healthy": await asyncio.to_thread(healthy, base)})
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 2.0)


async def drive(base: str, pid: int | None, sessions: int, seconds: float, seed: int) -> dict:
    from playwright.async_api import async_playwright

    ids = example_ids()
    samples: list = []
    stop = asyncio.Event()
    sampler = asyncio.create_task(sample(pid, base, stop, samples))
    started = time.time()
    deadline = started + seconds
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        runs = [Session(n, base, ids, deadline, seed + n) for n in range(sessions)]
        await asyncio.gather(*(s.run(browser) for s in runs))
        await browser.close()
    stop.set()
    await sampler
    return report(runs, samples, time.time() - started, sessions, seconds)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def report(runs: list[Session], samples: list, wall: float, sessions: int, seconds: float) -> dict:
    latencies: dict[str, list[float]] = {}
    for run in runs:
        for name, values in run.latencies.items():
            latencies.setdefault(name, []).extend(values)
    every = [v for values in latencies.values() for v in values]
    rss = [s["rss_mb"] for s in samples if s["rss_mb"] is not None]
    warm = [s["rss_mb"] for s in samples if s["rss_mb"] is not None and s["t"] >= 60]
    return {
        "sessions": sessions,
        "seconds": seconds,
        "wall_s": round(wall, 1),
        "actions": len(every),
        "errors": [e for run in runs for e in run.errors],
        "timeouts": sum(run.timeouts for run in runs),
        "unhealthy_samples": sum(not s["healthy"] for s in samples),
        "samples": len(samples),
        "latency_s": {
            name: {"n": len(v), "p50": percentile(v, 50), "p90": percentile(v, 90),
                   "p99": percentile(v, 99), "max": max(v), "mean": statistics.fmean(v)}
            for name, v in sorted(latencies.items())
        },
        "rss_mb": {
            "start": rss[0] if rss else None,
            "after_warm_up_60s": warm[0] if warm else None,
            "end": rss[-1] if rss else None,
            "max": max(rss) if rss else None,
            "max_after_warm_up": max(warm) if warm else None,
        },
        "rss_trace": [(s["t"], s["rss_mb"]) for s in samples],
    }


def start_server(port: int, log_path: Path) -> subprocess.Popen:
    env = dict(os.environ, HF_HUB_OFFLINE="1", PYTHONPATH=str(ROOT))
    log = open(log_path, "w")  # noqa: SIM115 (the server outlives this function)
    process = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", "app.py", "--server.headless", "true",
         "--server.port", str(port), "--server.address", "127.0.0.1", "--browser.gatherUsageStats", "false"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    deadline = time.time() + 120
    while not healthy(f"http://127.0.0.1:{port}/"):
        if process.poll() is not None or time.time() > deadline:
            raise SystemExit(f"streamlit did not start; see {log_path}")
        time.sleep(0.5)
    return process


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--url", help="drive a running app (loopback only) instead of starting one")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default="load_test.json", help="where the JSON report goes")
    args = parser.parse_args()
    if not Path(CHROMIUM).exists():
        raise SystemExit(f"{CHROMIUM} is missing (apt-get install chromium)")
    process = None
    if args.url:
        if not args.url.startswith(("http://127.0.0.1", "http://localhost")):
            raise SystemExit("--url must be on this machine (http://127.0.0.1:PORT/)")
        base, pid = args.url.rstrip("/") + "/", None
    else:
        port = free_port()
        process = start_server(port, Path(args.out).with_suffix(".server.log"))
        base, pid = f"http://127.0.0.1:{port}/", process.pid
    try:
        result = asyncio.run(drive(base, pid, args.sessions, args.seconds, args.seed))
        result["server_alive_at_end"] = process.poll() is None if process else healthy(base)
    finally:
        if process is not None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"{result['sessions']} sessions x {result['seconds']:.0f} s: {result['actions']} actions, "
          f"{len(result['errors'])} errors ({result['timeouts']} timeouts), "
          f"{result['unhealthy_samples']}/{result['samples']} unhealthy health checks")
    print("| action | n | p50 s | p90 s | p99 s | max s |\n| --- | ---: | ---: | ---: | ---: | ---: |")
    for name, row in result["latency_s"].items():
        print(f"| {name} | {row['n']} | {row['p50']:.2f} | {row['p90']:.2f} | {row['p99']:.2f} | {row['max']:.2f} |")
    print("RSS MB:", json.dumps(result["rss_mb"]))
    for error in result["errors"][:20]:
        print("  ", error)
    return 0 if not result["errors"] and result.get("server_alive_at_end") else 1


if __name__ == "__main__":
    sys.exit(main())
