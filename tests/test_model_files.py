"""Checkpoint files that lie: dtypes relabelled in a safetensors header, half precision,
NaN weights, pickles that are not tensors. Each is refused (or cast) at load, with the file
and the tensor named, instead of loading garbage or failing at the first matmul."""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from vlexplore.models.base import ModelLoadError
from vlexplore.models.builtin import DEMO_DIR, load_builtin

transformers = pytest.importorskip("transformers")


def relabel(path: Path, old: str = "F32", new: str = "I32") -> str:
    """Rewrite the dtype of the first ``old`` tensor in a safetensors header; its name."""
    raw = path.read_bytes()
    size = int.from_bytes(raw[:8], "little")
    header = raw[8 : 8 + size].replace(f'"{old}"'.encode(), f'"{new}"'.encode(), 1)
    path.write_bytes(raw[:8] + header + raw[8 + size :])
    return next(k for k, v in json.loads(header).items() if k != "__metadata__" and v["dtype"] == new)


@pytest.fixture
def demo_copy(tmp_path) -> Path:
    for suffix in (".safetensors", ".json"):
        shutil.copy(DEMO_DIR / f"demo{suffix}", tmp_path / f"demo{suffix}")
    return tmp_path / "demo.safetensors"


def test_builtin_float_weight_relabelled_as_int_is_refused(demo_copy):
    name = relabel(demo_copy)
    with pytest.raises(ModelLoadError, match=rf"demo\.safetensors: {name} is stored as torch\.int32 but it is a torch\.float32 weight"):
        load_builtin(demo_copy)


def test_builtin_half_precision_checkpoint_is_cast_and_runs(demo_copy):
    reference = load_builtin(demo_copy)
    save_file({k: v.half() for k, v in load_file(str(demo_copy)).items()}, str(demo_copy))
    model = load_builtin(demo_copy)
    for name, tensor in model.network.state_dict().items():
        assert tensor.dtype == reference.network.state_dict()[name].dtype
        torch.testing.assert_close(tensor, reference.network.state_dict()[name], atol=2e-2, rtol=1e-2)


def test_builtin_nan_weight_is_refused(demo_copy):
    state = load_file(str(demo_copy))
    name = sorted(k for k, v in state.items() if v.dtype.is_floating_point)[3]
    state[name].view(-1)[0] = float("nan")
    save_file(state, str(demo_copy))
    with pytest.raises(ModelLoadError, match=rf"weight {name} contains NaN"):
        load_builtin(demo_copy)


@pytest.fixture(scope="module")
def visualbert_dir(tmp_path_factory) -> Path:
    directory = tmp_path_factory.mktemp("visualbert")
    config = transformers.VisualBertConfig(
        hidden_size=32, num_attention_heads=2, intermediate_size=64, num_hidden_layers=1,
        visual_embedding_dim=16,
    )  # fmt: skip
    torch.manual_seed(0)
    transformers.VisualBertForPreTraining(config).save_pretrained(directory)
    return directory


def test_hf_weight_relabelled_as_int_is_refused(visualbert_dir, tmp_path):
    from vlexplore import registry

    directory = tmp_path / "m"
    shutil.copytree(visualbert_dir, directory)
    name = relabel(directory / "model.safetensors")
    with pytest.raises(ModelLoadError, match=rf"model\.safetensors: weight {name} is stored as I32, not floating point"):
        registry.load_model(f"hf:{directory}", device="cpu")


class _Evil:
    def __reduce__(self):
        return (os.system, ("echo owned",))


def test_hf_pickle_with_code_is_refused_without_unsafe_advice(visualbert_dir, tmp_path):
    from vlexplore import registry

    directory = tmp_path / "m"
    directory.mkdir()
    shutil.copy(visualbert_dir / "config.json", directory)
    (directory / "pytorch_model.bin").write_bytes(pickle.dumps({"x": _Evil()}))
    with pytest.raises(ModelLoadError) as caught:
        registry.load_model(f"hf:{directory}", device="cpu")
    message = str(caught.value)
    assert "objects other than tensors" in message and "model.safetensors" in message
    assert "weights_only=False" not in message


def test_vocabulary_that_is_not_utf8_names_the_file(tmp_path):
    from vlexplore.errors import InputError
    from vlexplore.text import load_tokenizer

    vocab = tmp_path / "vocab.txt"
    vocab.write_bytes("[PAD]\n[UNK]\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(InputError, match=rf"vocabulary file {vocab} is not a WordPiece vocabulary"):
        load_tokenizer(vocab)


def _small_volta(tmp_path: Path, transform=None) -> tuple[Path, object]:
    from tests.test_volta import small_checkpoint, small_config

    path = small_checkpoint(tmp_path, "uniter")
    if transform is not None:
        state = torch.load(path, weights_only=True)
        torch.save({k: transform(k, v) for k, v in state.items()}, path)
    return path, small_config("uniter")


def test_volta_fp16_checkpoint_is_cast_to_fp32_and_runs(tmp_path):
    from tests.test_volta import volta_inputs
    from vlexplore.models.volta import load_volta

    path, config = _small_volta(tmp_path)
    reference = load_volta(path, "uniter", config=config)
    (tmp_path / "half").mkdir()
    half, _ = _small_volta(tmp_path / "half", lambda k, v: v.half())
    model = load_volta(half, "uniter", config=config)
    assert all(p.dtype == torch.float32 for p in model.parameters())
    inputs = volta_inputs(regions=5)
    with torch.no_grad():
        got, want = model(*inputs), reference(*inputs)  # failed at the first matmul before
    torch.testing.assert_close(got.text_logits, want.text_logits, atol=0.05, rtol=0.05)


def test_volta_nan_weight_is_refused(tmp_path):
    from vlexplore.models.volta import load_volta

    def poison(name, tensor):
        if name == "bert.encoder.layer.2.attention_self.query.weight":
            tensor = tensor.clone()
            tensor[0, 0] = float("nan")
        return tensor

    path, config = _small_volta(tmp_path, poison)
    with pytest.raises(ModelLoadError, match=r"weight bert\.encoder\.layer\.2\.attention_self\.query\.weight contains NaN"):
        load_volta(path, "uniter", config=config)


def test_volta_integer_weight_is_refused(tmp_path):
    from vlexplore.models.volta import load_volta

    path, config = _small_volta(tmp_path, lambda k, v: v.view(torch.int32) if k.endswith("query.weight") else v)
    with pytest.raises(ModelLoadError, match=r"query\.weight is stored as torch\.int32 but it is a torch\.float32 weight"):
        load_volta(path, "uniter", config=config)


@pytest.mark.parametrize("seed", range(8))
def test_random_bytes_are_not_a_checkpoint(tmp_path, seed):
    from vlexplore.models.volta import load_volta

    path = tmp_path / "pytorch_model_9.bin"
    path.write_bytes(bytes([0x80, 0x04][: seed % 2 * 2]) + os.urandom(4096))
    with pytest.raises(ModelLoadError) as caught:
        load_volta(path, "uniter")
    assert "pytorch_model_9.bin" in str(caught.value)
    assert "objects other than tensors" not in str(caught.value)
