"""Generative VLMs (Idefics3/SmolVLM, SmolVLM2, LLaVA, LLaVA-OneVision, Qwen2-VL, Qwen2.5-VL) on tiny random checkpoints."""

from __future__ import annotations

import json
import math
import shutil

import numpy as np
import pytest
import torch
from tiny_vlm import (
    VOCAB_SIZE,
    save_tiny_idefics3,
    save_tiny_llava,
    save_tiny_llava_onevision,
    save_tiny_qwen2_vl,
    save_tiny_smolvlm,
    tiny_tokenizer,
)

from vlexplore import registry
from vlexplore.models.base import ModelLoadError, PixelInput, VLBatch
from vlexplore.models.vlm.base import VLMBackend, paint_cells
from vlexplore.models.vlm.geometry import ImageView, join_views, tokens_under_boxes
from vlexplore.models.vlm.prompt import render_prompt
from vlexplore.records import Phrase

FAMILIES = ["idefics3", "smolvlm", "llava", "llava_onevision", "qwen2_vl", "qwen2_5_vl"]
CAPTION = "a man in a red shirt rides a bike"
PHRASE = Phrase("a red shirt", 3, 3, boxes=np.array([[10.0, 10.0, 60.0, 50.0]]))


def _save(family: str, directory):
    if family == "idefics3":
        return save_tiny_idefics3(directory)
    if family == "smolvlm":
        return save_tiny_smolvlm(directory)
    if family == "llava":
        return save_tiny_llava(directory)
    if family == "llava_onevision":
        return save_tiny_llava_onevision(directory)
    return save_tiny_qwen2_vl(directory, "2" if family == "qwen2_vl" else "2.5")


@pytest.fixture(scope="module")
def directories(tmp_path_factory):
    return {family: _save(family, tmp_path_factory.mktemp(family)) for family in FAMILIES}


@pytest.fixture(scope="module")
def models(directories):
    return {family: registry.load_model(f"hf:{directories[family]}", device="cpu") for family in FAMILIES}


def picture(height=90, width=150, seed=0) -> np.ndarray:
    return np.random.RandomState(seed).randint(0, 256, (height, width, 3), dtype=np.uint8)


def three_conditions(
    model: VLMBackend, image: np.ndarray, phrase: Phrase = PHRASE, caption: str = CAPTION, baseline: str = "image token mean",
    replacement: np.ndarray | None = None,
):
    """A batch of the None / Object / All rows of one phrase, as the engine builds it."""
    encoded = model.encode_caption(caption, phrase)
    size = (image.shape[1], image.shape[0])
    tokens = len(model.patch_boxes(size))
    object_mask = torch.as_tensor(model.patches_under_boxes(size, phrase.boxes))
    ablation = torch.stack([torch.zeros(tokens, dtype=torch.bool), object_mask, torch.ones(tokens, dtype=torch.bool)])
    ids = torch.tensor([encoded.input_ids] * 3)
    batch = VLBatch(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        visual=PixelInput(images=[image] * 3, patch_ablation=ablation, baseline=baseline, replacement=replacement),
        text_positions=torch.tensor([encoded.phrase_positions] * 3),
    )
    return encoded, batch


def own_forward_logits(model: VLMBackend, image: np.ndarray, caption: str = CAPTION):
    """The model's unmodified forward on the processor's output for the full prompt."""
    text, _ = render_prompt(model.processor, caption)
    inputs = model.processor(text=[text], images=[image], add_special_tokens=False, return_tensors="pt")
    with torch.no_grad():
        logits = model.model(**inputs, use_cache=False).logits[0]
    return logits, inputs["input_ids"][0]


def test_tiny_tokenizer_has_its_vocabulary():
    tokenizer = tiny_tokenizer("idefics3")
    assert len(tokenizer) == VOCAB_SIZE
    assert tokenizer.convert_tokens_to_ids("<image>") != tokenizer.unk_token_id


@pytest.mark.parametrize("family", FAMILIES)
def test_loads_through_hf_with_causal_readout(models, family):
    model = models[family]
    assert isinstance(model, VLMBackend)
    assert model.readout == "causal" and model.input_kind == "pixels"
    assert not model.has_region_head
    assert "left context" in model.description


@pytest.mark.parametrize("family", FAMILIES)
def test_none_equals_the_models_own_forward_and_nll_is_the_hand_computation(models, family):
    model = models[family]
    image = picture()
    encoded, batch = three_conditions(model, image)
    output = model.forward(batch)
    logits, full_ids = own_forward_logits(model, image)
    shift = len(full_ids) - len(encoded.input_ids)
    predicted_from = [p + shift - 1 for p in encoded.phrase_positions]
    gold = [encoded.input_ids[p] for p in encoded.phrase_positions]
    assert [int(full_ids[p + 1]) for p in predicted_from] == gold
    torch.testing.assert_close(output.text_logits[0], logits[predicted_from], rtol=1e-5, atol=1e-5)
    # mean NLL in bits of the phrase's tokens, by hand from the model's own logits
    log_probs = torch.log_softmax(logits.double(), dim=-1)
    by_hand = -np.mean([log_probs[p, g].item() for p, g in zip(predicted_from, gold, strict=True)]) / math.log(2)
    from vlexplore.protocol.scoring import mlm_bits

    ours = mlm_bits(output.text_logits[:1], torch.tensor([gold])).mean()
    assert ours == pytest.approx(by_hand, rel=1e-5)
    # Object and All see a different picture
    assert not torch.equal(output.text_logits[1], output.text_logits[0])
    assert not torch.equal(output.text_logits[2], output.text_logits[0])


@pytest.mark.parametrize("family", FAMILIES)
def test_forward_is_deterministic(models, family):
    model = models[family]
    _, batch = three_conditions(model, picture(seed=1))
    first = model.forward(batch).text_logits
    model.clear_cache()
    assert torch.equal(first, model.forward(batch).text_logits)


def _language_model(model: VLMBackend) -> torch.nn.Module:
    inner = model.model.model
    return getattr(inner, "language_model", None) or inner.text_model


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("baseline", ["image token mean", "zero", "dataset image token mean"])
def test_object_changes_exactly_the_mapped_image_tokens(models, family, baseline):
    model = models[family]
    image = picture(seed=2)
    others = [_example(picture(seed=20)), _example(picture(96, 160, seed=21))]
    vector = model.dataset_token_mean(others) if baseline == "dataset image token mean" else None
    _, batch = three_conditions(model, image, baseline=baseline, replacement=vector)
    seen = {}

    def keep(module, args, kwargs):
        seen["embeds"] = kwargs["inputs_embeds"].detach().clone()

    handle = _language_model(model).register_forward_pre_hook(keep, with_kwargs=True)
    model.clear_cache()
    try:
        model.forward(batch)
    finally:
        handle.remove()
    embeds = seen["embeds"]
    input_ids, _, _ = model.expand_rows(batch, [model.encode_image(image)] * 3)
    image_positions = torch.nonzero(input_ids[0] == model.image_token_id).flatten()
    mapped = batch.visual.patch_ablation[1]
    assert 0 < int(mapped.sum()) < len(mapped)
    changed = torch.nonzero((embeds[1] != embeds[0]).any(dim=-1)).flatten()
    assert changed.tolist() == image_positions[mapped].tolist()
    encoding = model.encode_image(image)
    showing_features = encoding.features[torch.as_tensor(encoding.layout.visible)]  # no CLS or row-end token
    expected = torch.zeros_like(showing_features[0]) if baseline == "zero" else showing_features.mean(dim=0)
    if vector is not None:  # the set's mean token, not this picture's
        expected = torch.as_tensor(vector)
        assert not torch.allclose(expected, showing_features.mean(dim=0))
    torch.testing.assert_close(embeds[1, changed], expected.expand(len(changed), -1))
    all_changed = torch.nonzero((embeds[2] != embeds[0]).any(dim=-1)).flatten()
    showing = image_positions[torch.as_tensor(model.encode_image(image).layout.visible)]
    assert set(all_changed.tolist()) <= set(showing.tolist())  # never a CLS or row-end token
    assert len(all_changed) >= len(showing) - 1  # a token may equal the mean by chance only


def test_picture_encoded_once_and_repeated_rows_run_once(models, monkeypatch):
    model = models["idefics3"]
    model.clear_cache()
    calls, rows = [], []
    original = model.model.get_image_features

    def counting(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(model.model, "get_image_features", counting)
    handle = _language_model(model).register_forward_pre_hook(
        lambda module, args, kwargs: rows.append(kwargs["inputs_embeds"].shape[0]), with_kwargs=True
    )
    try:
        image = picture(seed=3)
        _, batch = three_conditions(model, image)
        first = model.forward(batch).text_logits
        assert calls == [1] and rows == [3]  # three conditions, one encoding, one forward
        other = Phrase("a bike", 7, 2, boxes=np.array([[80.0, 40.0, 140.0, 85.0]]))
        _, batch = three_conditions(model, image.copy(), other)  # same pixels, another array
        second = model.forward(batch).text_logits
        assert calls == [1] and rows == [3, 1]  # None and All rows of this caption are reused
        model.clear_cache()
        torch.testing.assert_close(model.forward(batch).text_logits, second, rtol=0, atol=0)
        assert rows == [3, 1, 3]
    finally:
        handle.remove()
    assert first.shape[0] == second.shape[0] == 3


def test_pixel_baseline_paints_the_ablated_cells(models):
    model = models["idefics3"]
    image = picture(seed=4)
    layout = model.image_layout((150, 90))
    ablate = model.patches_under_boxes((150, 90), PHRASE.boxes)
    painted = paint_cells(image, layout, ablate)
    changed = np.any(painted != image, axis=2)
    assert changed[30, 30] and not changed[80, 140]
    assert len(np.unique(painted[changed].reshape(-1, 3), axis=0)) == 1  # one mean colour
    _, batch = three_conditions(model, image, baseline="mean colour")
    output = model.forward(batch)
    _, batch = three_conditions(model, image)
    reference = model.forward(batch).text_logits
    assert torch.equal(output.text_logits[0], reference[0])  # None untouched
    assert not torch.equal(output.text_logits[1], reference[1])


# Geometry: the cells against the real vision towers --------------------------------------
def _local_vision(model: VLMBackend):
    """Zero every attention and MLP output projection of the vision tower: each token then
    depends on its own cell's pixels only, so the cells can be checked against the model."""
    for name, parameter in model.model.named_parameters():
        vision = any(part in name for part in ("vision", "visual"))
        output = any(part in name for part in ("out_proj", "fc2", "attn.proj", "down_proj"))
        if vision and output and "merger" not in name:
            parameter.data.zero_()


@pytest.mark.parametrize(
    "family, size, cell, tokens",
    [
        ("idefics3", (128, 128), 16, [0, 40, 63]),  # 2 x 2 tiles of 64 px, 16 px cells (8 px patches, shuffle 2)
        ("smolvlm", (128, 128), 16, [0, 21, 58]),  # the same geometry, SmolVLM2's classes
        ("llava", (32, 32), 8, [0, 9, 15]),  # 32 px crop, 8 px patches, CLS dropped
        ("llava_onevision", (64, 32), 8, [16, 39, 50]),  # after the 4 x 4 global view: 4 rows of 8 + newline
        ("qwen2_vl", (64, 48), 16, [0, 6, 11]),  # 8 px patches merged 2 x 2
        ("qwen2_5_vl", (64, 48), 16, [0, 6, 11]),  # same, through the window reordering
    ],
)
def test_each_token_sees_exactly_its_cell(directories, family, size, cell, tokens):
    model = registry.load_model(f"hf:{directories[family]}", device="cpu")
    _local_vision(model)
    width, height = size
    image = picture(height, width, seed=5)
    layout = model.image_layout(size)
    names = layout.view_names()
    base = model.encode_image(image).features
    for token in tokens:
        x1, y1, x2, y2 = layout.cells[token]
        assert (x2 - x1 + 1, y2 - y1 + 1) == (cell, cell)
        edited = image.copy()
        edited[int(y1) + 2 : int(y1) + cell - 2, int(x1) + 2 : int(x1) + cell - 2] ^= 0xFF
        changed = torch.nonzero((model.encode_image(edited).features - base).abs().amax(dim=1) > 1e-6).flatten()
        # the global view (Idefics3) resamples the picture, so it is checked separately below
        assert [t for t in changed.tolist() if names[t] != "global"] == [token]


@pytest.mark.parametrize("size", [(150, 90), (40, 100), (64, 64)])
@pytest.mark.parametrize("splitting", [True, False])
def test_smolvlm_expands_the_placeholder_as_idefics3s_processor(directories, tmp_path, size, splitting):
    """SmolVLMProcessor cannot be built here (torchvision, num2words); its image half must expand
    ``<image>`` into the text transformers' Idefics3Processor writes for the same settings
    (tiles with ``<row_r_col_c>``, newlines, then ``<global-img>``)."""
    from transformers import Idefics3ImageProcessorPil, Idefics3Processor

    directory = directories["smolvlm"] if splitting else save_tiny_smolvlm(tmp_path / "one-view", splitting=False)
    model = registry.load_model(f"hf:{directory}", device="cpu")
    assert type(model.processor).__name__ == "ImageOnlyProcessor" and model.family == "SmolVLM2"
    reference = Idefics3Processor(
        image_processor=Idefics3ImageProcessorPil(
            size={"longest_edge": 128}, max_image_size={"longest_edge": 64}, do_image_splitting=splitting
        ),
        tokenizer=model.processor.tokenizer,
        image_seq_len=16,
    )
    image = picture(size[1], size[0], seed=12)
    ours = model.process(image)
    theirs = reference(text=["<image>"], images=[image], add_special_tokens=False, return_tensors="pt")
    assert ours["input_ids"].tolist() == theirs["input_ids"].tolist()
    torch.testing.assert_close(ours["pixel_values"], theirs["pixel_values"], rtol=0, atol=0)
    assert "rows" not in ours and "cols" not in ours  # not model inputs
    assert len(model.patch_boxes(size)) == ours["input_ids"][0].tolist().count(model.image_token_id)


def test_idefics3_tiles_are_row_major_then_the_global_view(directories):
    model = registry.load_model(f"hf:{directories['idefics3']}", device="cpu")
    _local_vision(model)
    image = picture(128, 128, seed=6)  # longest edge 128: a 2 x 2 grid of 64 px tiles + global
    layout = model.image_layout((128, 128))
    assert [v.name for v in layout.views] == ["tile r1 c1", "tile r1 c2", "tile r2 c1", "tile r2 c2", "global"]
    base = model.encode_image(image).features
    edited = image.copy()
    edited[66:78, 98:110] ^= 0xFF  # inside tile r2 c2, its cell (0, 2); global cell (2, 3)
    changed = torch.nonzero((model.encode_image(edited).features - base).abs().amax(dim=1) > 1e-6).flatten()
    tile_tokens = [t for t in changed.tolist() if layout.view_of[t] == 3]
    assert tile_tokens == [3 * 16 + 0 * 4 + 2] and [t for t in changed.tolist() if layout.view_of[t] < 3] == []
    global_tokens = {t - 4 * 16 for t in changed.tolist() if layout.view_of[t] == 4}
    assert 2 * 4 + 3 in global_tokens  # resampling may reach a neighbour, never a tile


# Hand-made geometries --------------------------------------------------------------------
def tiled_layout():
    """A 200 x 100 picture: two 100 px tiles of 4 x 4 cells, then a 4 x 4 global view."""
    views = [
        ImageView("tile r1 c1", 4, 4, (0, 0, 100, 100)),
        ImageView("tile r1 c2", 4, 4, (100, 0, 200, 100)),
        ImageView("global", 4, 4, (0, 0, 200, 100)),
    ]
    return join_views((200, 100), views)


def _mapped(layout, boxes, **options):
    mask = tokens_under_boxes(layout, np.array(boxes, dtype=float), **options)
    return {(layout.views[layout.view_of[t]].name, *layout.grid_position[t].tolist()) for t in np.flatnonzero(mask)}


def test_box_in_one_tile():
    # exactly cell (1, 1) of the first tile; in the global view (50 x 25 cells) it half-covers
    # none, so the cell holding most of it is claimed
    assert _mapped(tiled_layout(), [[25, 25, 49, 49]]) == {("tile r1 c1", 1, 1), ("global", 1, 0)}


def test_box_across_two_tiles():
    got = _mapped(tiled_layout(), [[75, 0, 124, 24]])
    assert got == {("tile r1 c1", 0, 3), ("tile r1 c2", 0, 0), ("global", 0, 1), ("global", 0, 2)}


def test_large_box_in_the_global_view():
    got = _mapped(tiled_layout(), [[0, 0, 99, 49]])
    tile_cells = {("tile r1 c1", r, c) for r in range(2) for c in range(4)}
    assert got == tile_cells | {("global", r, c) for r in range(2) for c in range(2)}


def test_small_box_at_the_image_border_and_the_one_cell_border():
    layout = tiled_layout()
    assert _mapped(layout, [[196, 96, 199, 99]]) == {("tile r1 c2", 3, 3), ("global", 3, 3)}
    grown = _mapped(layout, [[196, 96, 199, 99]], border=1)
    assert grown == {("tile r1 c2", r, c) for r in (2, 3) for c in (2, 3)} | {
        ("global", r, c) for r in (2, 3) for c in (2, 3)
    }


def test_cells_outside_the_crop_or_in_the_padding_are_never_mapped():
    # LLaVA-style: a 150 x 90 picture, shortest edge to 90, centre crop of the middle 90 x 90
    layout = join_views((150, 90), [ImageView("image", 3, 3, (30, 0, 120, 90))])
    assert _mapped(layout, [[0, 0, 20, 89]]) == set()  # left strip cut away by the crop
    padded = join_views((150, 90), [ImageView("image", 5, 5, (0, -30, 150, 120))])  # pad to square
    assert not padded.visible[:5].any() and padded.visible[5:20].all()
    assert all(r in (1, 2, 3) for _, r, _ in _mapped(padded, [[0, 0, 149, 89]]))


def test_onevision_unpads_and_downscales_like_the_model(tmp_path):
    model = registry.load_model(f"hf:{save_tiny_llava_onevision(tmp_path / 'ov', max_crops=1)}", device="cpu")
    layout = model.image_layout((150, 90))  # 64 x 64 pinpoint, 2 x 2 crops, unpadded to 4 x 8, downscaled
    assert [(v.name, v.rows, v.columns) for v in layout.views] == [("global", 4, 4), ("high-res", 2, 5)]
    assert layout.views[1].row_end_tokens == 1 and int((~layout.visible).sum()) == 2  # the two newlines
    assert len(model.encode_image(picture()).features) == len(layout)  # the model packs as many
    high = layout.cells[layout.view_of == 1]
    assert high[:, 0].min() == 0 and high[:, 2].max() == pytest.approx(149, abs=1)


def test_llava_crop_window_in_original_pixels(models):
    layout = models["llava"].image_layout((150, 90))  # resize to 53 x 32, crop the middle 32 x 32
    (view,) = layout.views
    x0, y0, x1, y1 = view.frame
    assert (y0, y1) == (0, 90) and x0 == pytest.approx(10 * 150 / 53) and x1 == pytest.approx(42 * 150 / 53)
    assert models["llava"].patches_under_boxes((150, 90), [[0, 0, 20, 89]]).sum() == 0


# Bad inputs --------------------------------------------------------------------------------
def test_missing_processor_is_a_clear_error(directories, tmp_path):
    weights_only = tmp_path / "weights-only"
    weights_only.mkdir()
    for name in ("config.json", "model.safetensors"):
        shutil.copy(directories["idefics3"] / name, weights_only / name)
    with pytest.raises(ModelLoadError, match="no processor beside them"):
        registry.load_model(f"hf:{weights_only}")


def test_unsupported_class_names_the_supported_ones(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "blip-2", "architectures": ["Blip2Model"]}))
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(ModelLoadError, match=r"not support yet.*supported are.*idefics3.*smolvlm \(SmolVLMForConditionalGeneration.*llava.*qwen2_vl"):
        registry.load_model(f"hf:{tmp_path}")


def test_uncached_hub_name_fails_offline_with_the_download_command(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelLoadError, match="hf download HuggingFaceTB/SmolVLM-256M-Instruct"):
        registry.load_model("hf:HuggingFaceTB/SmolVLM-256M-Instruct", cache_dir=str(tmp_path))


def test_bad_ablation_space_is_a_clear_error(directories, tmp_path):
    with pytest.raises(ValueError, match="ablation_space must be one of tokens, pixels"):
        registry.load_model(f"hf:{directories['llava']}", ablation_space="colour")
    from tiny_vilt import save_tiny_vilt

    with pytest.raises(ModelLoadError, match="ablation_space applies to generative VLMs"):
        registry.load_model(f"hf:{save_tiny_vilt(tmp_path / 'vilt')}", ablation_space="pixels")


def test_llava_pad_to_square_leaves_the_padding_out(tmp_path):
    model = registry.load_model(f"hf:{save_tiny_llava(tmp_path / 'padded', pad=True, crop=False)}", device="cpu")
    layout = model.image_layout((150, 90))  # padded to 150 x 150, the picture 30 px down
    assert layout.views[0].frame == pytest.approx((0, -30, 150, 120))
    assert layout.cells[:, 1].min() == 0 and layout.cells[:, 3].max() == 89
    top_row = model.patches_under_boxes((150, 90), [[0, 0, 149, 5]])
    assert np.flatnonzero(top_row).tolist() == [0, 1, 2, 3]  # the strip lies in the first row only
    image = picture()
    encoded, batch = three_conditions(model, image)
    logits, full_ids = own_forward_logits(model, image)
    shift = len(full_ids) - len(encoded.input_ids)
    reference = logits[[p + shift - 1 for p in encoded.phrase_positions]]
    torch.testing.assert_close(model.forward(batch).text_logits[0], reference, rtol=1e-5, atol=1e-5)


def test_phrase_cut_by_the_token_limit_is_a_clear_error(models):
    model = models["idefics3"]
    limit = model.max_text_length
    model.max_text_length = 6
    try:
        with (
            pytest.raises(ValueError, match="beyond the model's 6-token caption limit"),
            pytest.warns(UserWarning, match="only its first"),
        ):
            model.encode_caption(CAPTION, Phrase("a bike", 7, 2))
    finally:
        model.max_text_length = limit


def test_prompt_places_the_caption_as_the_answer(models):
    model = models["idefics3"]
    encoded = model.encode_caption("  a man   in a red shirt  ", PHRASE)
    text = model.tokenizer.decode([encoded.input_ids[p] for p in encoded.phrase_positions])
    assert text.strip() == "a red shirt"
    assert encoded.input_ids.count(model.image_token_id) == 1
    words = [w for w in encoded.word_ids if w is not None]
    assert words == sorted(words) and set(words) == set(range(6))


def test_rows_must_hold_one_placeholder(models):
    model = models["llava"]
    _, batch = three_conditions(model, picture())
    batch.input_ids[:, :] = 7
    with pytest.raises(ValueError, match="exactly one image placeholder"):
        model.forward(batch)


# Through the engine -------------------------------------------------------------------------
def _example(image: np.ndarray):
    from vlexplore.records import Example

    phrases = [PHRASE, Phrase("a bike", 7, 2, boxes=np.array([[80.0, 40.0, 140.0, 85.0]]))]
    return Example("e0", CAPTION, phrases, image_size=(image.shape[1], image.shape[0]), image=image)


@pytest.mark.parametrize("family", ["idefics3", "smolvlm"])
def test_diagnose_reads_the_phrase_causally_and_says_why_mrc_is_na(models, family):
    from vlexplore.diagnostics import format_table, summarize
    from vlexplore.engine import diagnose, diagnose_dataset

    model = models[family]
    image = picture(seed=7)
    example = _example(image)
    diagnosis = diagnose(model, example, 0)
    logits, full_ids = own_forward_logits(model, image)
    encoded = model.encode_caption(CAPTION, PHRASE)
    shift = len(full_ids) - len(encoded.input_ids)
    log_probs = torch.log_softmax(logits.double(), dim=-1)
    by_hand = -np.mean(
        [log_probs[p + shift - 1, encoded.input_ids[p]].item() for p in encoded.phrase_positions]
    ) / math.log(2)
    assert diagnosis.result.mlm_bits_none == pytest.approx(by_hand, rel=1e-5)
    assert diagnosis.result.readout == "causal" and diagnosis.baseline.source == "image token mean"
    assert math.isnan(diagnosis.result.mrc_kl_bits_none) and "causal" in diagnosis.lang4vis_note
    assert any("readout causal" in d for d in diagnosis.departures)
    ablated = diagnosis.ablated[("vis4lang", "object")]
    assert ablated.tolist() == model.patches_under_boxes((150, 90), PHRASE.boxes).tolist()
    assert set(diagnosis.topk["condition"]) == {"none", "object", "all"}
    results = list(diagnose_dataset(model, [example, _example(picture(seed=8))], progress=False))
    assert len(results) == 4 and results[0].mlm_bits_none == pytest.approx(by_hand, rel=1e-5)
    table = format_table(summarize(results), "tiny")
    assert "n/a" in table and "MRC-KL n/a: " in table and "nan" not in table


def test_border_and_zero_baseline_from_the_settings(models):
    from vlexplore.engine import diagnose
    from vlexplore.protocol import AblationSettings

    model = models["idefics3"]
    example = _example(picture(seed=9))
    plain = diagnose(model, example, 1)
    wider = diagnose(model, example, 1, AblationSettings(patch_border=1, baseline="zero"))
    small, grown = plain.ablated[("vis4lang", "object")], wider.ablated[("vis4lang", "object")]
    assert (small <= grown).all() and grown.sum() > small.sum()
    assert wider.baseline.source == "zero" and any("patch_border 1" in d for d in wider.departures)


def test_a_batch_larger_than_the_row_cache(models, monkeypatch):
    from vlexplore.engine import diagnose_dataset
    from vlexplore.models.vlm import base

    model = models["idefics3"]
    model.clear_cache()
    monkeypatch.setattr(base, "ROW_CACHE_SIZE", 2)
    examples = [_example(picture(seed=10)), _example(picture(seed=11))]
    batched = list(diagnose_dataset(model, examples, batch_size=4, progress=False))  # 12 rows, one forward
    model.clear_cache()
    one_by_one = list(diagnose_dataset(model, examples, batch_size=1, progress=False))
    assert len(model._rows) <= 2
    assert [r.mlm_bits_object for r in batched] == pytest.approx([r.mlm_bits_object for r in one_by_one], rel=1e-5)


@pytest.mark.parametrize("family", ["idefics3", "smolvlm"])
def test_cli_prints_na_with_the_reason(directories, capsys, tmp_path, family):
    from vlexplore import cli

    code = cli.main(["diagnose", "--model", f"hf:{directories[family]}", "--dataset", "demo", "--limit", "3",
                     "--quiet", "--patch-border", "1", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "n/a" in out and "MRC-KL n/a:" in out and "causal" in out and "nan" not in out.lower()
    assert "readout causal" in out  # named as a departure from the paper's protocol
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["n"] == 3 and "causal" in summary["lang4vis_note"]
    assert "lang4vis_note" in (tmp_path / "phrases.csv").read_text().splitlines()[0]


# The dataset image-token mean (baseline "dataset-mean") -------------------------------------
def _examples_of_three():
    from vlexplore.records import Example

    one_phrase = picture(64, 70, seed=31)
    return [
        _example(picture(seed=30)),  # two phrases: weight 2
        Example("e1", CAPTION, [PHRASE], image_size=(70, 64), image=one_phrase),  # weight 1
        _example(picture(100, 160, seed=32)),
    ]


@pytest.mark.parametrize("family", ["idefics3", "llava_onevision"])  # OneVision: row-end tokens left out
def test_dataset_token_mean_is_the_hand_computation(models, family, monkeypatch):
    model = models[family]
    model.clear_cache()
    examples = _examples_of_three()
    mean = model.dataset_token_mean(examples)
    # by hand: every shown token of a picture repeated once per phrase, one plain mean
    rows = []
    for example in examples:
        encoding = model.encode_image(example.image)
        shown = encoding.features[torch.as_tensor(encoding.layout.visible)].double().numpy()
        rows.append(np.repeat(shown, len(example.diagnosable_phrases()), axis=0))
    by_hand = np.concatenate(rows).mean(axis=0)
    assert mean.shape == (model.model.config.get_text_config().hidden_size,) and mean.dtype == np.float32
    np.testing.assert_allclose(mean, by_hand, rtol=1e-5, atol=1e-6)
    # computed once per model and set: a second call encodes nothing
    calls = []
    original = model.model.get_image_features
    monkeypatch.setattr(model.model, "get_image_features", lambda *a, **k: calls.append(1) or original(*a, **k))
    model._images.clear()
    assert model.dataset_token_mean(examples) is mean and calls == []
    other = model.dataset_token_mean(examples[:2])  # another set, another mean
    assert len(calls) == 2 and not np.allclose(other, mean)


def test_dataset_mean_results_record_their_source(models, tmp_path):
    from vlexplore.engine import diagnose, diagnose_dataset
    from vlexplore.protocol import AblationSettings
    from vlexplore.records import ExampleSet

    model = models["smolvlm"]
    settings = AblationSettings(baseline="dataset-mean")
    examples = _examples_of_three()
    results = list(diagnose_dataset(model, ExampleSet("three", examples), settings, progress=False))
    assert len(results) == 5 and {r.baseline for r in results} == {"dataset image token mean"}
    for result in results:
        assert "baseline dataset image token mean (paper: dataset average)" in result.departures
        assert not result.is_paper
    # the same Object score as one phrase diagnosed with that vector given
    vector = model.dataset_token_mean(examples)
    one = diagnose(model, examples[1], 0, settings, average_feature=vector)
    assert one.baseline.source == "dataset image token mean" and np.array_equal(one.baseline.vector, vector)
    assert one.result.mlm_bits_object == pytest.approx(results[2].mlm_bits_object, rel=1e-6)
    image_mean = diagnose(model, examples[1], 0, AblationSettings())
    assert image_mean.result.mlm_bits_none == pytest.approx(one.result.mlm_bits_none, rel=1e-6)
    assert image_mean.result.mlm_bits_object != pytest.approx(one.result.mlm_bits_object, rel=1e-6)
    # without a set (one picture), the picture's own mean stands in, and the record says so
    alone = diagnose(model, examples[1], 0, settings)
    assert alone.baseline.source == "image token mean"
    assert alone.result.mlm_bits_object == image_mean.result.mlm_bits_object
    with pytest.raises(ValueError, match="image tokens have 32 values"):
        diagnose(model, examples[1], 0, settings, average_feature=np.zeros(5, dtype=np.float32))


def test_cli_dataset_mean_baseline_with_progress(directories, capsys, tmp_path):
    from vlexplore import cli

    code = cli.main(["diagnose", "--model", f"hf:{directories['smolvlm']}", "--dataset", "demo", "--limit", "2",
                     "--baseline", "dataset-mean", "--out", str(tmp_path)])
    captured = capsys.readouterr()
    assert code == 0, captured.out + captured.err
    assert "mean image token of the set" in captured.err  # the tqdm bar
    phrases = (tmp_path / "phrases.csv").read_text().splitlines()
    column = phrases[0].split(",").index("baseline")
    assert {line.split(",")[column] for line in phrases[1:]} == {"dataset image token mean"}


def test_dataset_mean_in_pixel_space_is_the_mean_colour(directories):
    from vlexplore.engine import diagnose_dataset
    from vlexplore.protocol import AblationSettings
    from vlexplore.records import ExampleSet

    model = registry.load_model(f"hf:{directories['smolvlm']}", device="cpu", ablation_space="pixels")
    examples = _examples_of_three()[1:2]
    assert model.dataset_token_mean(examples) is None  # no token is replaced in pixel space
    results = list(diagnose_dataset(model, ExampleSet("one", examples), AblationSettings(baseline="dataset-mean"),
                                    progress=False))
    assert [r.baseline for r in results] == ["mean colour"]
