"""torchrun with 2 CPU processes (gloo) writes exactly what one process writes."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from vlexplore import distributed

ROOT = Path(__file__).resolve().parents[1]
ARGS = ["diagnose", "--model", "demo", "--dataset", "demo", "--limit", "100", "--batch-size", "4", "--quiet"]


def _env() -> dict:
    # one thread per process in both runs (torchrun's default), so the kernels are the same
    return {**os.environ, "HF_HUB_OFFLINE": "1", "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}


def test_two_gloo_processes_write_what_one_process_writes(tmp_path):
    one, two = tmp_path / "one", tmp_path / "two"
    single = subprocess.run([sys.executable, "-m", "vlexplore", *ARGS, "--out", str(one)],
                            cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=600)
    assert single.returncode == 0, single.stderr
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    sharded = subprocess.run([*torchrun, "-m", "vlexplore", *ARGS, "--out", str(two)],
                             cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=600)
    assert sharded.returncode == 0, sharded.stderr[-3000:]
    # 100 phrases in windows of 4 x 8 = 32: ranks 0 and 1 both ran windows
    assert (two / "phrases.csv").read_bytes() == (one / "phrases.csv").read_bytes()
    assert (two / "summary.json").read_text() == (one / "summary.json").read_text()
    assert len((two / "phrases.csv").read_text().splitlines()) == 101
    table = [line for line in sharded.stdout.splitlines() if line.startswith("demo ")]
    assert table == [line for line in single.stdout.splitlines() if line.startswith("demo ")]  # printed once


def test_outside_torchrun_nothing_is_sharded(monkeypatch):
    monkeypatch.delenv("WORLD_SIZE", raising=False)
    assert distributed.init_from_environment("cpu").type == "cpu"
    assert not distributed.is_sharded() and distributed.rank() == 0


@pytest.mark.parametrize("device", ["tpu", "cuda:x"])
def test_a_bad_device_is_named(device):
    with pytest.raises(ValueError, match="not a torch device"):
        distributed.init_from_environment(device)


def _shard_worker(rank: int, store: str, out: str) -> None:
    import json

    import torch.distributed as dist

    from vlexplore.batching import windows

    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    ran = []
    results = list(distributed.map_windows(windows(range(10), 3), lambda w: ran.append(w) or [10 * x for x in w]))
    Path(out, f"rank{rank}.json").write_text(json.dumps({"ran": ran, "results": results}))
    dist.destroy_process_group()


def test_windows_alternate_between_ranks_and_rank_0_gets_all_rows_in_order(tmp_path):
    import json

    import torch.multiprocessing as mp

    mp.spawn(_shard_worker, args=(str(tmp_path / "store"), str(tmp_path)), nprocs=2, join=True)
    rank0, rank1 = (json.loads((tmp_path / f"rank{r}.json").read_text()) for r in (0, 1))
    assert rank0["ran"] == [[0, 1, 2], [6, 7, 8]] and rank1["ran"] == [[3, 4, 5], [9]]
    assert rank0["results"] == [10 * x for x in range(10)] and rank1["results"] == []
