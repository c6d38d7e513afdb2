"""Hugging Face backends, offline, on tiny random checkpoints written by the tests.

Each model is saved with ``save_pretrained`` to a temporary directory and loaded back
through ``hf:DIR``, the path users take. Outputs are checked against transformers' own
forward pass, so the backends' input layout (boxes, masks, patch order) is the model's.
"""

from __future__ import annotations

import shutil

import numpy as np
import pytest
import torch

from vlexplore.assets import BERT_VOCAB
from vlexplore.engine import diagnose, diagnose_dataset
from vlexplore.geometry import patches_under_boxes
from vlexplore.models.base import ModelLoadError, PixelInput, RegionInput, VLBatch
from vlexplore.models.hf import load_from_spec
from vlexplore.models.hf_lxmert import vg_object_classes
from vlexplore.records import Example, ExampleSet, Phrase, Regions
from vlexplore.registry import load_model
from vlexplore.text import bert_tokenizer

transformers = pytest.importorskip("transformers")

TINY = dict(hidden_size=32, num_attention_heads=2, intermediate_size=64)
FEATURE_DIM = 16


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def save_tiny(model_class, config, directory, seed: int = 0):
    """``model_class(config)`` with seeded random weights, saved to ``directory`` (returned)."""
    torch.manual_seed(seed)
    model_class(config).eval().save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def vilt_dir(tmp_path_factory):
    """Tiny ViLT: 16px patches, 64px shorter side, its own tokenizer and image processor.

    ``max_image_length=8`` would make transformers sample 8 random patches; the backend
    must ignore it and keep them all.
    """
    config = transformers.ViltConfig(
        **TINY,
        num_hidden_layers=2,
        image_size=64,
        patch_size=16,
        max_position_embeddings=40,
        max_image_length=8,
    )
    directory = save_tiny(transformers.ViltForMaskedLM, config, tmp_path_factory.mktemp("vilt"))
    transformers.ViltImageProcessorPil(size={"shortest_edge": 64}).save_pretrained(directory)
    bert_tokenizer().save_pretrained(directory)
    return directory


@pytest.fixture(scope="module")
def vilt(vilt_dir):
    return load_model(f"hf:{vilt_dir}", device="cpu")


@pytest.fixture(scope="module")
def lxmert_dir(tmp_path_factory):
    """No tokenizer files: the shipped bert-base-uncased vocabulary is used."""
    config = transformers.LxmertConfig(
        **TINY,
        l_layers=2,
        x_layers=1,
        r_layers=1,
        visual_feat_dim=FEATURE_DIM,
        num_qa_labels=3,
        num_attr_labels=5,
    )
    return save_tiny(transformers.LxmertForPreTraining, config, tmp_path_factory.mktemp("lxmert"))


@pytest.fixture(scope="module")
def lxmert(lxmert_dir):
    return load_model(f"hf:{lxmert_dir}", device="cpu")


@pytest.fixture(scope="module")
def visualbert_dir(tmp_path_factory):
    config = transformers.VisualBertConfig(
        **TINY, num_hidden_layers=2, visual_embedding_dim=FEATURE_DIM
    )
    directory = save_tiny(transformers.VisualBertForPreTraining, config, tmp_path_factory.mktemp("visualbert"))
    shutil.copy(BERT_VOCAB, directory / "vocab.txt")  # a bare vocab.txt, as some checkpoints ship
    return directory


def random_image(width: int, height: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(height, width, 3), dtype=np.uint8)


def text_batch(tokenizer, caption: str, rows: int):
    encoded = tokenizer([caption] * rows, return_tensors="pt")
    length = encoded["input_ids"].shape[1]
    positions = torch.arange(1, length - 1).repeat(rows, 1)  # every word piece, no [CLS]/[SEP]
    return encoded["input_ids"], encoded["attention_mask"], positions


def pixel_batch(model, images, ablation, caption="a red ball on the grass"):
    input_ids, attention_mask, positions = text_batch(model.tokenizer, caption, len(images))
    visual = PixelInput(images=list(images), patch_ablation=torch.as_tensor(np.asarray(ablation)))
    return VLBatch(input_ids, attention_mask, visual, positions)


def region_batch(tokenizer, num_regions=5, rows=1, seed=0, region_positions=None):
    rng = np.random.default_rng(seed)
    input_ids, attention_mask, positions = text_batch(tokenizer, "a dog runs on the grass", rows)
    features = torch.as_tensor(
        rng.normal(size=(rows, num_regions, FEATURE_DIM)), dtype=torch.float32
    )
    x1 = rng.uniform(0, 40, size=(rows, num_regions))
    y1 = rng.uniform(0, 20, size=(rows, num_regions))
    boxes = np.stack([x1, y1, x1 + 30, y1 + 20], axis=-1)
    visual = RegionInput(
        features=features,
        global_features=features.mean(1),
        boxes=torch.as_tensor(boxes, dtype=torch.float32),
        image_sizes=torch.tensor([[80, 48]] * rows),
        mask=torch.ones(rows, num_regions),
        ablated=torch.zeros(rows, num_regions, dtype=torch.bool),
    )
    return VLBatch(input_ids, attention_mask, visual, positions, region_positions)


def capture_image_embeddings(model):
    """Record the image embeddings ViLT's embedding layer receives on each call."""
    seen = []

    def hook(module, args, kwargs):
        seen.append((args[6].clone(), args[4].clone()))  # image_embeds, its token mask

    handle = model.model.vilt.embeddings.register_forward_pre_hook(hook, with_kwargs=True)
    return seen, handle


# ViLT --------------------------------------------------------------------------------
def test_vilt_loads_from_a_directory(vilt, vilt_dir):
    assert vilt.name == f"hf:{vilt_dir}"
    assert vilt.input_kind == "pixels"
    assert vilt.region_class_names is None and not vilt.has_region_head
    assert "not available" in vilt.description
    assert "checkpoint's tokenizer" in vilt.description
    assert len(vilt.tokenizer) == 30522 and vilt.tokenizer.mask_token == "[MASK]"
    assert vilt.max_text_length == 40


def test_vilt_matches_transformers_on_unablated_images(vilt):
    image = random_image(80, 48)
    patches = len(vilt.patch_boxes((80, 48)))
    batch = pixel_batch(vilt, [image], np.zeros((1, patches), dtype=bool))
    ours = vilt.forward(batch).text_logits
    pixels = vilt.processor(images=image, return_tensors="pt")
    vilt.model.config.max_image_length = (
        -1
    )  # keep every patch (in a random order) for the reference
    try:
        with torch.no_grad():
            reference = vilt.model(
                input_ids=batch.input_ids,
                attention_mask=batch.attention_mask,
                pixel_values=pixels["pixel_values"],
                pixel_mask=pixels["pixel_mask"],
            ).logits
    finally:
        vilt.model.config.max_image_length = 8
    assert ours.shape == (1, batch.text_positions.shape[1], 30522)
    torch.testing.assert_close(ours, reference[:, 1:-1], atol=1e-5, rtol=1e-5)


def test_vilt_patch_boxes_tile_the_original_image(vilt):
    # 80x48 -> shorter side 64 -> 107x64 -> multiples of 32: 96x64 -> 6x4 patches of 16px
    assert vilt.resized_size((80, 48)) == (96, 64)
    boxes = vilt.patch_boxes((80, 48))
    assert boxes.shape == (24, 4)
    pixels = vilt.processor(images=random_image(80, 48), return_tensors="pt")["pixel_values"]
    assert pixels.shape[-2:] == (64, 96)
    np.testing.assert_allclose(boxes[0], [0, 0, 80 / 6 - 1, 11])
    np.testing.assert_allclose(boxes[-1], [80 - 80 / 6, 36, 79, 47])
    widths = boxes[:, 2] - boxes[:, 0] + 1
    heights = boxes[:, 3] - boxes[:, 1] + 1
    assert np.isclose((widths * heights).sum(), 80 * 48)  # disjoint and covering
    assert np.all(np.diff(boxes[:6, 0]) > 0) and np.all(boxes[:6, 1] == 0)  # row-major


def test_vilt_default_image_processor_when_the_checkpoint_has_none(vilt_dir, tmp_path):
    bare = tmp_path / "vilt-bare"
    shutil.copytree(vilt_dir, bare, ignore=shutil.ignore_patterns("preprocessor_config.json"))
    model = load_from_spec(str(bare), device="cpu")
    assert int(model.processor.size.shortest_edge) == 384
    # 500x300 -> 640x384, capped at 639 on the longer side -> 608x352 -> 38x22 patches of 16px
    assert model.resized_size((500, 300)) == (608, 352)
    assert len(model.patch_boxes((500, 300))) == 38 * 22
    shape = model.processor(images=random_image(500, 300), return_tensors="pt")[
        "pixel_values"
    ].shape
    assert shape[-2:] == (352, 608)


def test_vilt_object_ablation_is_exactly_the_patches_under_the_box(vilt):
    size = (80, 48)
    patches = vilt.patch_boxes(size)
    # patches are 13.3 x 12 original pixels; this box covers columns 0-1 of rows 0-1 fully,
    # and only 1/13 of column 2: exactly patches 0, 1, 6 and 7 are under it
    under = patches_under_boxes(patches, [[0, 0, 26, 23]])
    assert set(np.flatnonzero(under)) == {0, 1, 6, 7}

    image = random_image(*size)
    ablation = np.stack([np.zeros(24, bool), under, np.ones(24, bool)])  # None, Object, All
    seen, handle = capture_image_embeddings(vilt)
    try:
        logits = vilt.forward(pixel_batch(vilt, [image] * 3, ablation)).text_logits
    finally:
        handle.remove()
    ((embeds, mask),) = seen
    assert embeds.shape == (3, 1 + 24, 32) and mask.eq(1).all()
    none, obj, everything = embeds
    changed_by_object = (obj != none).any(-1)
    changed_by_all = (everything != none).any(-1)
    assert set(torch.nonzero(changed_by_object).flatten().tolist()) == {1 + i for i in (0, 1, 6, 7)}
    assert not changed_by_all[0] and changed_by_all[1:].all()  # [CLS] image token is kept
    # an ablated patch is the blank patch's embedding at the same position
    blank = vilt.blank_patch_embedding()
    patch_embeds, position_embeds = vilt.image_tokens(vilt.pixel_values(image))
    torch.testing.assert_close(obj[1 + 6], blank + position_embeds[6])
    # position embeddings cancel: Object minus None is blank content minus the patch's content
    torch.testing.assert_close(obj[1 + 6] - none[1 + 6], blank - patch_embeds[6])
    torch.testing.assert_close(everything[1:], blank[None] + position_embeds)
    # and the readout moves with the input
    assert not torch.equal(logits[0], logits[1])
    assert not torch.equal(logits[1], logits[2])


def test_vilt_blank_patch_is_a_zero_normalised_patch(vilt):
    projection = vilt.model.vilt.embeddings.patch_embeddings.projection
    torch.testing.assert_close(vilt.blank_patch_embedding(), projection.bias.detach())


def test_vilt_is_deterministic_and_keeps_every_patch(vilt, vilt_dir):
    image = random_image(80, 48, seed=3)
    ablation = np.zeros((1, 24), dtype=bool)
    seen, handle = capture_image_embeddings(vilt)
    try:
        first = vilt.forward(pixel_batch(vilt, [image], ablation)).text_logits
        second = vilt.forward(pixel_batch(vilt, [image], ablation)).text_logits
    finally:
        handle.remove()
    assert torch.equal(first, second)
    assert seen[0][0].shape[1] == 1 + 24  # config.max_image_length=8 is not applied
    reloaded = load_from_spec(str(vilt_dir), device="cpu")
    assert torch.equal(
        reloaded.forward(pixel_batch(reloaded, [image], ablation)).text_logits, first
    )


def test_vilt_rows_with_images_of_different_sizes(vilt):
    small, large = random_image(80, 48, seed=1), random_image(48, 48, seed=2)
    n_small, n_large = len(vilt.patch_boxes((80, 48))), len(vilt.patch_boxes((48, 48)))
    assert n_small != n_large
    ablation = np.zeros((2, max(n_small, n_large)), dtype=bool)
    together = vilt.forward(pixel_batch(vilt, [small, large], ablation)).text_logits
    alone_small = vilt.forward(pixel_batch(vilt, [small], ablation[:1, :n_small])).text_logits
    alone_large = vilt.forward(pixel_batch(vilt, [large], ablation[:1, :n_large])).text_logits
    torch.testing.assert_close(together[0], alone_small[0], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(together[1], alone_large[0], atol=1e-5, rtol=1e-5)


def test_vilt_refuses_mismatched_ablation_and_bad_images(vilt):
    image = random_image(80, 48)
    with pytest.raises(
        ValueError, match="patch_ablation has 10 entries for an image of 24 patches"
    ):
        vilt.forward(pixel_batch(vilt, [image], np.zeros((1, 10), dtype=bool)))
    with pytest.raises(ValueError, match="RGB uint8"):
        vilt.forward(pixel_batch(vilt, [image.astype(np.float32)], np.zeros((1, 24), dtype=bool)))
    regions = region_batch(vilt.tokenizer)
    with pytest.raises(ValueError, match="takes images"):
        vilt.forward(regions)


def test_heads_are_computed_only_at_requested_positions(vilt):
    image = random_image(80, 48)
    batch = pixel_batch(vilt, [image], np.zeros((1, 24), dtype=bool))
    full = vilt.forward(batch).text_logits
    batch.text_positions = batch.text_positions[:, [2, 0]]
    picked = vilt.forward(batch).text_logits
    assert picked.shape == (1, 2, 30522)
    torch.testing.assert_close(picked, full[:, [2, 0]])


# LXMERT ------------------------------------------------------------------------------
def test_lxmert_loads_with_the_visual_genome_object_head(lxmert):
    assert lxmert.input_kind == "regions" and lxmert.feature_dim == FEATURE_DIM
    assert len(lxmert.region_class_names) == 1600
    assert "__background__" not in lxmert.region_class_names
    assert lxmert.region_class_names[:2] == ("yolk", "goal")
    assert "bert-base-uncased" in lxmert.description and "object head" in lxmert.description


def test_lxmert_matches_transformers_with_4d_boxes_and_object_head(lxmert):
    batch = region_batch(lxmert.tokenizer, rows=2, region_positions=torch.tensor([[1, 3], [0, 4]]))
    out = lxmert.forward(batch)
    visual = batch.visual
    normalised = visual.boxes / torch.tensor([80.0, 48.0, 80.0, 48.0])
    with torch.no_grad():
        reference = lxmert.model(
            input_ids=batch.input_ids,
            attention_mask=batch.attention_mask,
            visual_feats=visual.features,
            visual_pos=normalised,
            output_hidden_states=True,
        )
        vision = reference.vision_hidden_states[-1]
        objects = lxmert.model.obj_predict_head(vision)["obj"]
    torch.testing.assert_close(out.text_logits, reference.prediction_logits[:, 1:-1])
    assert out.region_logits.shape == (2, 2, 1600)
    torch.testing.assert_close(out.region_logits[0], objects[0, [1, 3]])
    torch.testing.assert_close(out.region_logits[1], objects[1, [0, 4]])


def test_lxmert_ignores_the_global_feature_and_honours_the_region_mask(lxmert):
    batch = region_batch(lxmert.tokenizer, region_positions=torch.tensor([[0]]))
    base = lxmert.forward(batch)
    batch.visual.global_features = torch.full_like(batch.visual.global_features, 100.0)
    assert torch.equal(lxmert.forward(batch).text_logits, base.text_logits)
    batch.visual.mask = torch.tensor([[1.0, 1.0, 1.0, 1.0, 0.0]])
    masked = lxmert.forward(batch)
    batch.visual.features[0, 4] += 50.0  # a padded region's content must not matter
    assert torch.equal(lxmert.forward(batch).text_logits, masked.text_logits)
    assert not torch.equal(masked.text_logits, base.text_logits)


def test_lxmert_detector_targets_drop_background_and_renormalise(lxmert):
    prob = np.zeros((2, 1601))
    prob[0, 0], prob[0, 1], prob[0, 3] = 0.5, 0.25, 0.25
    prob[1, 0] = 1.0  # only background
    names = ("__background__",) + lxmert.region_class_names
    targets = lxmert.detector_targets(prob, names)
    assert targets.shape == (2, 1600)
    assert targets[0, 0] == pytest.approx(0.5) and targets[0, 2] == pytest.approx(0.5)
    assert targets[0].sum() == pytest.approx(1.0)
    np.testing.assert_allclose(targets[1], 1 / 1600)
    with pytest.raises(ValueError, match="1,601 Visual Genome classes"):
        lxmert.detector_targets(np.full((1, 20), 0.05), None)
    wrong = ("__background__", "not-yolk") + lxmert.region_class_names[1:]
    with pytest.raises(ValueError, match="class names differ"):
        lxmert.detector_targets(prob, wrong)


def test_lxmert_refuses_wrong_feature_size(lxmert):
    batch = region_batch(lxmert.tokenizer)
    batch.visual.features = torch.zeros(1, 5, 2048)
    with pytest.raises(ValueError, match=f"takes {FEATURE_DIM}-d region features"):
        lxmert.forward(batch)


def test_lxmert_without_object_head_has_no_region_classes(tmp_path):
    config = transformers.LxmertConfig(
        **TINY,
        l_layers=1,
        x_layers=1,
        r_layers=1,
        visual_feat_dim=FEATURE_DIM,
        num_qa_labels=3,
        task_obj_predict=False,
    )
    save_tiny(transformers.LxmertForPreTraining, config, tmp_path)
    model = load_from_spec(str(tmp_path), device="cpu")
    assert model.region_class_names is None
    assert "MRC-KL) is not available" in model.description
    out = model.forward(region_batch(model.tokenizer, region_positions=torch.tensor([[0]])))
    assert out.region_logits is None


# VisualBERT ----------------------------------------------------------------------------
def test_visualbert_matches_transformers_and_ignores_boxes(visualbert_dir):
    model = load_from_spec(str(visualbert_dir), device="cpu")
    assert model.region_class_names is None and "not available" in model.description
    assert "vocab.txt" in model.description and len(model.tokenizer) == 30522
    batch = region_batch(model.tokenizer, rows=2)
    out = model.forward(batch)
    with torch.no_grad():
        reference = model.model(
            input_ids=batch.input_ids,
            attention_mask=batch.attention_mask,
            visual_embeds=batch.visual.features,
        ).prediction_logits
    torch.testing.assert_close(out.text_logits, reference[:, 1 : batch.input_ids.shape[1] - 1])
    assert out.region_logits is None
    batch.visual.boxes = torch.zeros_like(batch.visual.boxes)
    assert torch.equal(model.forward(batch).text_logits, out.text_logits)


# Loading failures ----------------------------------------------------------------------
def test_hub_name_not_cached_offline_says_how_to_download(tmp_path):
    name = "vlexplore-tests/no-such-model"
    with pytest.raises(ModelLoadError) as caught:
        load_from_spec(name, cache_dir=str(tmp_path), allow_download=True)
    message = str(caught.value)
    assert "nor in the local Hugging Face cache" in message
    assert f"hf download {name}" in message and "--model hf:DIR" in message
    assert "HF_HUB_OFFLINE" in message  # allow_download does not override the environment


def test_hub_name_without_permission_to_download(tmp_path, monkeypatch):
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    with pytest.raises(ModelLoadError, match="pass allow_download=True"):
        load_from_spec("vlexplore-tests/no-such-model", cache_dir=str(tmp_path))


def test_missing_directory_and_file(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        load_model(f"hf:{tmp_path / 'nowhere'}")
    afile = tmp_path / "weights.bin"
    afile.write_bytes(b"x")
    with pytest.raises(ModelLoadError, match="is a file"):
        load_from_spec(str(afile))


def test_directory_without_weights_or_config(vilt_dir, tmp_path):
    no_config = tmp_path / "empty"
    no_config.mkdir()
    with pytest.raises(ModelLoadError, match="has no config.json"):
        load_from_spec(str(no_config))
    no_weights = tmp_path / "config-only"
    no_weights.mkdir()
    shutil.copy(vilt_dir / "config.json", no_weights / "config.json")
    with pytest.raises(ModelLoadError, match=r"no weights.*hf download NAME --local-dir"):
        load_from_spec(str(no_weights))


def test_unsupported_model_type_lists_the_supported_ones(tmp_path):
    transformers.BertConfig(**TINY, num_hidden_layers=1).save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(ModelLoadError) as caught:
        load_from_spec(str(tmp_path))
    message = str(caught.value)
    assert "'bert'" in message
    for supported in ("vilt", "lxmert", "visual_bert", "dandelin/vilt-b32-mlm"):
        assert supported in message


def test_fine_tuned_checkpoint_without_mlm_head_is_refused(tmp_path):
    config = transformers.ViltConfig(
        **TINY, num_hidden_layers=1, image_size=64, patch_size=16, num_labels=3
    )
    save_tiny(transformers.ViltForQuestionAnswering, config, tmp_path)
    with pytest.raises(ModelLoadError, match=r"no weights for the MLM head"):
        load_from_spec(str(tmp_path), device="cpu")


def test_tokenizer_must_match_the_vocabulary(tmp_path):
    config = transformers.VisualBertConfig(
        **TINY, vocab_size=100, num_hidden_layers=1, visual_embedding_dim=FEATURE_DIM
    )
    save_tiny(transformers.VisualBertForPreTraining, config, tmp_path)
    with pytest.raises(ModelLoadError, match=r"30522 entries but the model's vocab_size is 100"):
        load_from_spec(str(tmp_path), device="cpu")


def test_unknown_option_is_named(vilt_dir):
    with pytest.raises(ValueError, match="unknown option.*checkpont"):
        load_from_spec(str(vilt_dir), checkpont="x")


def test_bad_options_fail_before_loading(vilt_dir):
    with pytest.raises(ValueError, match="allow_download must be True or False"):
        load_from_spec(str(vilt_dir), allow_download="yes")
    with pytest.raises(ValueError, match="not a torch device"):
        load_from_spec(str(vilt_dir), device="gpu0")


# End to end with the engine ------------------------------------------------------------
def pixel_example(example_id: str, width: int, height: int, seed: int) -> Example:
    caption = "a red ball lies on the green grass"
    phrases = [
        Phrase.find(caption, "a red ball", boxes=[[0, 0, 26, 23]]),
        Phrase.find(caption, "the green grass", boxes=[[0, height // 2, width - 1, height - 1]]),
    ]
    image = random_image(width, height, seed)
    return Example(example_id, caption, phrases, image_size=(width, height), image=image)


def region_example(example_id: str = "r1", seed: int = 0) -> Example:
    rng = np.random.default_rng(seed)
    boxes = np.array(
        [[10, 10, 40, 60], [12, 12, 38, 58], [50, 20, 90, 70], [0, 0, 20, 20], [0, 0, 99, 79]],
        dtype=float,
    )
    names = ("__background__", *vg_object_classes())
    regions = Regions(
        boxes=boxes,
        features=rng.normal(size=(len(boxes), FEATURE_DIM)).astype(np.float32),
        image_size=(100, 80),
        cls_prob=rng.dirichlet(np.ones(1601), size=len(boxes)),
        class_names=names,
    )
    caption = "a tall man walks a small dog"
    phrases = [
        Phrase.find(caption, "a tall man", boxes=[[10, 10, 40, 60]]),
        Phrase.find(caption, "a small dog", boxes=[[50, 20, 90, 70]]),
    ]
    return Example(example_id, caption, phrases, image_size=(100, 80), regions=regions)


def test_diagnose_vilt_with_an_image_and_a_phrase_box(vilt):
    example = pixel_example("p1", 80, 48, seed=0)
    diagnosis = diagnose(vilt, example, 0)
    vis4lang = diagnosis.scores["vis4lang"]
    assert all(np.isfinite(v) and v > 0 for v in vis4lang.values())
    assert len(set(vis4lang.values())) == 3  # None, Object and All see different inputs
    assert all(np.isnan(v) for v in diagnosis.scores["lang4vis"].values())
    assert "no region-classification head" in diagnosis.lang4vis_note
    assert diagnosis.unit_boxes.shape == (24, 4)
    assert set(np.flatnonzero(diagnosis.ablated[("vis4lang", "object")])) == {0, 1, 6, 7}
    assert diagnosis.ablated[("vis4lang", "all")].all()
    assert not diagnosis.ablated[("vis4lang", "none")].any()
    assert set(diagnosis.tokens["condition"]) == {"none", "object", "all"}
    assert diagnosis.regions.empty


def test_vilt_dataset_run_batches_images_of_different_sizes_like_single_runs(vilt):
    examples = ExampleSet(
        "pixels", [pixel_example("p1", 80, 48, 0), pixel_example("p2", 48, 64, 1)]
    )
    results = list(diagnose_dataset(vilt, examples, batch_size=8, progress=False))
    assert len(results) == 4
    for result in results:
        example = examples.by_id(result.example_id)
        single = diagnose(vilt, example, result.phrase_index).scores["vis4lang"]
        assert result.mlm_bits_none == pytest.approx(single["none"], rel=1e-4)
        assert result.mlm_bits_object == pytest.approx(single["object"], rel=1e-4)
        assert result.mlm_bits_all == pytest.approx(single["all"], rel=1e-4)


def test_diagnose_lxmert_with_regions_scores_both_directions(lxmert):
    example = region_example()
    diagnosis = diagnose(lxmert, example, 0)
    assert diagnosis.lang4vis_note is None
    assert all(np.isfinite(v) for v in diagnosis.scores["vis4lang"].values())
    lang4vis = diagnosis.scores["lang4vis"]
    assert all(np.isfinite(v) and v >= 0 for v in lang4vis.values())
    assert lang4vis["none"] != lang4vis["all"]
    target = diagnosis.result.target_region
    assert target in (0, 1)
    rows = diagnosis.regions
    assert set(rows["condition"]) == {"none", "phrase", "all"}
    expected_top = vg_object_classes()[int(np.argmax(example.regions.cls_prob[target][1:]))]
    assert set(rows.loc[rows["target"], "detector_top_class"]) == {expected_top}
    assert rows["model_top_class"].isin(vg_object_classes()).all()


def test_diagnose_visualbert_reports_no_lang4vis(visualbert_dir):
    model = load_from_spec(str(visualbert_dir), device="cpu")
    diagnosis = diagnose(model, region_example(), 1)
    assert all(np.isfinite(v) for v in diagnosis.scores["vis4lang"].values())
    assert all(np.isnan(v) for v in diagnosis.scores["lang4vis"].values())
    assert "no region-classification head" in diagnosis.lang4vis_note


def test_checkpoint_option_points_to_the_directory_form(vilt_dir):
    with pytest.raises(ValueError, match="--model hf:DIR"):
        load_model("hf:dandelin/vilt-b32-mlm", checkpoint=str(vilt_dir / "model.safetensors"))
