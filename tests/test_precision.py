"""--device and --precision on the CPU: every precision runs, fp32 is the exact default."""

import warnings

import numpy as np
import pytest
import torch
from tiny import TinyVL, make_example

from vlexplore import cli, registry
from vlexplore.engine import diagnose, diagnose_dataset
from vlexplore.models.common import PRECISIONS, precision_context

SCORES = ("mlm_bits_none", "mlm_bits_object", "mlm_bits_all", "mrc_kl_bits_none", "mrc_kl_bits_phrase", "mrc_kl_bits_all")


@pytest.fixture(scope="module")
def demo():
    return registry.load_model("demo"), registry.load_dataset("demo")


def _scores(model, dataset, **options) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = list(diagnose_dataset(model, dataset, limit=24, progress=False, **options))
    return np.array([[getattr(r, s) for s in SCORES] for r in results])


def test_fp32_is_the_exact_default(demo):
    model, dataset = demo
    default = _scores(model, dataset)
    assert np.array_equal(_scores(model, dataset, precision="fp32", device="cpu"), default)
    # tf32 changes nothing on a CPU without TF32 units beyond matmul rounding
    np.testing.assert_allclose(_scores(model, dataset, precision="tf32"), default, atol=1e-3)


@pytest.mark.slow  # autocast on a CPU: half-precision kernels without hardware support
@pytest.mark.parametrize("precision", ["bf16", "fp16"])
def test_half_precisions_run_and_stay_close(demo, precision):
    model, dataset = demo
    reference = _scores(model, dataset)
    half = _scores(model, dataset, precision=precision)
    assert half.shape == reference.shape and np.isfinite(half).all()
    assert not np.array_equal(half, reference)  # autocast did run the matmuls in half precision
    assert np.abs(half - reference).max() < (0.1 if precision == "bf16" else 0.02)  # bits (measured: 0.018, 0.003)


@pytest.mark.parametrize("precision", PRECISIONS)
def test_one_phrase_at_every_precision(precision):
    model = TinyVL()
    result = diagnose(model, make_example(), 0, precision=precision, device="cpu")
    assert all(np.isfinite(v) for side in result.scores.values() for v in side.values())
    assert model.device == torch.device("cpu")


def test_precision_context_restores_the_matmul_settings():
    before = torch.get_float32_matmul_precision()
    with precision_context("tf32", torch.device("cpu")):
        assert torch.get_float32_matmul_precision() == "high"
    with precision_context("bf16", torch.device("cpu")):
        assert torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
    assert torch.get_float32_matmul_precision() == before and not torch.is_autocast_enabled("cpu")


def test_bad_precision_and_device_are_clear_errors():
    model = TinyVL()
    with pytest.raises(ValueError, match="precision must be one of fp32, tf32, bf16, fp16"):
        diagnose(model, make_example(), 0, precision="fp8")
    with pytest.raises(ValueError, match="not a torch device"):
        diagnose(model, make_example(), 0, device="gpu0")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA GPU is available"):
            diagnose(model, make_example(), 0, device="cuda")


def test_to_moves_every_module_and_records_the_device():
    model = TinyVL()
    assert model.to("auto") is model
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert model.device.type == expected
    assert {p.device.type for module in (model.words, model.layer, model.mlm) for p in module.parameters()} == {expected}


def test_cli_device_and_precision(capsys):
    assert cli.main(["diagnose", "--model", "demo", "--dataset", "demo", "--limit", "8", "--quiet", "--json",
                     "--device", "cpu", "--precision", "tf32"]) == 0
    assert '"n": 8' in capsys.readouterr().out
    assert cli.main(["diagnose", "--model", "demo", "--limit", "8", "--quiet", "--device", "tpu"]) == 2
    assert "not a torch device" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["diagnose", "--precision", "fp64"])
    assert "invalid choice: 'fp64'" in capsys.readouterr().err
