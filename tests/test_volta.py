"""The five VOLTA architectures: state-dict names and shapes, loading, errors, the adapter."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.flickr_fixture import write_entities, write_tsv
from vlexplore import registry
from vlexplore.data.flickr30k import load_flickr30k
from vlexplore.diagnostics import summarize
from vlexplore.engine import diagnose, diagnose_dataset
from vlexplore.models.base import ModelLoadError, RegionInput, VLBatch
from vlexplore.models.volta import (
    ARCHS,
    VoltaBackend,
    VoltaConfig,
    VoltaForPretraining,
    load_from_spec,
    load_volta,
)

KEYS_FILE = Path(__file__).parent / "data" / "volta_state_dict_keys.txt"
LISTING_NAMES = {
    "ctrl_lxmert": "lxmert",
    "ctrl_vilbert_base": "vilbert",
    "ctrl_vl-bert_base": "vl-bert",
    "ctrl_visualbert_base": "visualbert",
    "ctrl_uniter_base": "uniter",
}


def reference_listing() -> dict[str, dict]:
    """Per architecture: key count, {name with layer.N: (count, shape)}, output shapes."""
    out = {}
    for block in re.split(r"^===== ", KEYS_FILE.read_text(), flags=re.M)[1:]:
        head = block.split()
        keys = {}
        for line in block.splitlines():
            match = re.match(r"^  (\S+)\s+x(\d+)\s+\((.*)\)$", line)
            if match:
                shape = tuple(int(x) for x in match.group(3).split(",") if x.strip())
                keys[match.group(1)] = (int(match.group(2)), shape)
        shapes = re.search(
            r"\[\((\d+), (\d+), (\d+)\), \{'0': \((\d+), (\d+), (\d+)\)\}, \((\d+), (\d+)\)\]",
            block,
        )
        numbers = [int(x) for x in shapes.groups()]
        out[LISTING_NAMES[head[0]]] = {
            "count": int(head[2]),
            "keys": keys,
            "outputs": (tuple(numbers[:3]), tuple(numbers[3:6]), tuple(numbers[6:])),
        }
    return out


def grouped(state: dict[str, torch.Tensor]) -> dict[str, tuple[int, tuple[int, ...]]]:
    groups: dict[str, list] = defaultdict(lambda: [0, None])
    for name, tensor in state.items():
        key = re.sub(r"layer\.\d+\.", "layer.N.", name)
        groups[key][0] += 1
        groups[key][1] = tuple(tensor.shape)
    return {k: (v[0], v[1]) for k, v in groups.items()}


def volta_inputs(batch: int = 2, text: int = 38, regions: int = 36, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    ids = torch.randint(1000, 30000, (batch, text), generator=generator)
    ids[:, 0], ids[:, -1] = 101, 102
    feat = torch.rand(batch, 1 + regions, 2048, generator=generator)
    feat[:, 0] = feat[:, 1:].mean(1)
    corner = torch.rand(batch, regions, 2, generator=generator) * 0.5
    loc = torch.cat([corner, corner + 0.4], -1)
    area = (loc[..., 2] - loc[..., 0]) * (loc[..., 3] - loc[..., 1])
    loc = torch.cat([loc, area[..., None]], -1)
    loc = torch.cat([torch.tensor([0.0, 0, 1, 1, 1]).expand(batch, 1, 5), loc], 1)
    return (
        ids,
        feat,
        loc,
        torch.zeros_like(ids),
        torch.ones_like(ids),
        torch.ones(batch, 1 + regions, dtype=torch.long),
    )


@pytest.fixture(scope="module")
def full_checkpoints(tmp_path_factory):
    """Each architecture at full size with random weights, saved as a plain state dict."""
    folder = tmp_path_factory.mktemp("volta")
    paths = {}
    for arch in ARCHS:
        torch.manual_seed(0)
        model = VoltaForPretraining(VoltaConfig.for_arch(arch))
        paths[arch] = folder / f"{arch}.bin"
        torch.save(model.state_dict(), paths[arch])
        del model
    return paths


@pytest.mark.slow
@pytest.mark.xdist_group("volta_full_size")  # one worker builds the five full-size checkpoints
@pytest.mark.parametrize("arch", ARCHS)
def test_full_size_state_dict_and_outputs_match_the_reference_listing(full_checkpoints, arch):
    listing = reference_listing()[arch]
    model = load_volta(full_checkpoints[arch], arch)
    assert not model.training
    state = model.state_dict()
    assert len(state) == listing["count"]
    assert grouped(state) == listing["keys"]
    # the MLM decoder is the word-embedding matrix itself
    assert model.cls.predictions.decoder.weight is model.bert.embeddings.word_embeddings.weight
    with torch.no_grad():
        out = model(*volta_inputs())
    text, regions, itm = listing["outputs"]
    assert tuple(out.text_logits.shape) == text
    assert tuple(out.region_logits.shape) == regions
    assert tuple(out.itm_logits.shape) == itm
    assert torch.isfinite(out.text_logits).all() and torch.isfinite(out.region_logits).all()


@pytest.mark.slow
@pytest.mark.xdist_group("volta_full_size")  # one worker builds the five full-size checkpoints
def test_checkpoint_of_another_architecture_is_named(full_checkpoints):
    with pytest.raises(ModelLoadError) as error:
        load_volta(full_checkpoints["vilbert"], "lxmert")
    message = str(error.value)
    assert "vilbert.bin" in message and "missing keys" in message and "unexpected keys" in message
    assert "looks like a vilbert checkpoint; pass --model volta:vilbert" in message


@pytest.mark.slow
@pytest.mark.xdist_group("volta_full_size")  # one worker builds the five full-size checkpoints
def test_registry_loads_a_volta_checkpoint(full_checkpoints):
    model = registry.load_model(
        "volta:uniter", checkpoint=str(full_checkpoints["uniter"]), device="cpu"
    )
    assert isinstance(model, VoltaBackend)
    assert model.name == "volta:uniter" and model.feature_dim == 2048
    assert len(model.region_class_names) == 1601 and len(model.tokenizer) == 30522


# Small models (hidden 64, the last sublayers of each layout) ------------------------------
def small_config(arch: str) -> VoltaConfig:
    config = VoltaConfig.for_arch(arch)
    changes = dict(hidden_size=64, v_hidden_size=64, num_attention_heads=4, v_num_attention_heads=4,
                   intermediate_size=128, v_intermediate_size=128, pooler_size=32, v_pooler_size=32)  # fmt: skip
    if arch == "vl-bert":
        changes.update(v_feature_size=2048, v_coordinate_embeddings_dim=256)
    return config.replace(**changes).keep_last_sublayers(4)


def small_checkpoint(tmp_path: Path, arch: str, seed: int = 0, prefix: str = "") -> Path:
    torch.manual_seed(seed)
    model = VoltaForPretraining(small_config(arch))
    with torch.no_grad():  # LayerNorm gains of 1 and zero biases would hide wiring mistakes
        for parameter in model.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.05)
    path = tmp_path / f"{arch}-small.bin"
    torch.save({prefix + k: v for k, v in model.state_dict().items()}, path)
    return path


def test_keep_last_sublayers_keeps_the_cross_modal_tail():
    lxmert = VoltaConfig.for_arch("lxmert").keep_last_sublayers(4)
    assert lxmert.depth == 4
    assert lxmert.tv_attn_sublayers == (1,) and lxmert.shared_sublayers == (1,)
    assert lxmert.tt_attn_sublayers == (2,) and lxmert.t_ff_sublayers == (0, 3)
    uniter = VoltaConfig.for_arch("uniter").keep_last_sublayers(4)
    assert uniter.tt_attn_sublayers == uniter.vv_attn_sublayers == (0, 2)


def test_dataparallel_prefix_and_pre_1_6_file_format_are_tolerated(tmp_path):
    path = small_checkpoint(tmp_path, "vilbert", prefix="module.")
    state = torch.load(path, weights_only=True)
    legacy = tmp_path / "legacy.bin"  # 2020-era checkpoints predate the zip format
    torch.save(state, legacy, _use_new_zipfile_serialization=False)
    model = load_volta(legacy, "vilbert", config=small_config("vilbert"))
    first = model.bert.encoder.layer[0].attention_self.query.weight
    torch.testing.assert_close(
        first, state["module.bert.encoder.layer.0.attention_self.query.weight"]
    )


def test_truncated_checkpoint_names_the_file(tmp_path):
    path = small_checkpoint(tmp_path, "uniter")
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(
        ModelLoadError, match=r"could not read .*uniter-small\.bin: the file is truncated"
    ):
        load_volta(path, "uniter", config=small_config("uniter"))


@pytest.mark.parametrize("content", [b"hello world" * 10, b"", b"PK\x03\x04 not really a zip"])
def test_a_file_that_is_not_a_checkpoint_names_the_file(tmp_path, content):
    path = tmp_path / "pytorch_model_9.bin"
    path.write_bytes(content)
    with pytest.raises(
        ModelLoadError,
        match=r"pytorch_model_9\.bin(: the file is truncated, corrupt| is not a PyTorch checkpoint)",
    ):
        load_volta(path, "uniter")


def test_pickled_objects_are_refused(tmp_path):
    path = tmp_path / "model.bin"
    torch.save({"weights": torch.zeros(2), "note": object()}, path)
    with pytest.raises(ModelLoadError, match="refuses to unpickle"):
        load_volta(path, "uniter")


def test_missing_checkpoint_says_where_to_download():
    with pytest.raises(ModelLoadError, match=r"--checkpoint PATH") as error:
        load_from_spec("uniter")
    assert "MODELS.md" in str(error.value) and "pytorch_model_9.bin" in str(error.value)
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_from_spec("uniter", checkpoint="/nonexistent/pytorch_model_9.bin")
    with pytest.raises(ModelLoadError, match="unknown VOLTA architecture"):
        load_from_spec("oscar", checkpoint="x.bin")


def test_fine_tuned_checkpoint_without_heads_is_explained(tmp_path):
    torch.manual_seed(0)
    state = VoltaForPretraining(small_config("uniter")).state_dict()
    state = {k: v for k, v in state.items() if not k.startswith("cls.")}
    state["clfs_dict.TASK8.weight"] = torch.zeros(1, 32)
    path = tmp_path / "vqa.bin"
    torch.save(state, path)
    with pytest.raises(ModelLoadError, match=r"vqa\.bin.*(?s:.*)fine-tuned task checkpoint"):
        load_volta(path, "uniter", config=small_config("uniter"))


def test_wrong_shapes_are_listed(tmp_path):
    path = small_checkpoint(tmp_path, "uniter")
    with pytest.raises(
        ModelLoadError,
        match=r"(?s)320 missing keys.*shape mismatches: .* is \(64,\), expected \(768,\)",
    ):
        load_volta(path, "uniter")


@pytest.mark.parametrize("arch", ARCHS)
def test_adapter_heads_at_positions_equal_the_full_forward(tmp_path, arch):
    """The backend's layout ([global; regions], [0,0,1,1,1] box first) and position gathering."""
    model = load_volta(small_checkpoint(tmp_path, arch), arch, config=small_config(arch))
    backend = VoltaBackend(model, arch)
    torch.manual_seed(1)
    b, n = 3, 5
    boxes = torch.tensor(
        [[10.0, 10, 50, 40], [0, 0, 99, 79], [30, 5, 60, 70], [5, 50, 20, 60], [0, 0, 0, 0]]
    )
    features = torch.rand(b, n, 2048)
    mask = torch.tensor([[1, 1, 1, 1, 0]] * b)
    visual = RegionInput(
        features=features,
        global_features=features[:, :4].mean(1),
        boxes=boxes.expand(b, n, 4).clone(),
        image_sizes=torch.tensor([[100.0, 80.0]] * b),
        mask=mask,
        ablated=torch.zeros(b, n, dtype=torch.bool),
    )
    ids = torch.tensor(
        [
            [101, 1037, 2158, 103, 102, 0],
            [101, 103, 103, 2003, 2770, 102],
            [101, 2023, 102, 0, 0, 0],
        ]
    )
    batch = VLBatch(
        input_ids=ids,
        attention_mask=(ids != 0).long(),
        visual=visual,
        text_positions=torch.tensor([[3, 2], [1, 2], [1, 1]]),
        region_positions=torch.tensor([[0, 2], [3, 1], [0, 0]]),
    )
    out = backend.forward(batch)
    inputs = backend.volta_inputs(batch)
    assert torch.equal(inputs["image_loc"][:, 0], torch.tensor([[0.0, 0, 1, 1, 1]] * b))
    np.testing.assert_allclose(
        inputs["image_loc"][0, 1].numpy(), [0.1, 0.125, 0.5, 0.5, 0.4 * 0.375], rtol=1e-6
    )
    assert torch.equal(inputs["image_attention_mask"][0], torch.tensor([1, 1, 1, 1, 1, 0]))
    with torch.no_grad():
        full = model(**inputs)
    rows = torch.arange(b)[:, None]
    torch.testing.assert_close(
        out.text_logits, full.text_logits[rows, batch.text_positions], rtol=1e-5, atol=1e-5
    )
    torch.testing.assert_close(
        out.region_logits,
        full.region_logits[rows, batch.region_positions + 1],
        rtol=1e-5,
        atol=1e-5,
    )
    assert out.text_logits.shape == (b, 2, 30522) and out.region_logits.shape == (b, 2, 1601)
    # with positions the last layer runs only where read (and at the poolers' first rows)
    with torch.no_grad():
        read = model(**inputs, text_positions=batch.text_positions, region_positions=batch.region_positions + 1)
    torch.testing.assert_close(read.itm_logits, full.itm_logits, rtol=1e-5, atol=1e-5)


def test_vl_bert_rows_do_not_depend_on_their_batch(tmp_path):
    """VL-BERT positions depend on caption length; each row is computed from its own length."""
    model = load_volta(
        small_checkpoint(tmp_path, "vl-bert"), "vl-bert", config=small_config("vl-bert")
    )
    ids, feat, loc, types, _, image_mask = volta_inputs(batch=2, text=10, regions=4)
    ids[1, 5:] = 0
    ids[1, 4] = 102
    mask = (ids != 0).long()
    feat[0, 2] = 0  # a zeroed region becomes VL-BERT's learned mask embedding
    with torch.no_grad():
        together = model(ids, feat, loc, types, mask, image_mask)
        alone = [model(ids[i : i + 1], feat[i : i + 1], loc[i : i + 1], types[i : i + 1], mask[i : i + 1],
                       image_mask[i : i + 1]) for i in range(2)]  # fmt: skip
        replaced = feat.clone()
        replaced[0, 2] = model.bert.embeddings.object_mask_visual_embedding.weight[0]
        explicit = model(ids, replaced, loc, types, mask, image_mask)
    # 1e-4: a batch of two and a batch of one take different matmul blockings (2.3e-5 seen
    # with 2 threads); a position mix-up across rows moves logits by far more than that.
    for i in range(2):
        torch.testing.assert_close(
            together.text_logits[i], alone[i].text_logits[0], rtol=1e-5, atol=1e-4
        )
        torch.testing.assert_close(
            together.region_logits[i], alone[i].region_logits[0], rtol=1e-5, atol=1e-4
        )
    torch.testing.assert_close(together.region_logits, explicit.region_logits)


@pytest.mark.parametrize("arch", ["uniter", "lxmert", "vl-bert"])
def test_engine_end_to_end_on_flickr30k_files(tmp_path, arch):
    write_entities(tmp_path / "f30k")
    features = write_tsv(tmp_path / "feats.tsv", fields=13)
    dataset = load_flickr30k(tmp_path / "f30k", features=features, progress=False)
    model = VoltaBackend(
        load_volta(small_checkpoint(tmp_path, arch), arch, config=small_config(arch)), arch
    )
    results = list(diagnose_dataset(model, dataset, batch_size=2, progress=False))
    assert len(results) == len(dataset.units()) == 5
    summary = summarize(results)
    assert summary["n"] == 5
    for condition in ("none", "object", "all"):
        assert math.isfinite(summary["vis4lang"][condition]) and summary["vis4lang"][condition] > 0
    assert summary["n_lang4vis"] >= 1
    assert all(
        math.isfinite(summary["lang4vis"][c]) and summary["lang4vis"][c] >= 0
        for c in ("none", "phrase", "all")
    )
    # ablating every region changes the MLM readout of a random model (the visual input is used)
    diagnosis = diagnose(model, dataset[0], 0, average_feature=dataset.average_region_feature())
    scores = diagnosis.scores["vis4lang"]
    assert scores["none"] != scores["all"]


@pytest.mark.parametrize("arch", ["uniter", "visualbert", "vl-bert"])
def test_single_stream_fast_path_equals_the_stream_by_stream_computation(tmp_path, arch):
    model = load_volta(small_checkpoint(tmp_path, arch), arch, config=small_config(arch))
    assert model.bert.encoder.joint
    inputs = volta_inputs(batch=2, text=12, regions=5)
    inputs[4][1, 8:] = 0  # padding in the second caption
    with torch.no_grad():
        fast = model(*inputs)
        model.bert.encoder.joint = False
        slow = model(*inputs)
    torch.testing.assert_close(fast.text_logits, slow.text_logits, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(fast.region_logits, slow.region_logits, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(fast.itm_logits, slow.itm_logits, rtol=1e-5, atol=1e-5)
    assert not VoltaForPretraining(small_config("vilbert")).bert.encoder.joint


@pytest.mark.parametrize("arch", ARCHS)
def test_outputs_match_the_authors_implementation(arch):
    """Same weights and inputs as the authors' VOLTA code was run on (see tests/volta_golden.py)."""
    from tests.volta_golden import KEEP, golden_config, golden_inputs, seeded_state

    expected = np.load(Path(__file__).parent / "data" / "volta_reference_outputs.npz")
    model = VoltaForPretraining(golden_config(arch)).eval()
    model.load_state_dict(seeded_state(model), strict=True)
    with torch.no_grad():
        out = model(*golden_inputs())
    np.testing.assert_allclose(
        out.text_logits[..., :KEEP].numpy(), expected[f"{arch}/text"], atol=1e-4, rtol=0
    )
    np.testing.assert_allclose(
        out.region_logits[..., :KEEP].numpy(), expected[f"{arch}/region"], atol=1e-4, rtol=0
    )
    np.testing.assert_allclose(out.itm_logits.numpy(), expected[f"{arch}/itm"], atol=1e-4, rtol=0)
