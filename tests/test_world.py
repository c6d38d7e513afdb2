import re

import cv2
import numpy as np
import pytest

from vlexplore import geometry
from vlexplore.records import Example, ExampleSet
from vlexplore.world.demo import (
    HELDOUT_SCENES,
    heldout_seeds,
    load_demo_set,
    random_scene,
    scene_with_regions,
)
from vlexplore.world.detector import (
    FEATURE_DIM,
    DetectorConfig,
    detect,
    gold_region_classes,
    region_features,
)
from vlexplore.world.scenes import (
    CLASS_NAMES,
    COLOURS,
    COUNT_WORDS,
    SHAPES,
    WorldConfig,
    make_scene,
)


def test_rendering_is_deterministic_for_a_seed():
    a, b = make_scene(17), make_scene(17)
    assert np.array_equal(a.image, b.image)
    assert [c.text for c in a.captions] == [c.text for c in b.captions]
    assert [o.box for o in a.objects] == [o.box for o in b.objects]
    other = make_scene(18)
    assert not np.array_equal(a.image, other.image)


def test_detector_is_deterministic_for_a_seed():
    scene = make_scene(3)
    (r1, g1), (r2, g2) = detect(scene), detect(scene)
    assert np.array_equal(r1.boxes, r2.boxes)
    assert np.array_equal(r1.features, r2.features)
    assert np.array_equal(r1.cls_prob, r2.cls_prob)
    assert np.array_equal(g1, g2)


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"min_objects": 0}, "min_objects"),
        ({"colours": ("red", "teal")}, "teal"),
        ({"shapes": ("circle", "blob")}, "blob"),
        ({"image_size": (40, 200)}, "image_size"),
        ({"min_objects": 4, "max_objects": 2}, "max_objects"),
        ({"overlap_prob": 1.5}, "overlap_prob"),
        ({"colours": ()}, "colours"),
    ],
)
def test_bad_world_parameters_name_the_parameter(kwargs, field):
    with pytest.raises(ValueError, match=field):
        WorldConfig(**kwargs)


@pytest.mark.parametrize("kwargs, field", [({"num_regions": 0}, "num_regions"), ({"label_noise": -1}, "label_noise")])
def test_bad_detector_parameters_name_the_parameter(kwargs, field):
    with pytest.raises(ValueError, match=field):
        DetectorConfig(**kwargs)


def test_negative_seed_is_refused():
    with pytest.raises(ValueError, match="seed"):
        make_scene(-1)


def test_world_respects_its_config():
    config = WorldConfig(min_objects=3, max_objects=3, colours=("red",), shapes=("star", "circle"))
    for seed in range(5):
        scene = make_scene(seed, config)
        assert len(scene.objects) == 3
        assert {o.colour for o in scene.objects} == {"red"}
        assert {o.shape for o in scene.objects} <= {"star", "circle"}


def test_objects_are_drawn_where_their_boxes_are():
    scene = make_scene(5)
    for obj in scene.objects:
        x1, y1, x2, y2 = obj.box
        crop = scene.image[y1 : y2 + 1, x1 : x2 + 1].astype(int)
        colour = np.array(COLOURS[obj.colour])
        close = np.abs(crop - colour).max(axis=2) < 40
        assert close.mean() > 0.2  # the shape's own colour fills a good part of its box


def test_captions_link_phrases_to_gold_boxes_flickr_style():
    seen_multi = seen_no_box = False
    for seed in range(40):
        scene = make_scene(seed)
        for caption in scene.captions:
            words = caption.text.split()
            for phrase in caption.phrases:
                assert " ".join(words[phrase.word_slice]) == phrase.text
                assert caption.text[phrase.char_start : phrase.char_end] == phrase.text
                if len(phrase.boxes) == 0:
                    seen_no_box = True
                    assert phrase.phrase_type == "scene"
                    continue
                assert phrase.label in SHAPES
                for box in phrase.boxes:
                    match = [o for o in scene.objects if tuple(box.astype(int)) == o.box]
                    assert match and all(o.shape == phrase.label for o in match)
                first = phrase.text.split()[0]
                if first in COUNT_WORDS:  # counts say how many boxes the phrase has
                    assert COUNT_WORDS.index(first) == len(phrase.boxes)
                    seen_multi |= len(phrase.boxes) > 1
            assert re.fullmatch(r"[a-z .]+", caption.text)
    assert seen_multi and seen_no_box


def test_relations_follow_the_picture():
    for seed in range(60):
        scene = make_scene(seed)
        by_box = {o.box: o for o in scene.objects}
        for caption in scene.captions:
            boxed = [p for p in caption.phrases if len(p.boxes) == 1]
            if " left of " not in caption.text or len(boxed) != 2:
                continue
            a, b = (by_box[tuple(p.boxes[0].astype(int))] for p in boxed)
            assert a.center[0] < b.center[0]


def test_detector_regions_cover_every_object_and_carry_pixel_features():
    scene = make_scene(11)
    regions, gold = detect(scene)
    assert len(regions) == 36
    assert regions.features.shape == (36, FEATURE_DIM)
    assert regions.cls_prob.shape == (36, len(CLASS_NAMES))
    assert regions.class_names == CLASS_NAMES
    overlap = geometry.iot(regions.boxes, scene.object_boxes)
    assert (overlap > 0.5).any(axis=0).all()  # every object has an aligned region
    assert set(gold.tolist()) >= {0} | {o.class_index for o in scene.objects}
    # Features are computed from pixels: recolouring the image changes them.
    grey = np.full_like(scene.image, 128)
    assert not np.allclose(region_features(grey, regions.boxes), regions.features)
    # Two regions with the same box on the same pixels get the same feature (no label leaked).
    twice = region_features(scene.image, np.stack([regions.boxes[0], regions.boxes[0]]))
    assert np.array_equal(twice[0], twice[1])


def test_fewer_regions_still_keep_a_box_per_object():
    scene = make_scene(2, WorldConfig(min_objects=5, max_objects=5))
    regions, _ = detect(scene, DetectorConfig(num_regions=5))
    assert len(regions) == 5
    assert (geometry.iot(regions.boxes, scene.object_boxes) > 0.5).any(axis=0).all()


def _top1_agreement(noise: float, seeds) -> float:
    hits = total = 0
    for seed in seeds:
        scene = make_scene(seed)
        regions, gold = detect(scene, DetectorConfig(label_noise=noise))
        objects = gold > 0
        hits += int((regions.cls_prob[objects].argmax(axis=1) == gold[objects]).sum())
        total += int(objects.sum())
    return hits / total


def test_label_noise_controls_agreement_with_gold():
    seeds = range(30)
    clean, silver, noisy = (_top1_agreement(n, seeds) for n in (0.0, 1.1, 4.0))
    assert clean == 1.0
    assert noisy < silver < clean
    assert 0.3 < silver < 0.46  # calibrated to the paper's 38%


def test_gold_region_classes_match_objects_by_iou():
    scene = make_scene(4)
    boxes = np.vstack([scene.object_boxes[:1], [[0, 0, 3, 3]]])
    classes = gold_region_classes(boxes, scene)
    assert classes[0] == scene.objects[0].class_index and classes[1] == 0


def test_demo_set_loads_with_images_boxes_and_regions():
    dataset = load_demo_set("demo")
    assert isinstance(dataset, ExampleSet)
    assert len({ex.image_id for ex in dataset}) == HELDOUT_SCENES
    assert len(dataset.units()) > 100
    example = dataset[0]
    assert example.image.shape == (192, 192, 3)
    assert example.regions.features.shape == (36, FEATURE_DIM)
    assert dataset.average_region_feature().shape == (FEATURE_DIM,)
    assert any(len(p.boxes) == 0 for ex in dataset for p in ex.phrases)
    with pytest.raises(ValueError, match="limit"):
        load_demo_set("demo", limit=0)
    with pytest.raises(ValueError, match="demo"):
        load_demo_set("other")


def test_demo_set_is_the_world_rendered_from_its_seeds():
    dataset = load_demo_set("demo", limit=2)
    for seed in heldout_seeds(2):
        scene, regions = scene_with_regions(seed)
        shipped = [ex for ex in dataset if ex.image_id == f"scene{seed}"]
        assert [ex.caption for ex in shipped] == [c.text for c in scene.captions]
        if cv2.__version__ == _shipped_opencv():  # anti-aliasing may differ across OpenCV builds
            assert np.array_equal(shipped[0].regions.boxes, regions.boxes)
            assert np.array_equal(shipped[0].image, scene.image)
            np.testing.assert_allclose(shipped[0].regions.features, regions.features, atol=1e-6)


def _shipped_opencv() -> str:
    import json

    from vlexplore.assets import DEMO_DIR

    return json.loads((DEMO_DIR / "heldout.json").read_text()).get("opencv", "")


def test_random_scene_gives_a_fresh_example_with_image_and_regions():
    example = random_scene(123456, caption=1)
    assert isinstance(example, Example)
    assert example.image is not None and example.regions is not None
    assert example.caption == make_scene(123456).captions[1].text
    assert np.array_equal(random_scene(123456, caption=1).regions.features, example.regions.features)
    with pytest.raises(ValueError, match="caption"):
        random_scene(1, caption=7)


def test_demo_set_with_gold_region_labels_matches_the_detector_truth():
    silver = load_demo_set("demo", limit=3)
    gold = load_demo_set("demo", limit=3, region_labels="gold")
    for seed, example in zip(heldout_seeds(3), [ex for ex in gold if ex.example_id.endswith("-0")], strict=True):
        scene = make_scene(seed)
        regions, classes = detect(scene)
        assert np.array_equal(example.regions.cls_prob.argmax(axis=1), classes)
        assert np.array_equal(example.regions.cls_prob.max(axis=1), np.ones(len(classes)))
    assert not np.array_equal(silver[0].regions.cls_prob, gold[0].regions.cls_prob)
    with pytest.raises(ValueError, match="region_labels"):
        load_demo_set("demo", region_labels="bronze")


def _fill(scene, obj) -> float:
    """Share of an object's tight box covered by colourful pixels (a disc fills about pi/4)."""
    x1, y1, x2, y2 = obj.box
    crop = scene.image[y1:y2 + 1, x1:x2 + 1].astype(int)
    return float(((crop.max(axis=2) - crop.min(axis=2)) > 60).mean())


def test_blob_objects_hide_their_shape_but_keep_box_and_caption():
    world = WorldConfig(min_objects=1, max_objects=1, blob_prob=1.0)
    fills, shapes = {}, set()
    for seed in range(40):
        scene = make_scene(seed, world)
        (obj,) = scene.objects
        shapes.add(obj.shape)
        fills.setdefault(obj.shape, []).append(_fill(scene, obj))
        x1, y1, x2, y2 = obj.box
        assert abs((x2 - x1) - (y2 - y1)) <= 2  # a disc's box, whatever the shape
        assert all(p.label == obj.shape for c in scene.captions for p in c.phrases if len(p.boxes))
    assert len(shapes) >= 4
    means = {s: np.mean(v) for s, v in fills.items()}
    assert max(means.values()) - min(means.values()) < 0.08, means  # every shape looks the same
    plain = [make_scene(s, WorldConfig(min_objects=1, max_objects=1)) for s in range(40)]
    sharp = [_fill(scene, scene.objects[0]) for scene in plain if scene.objects[0].shape == "triangle"]
    assert sharp and np.mean(sharp) < min(means.values()) - 0.15  # drawn sharp, a triangle fills far less
    with pytest.raises(ValueError, match="blob_prob"):
        WorldConfig(blob_prob=1.5)


def test_the_positive_control_set_names_each_hidden_shape_in_words():
    dataset = load_demo_set("demo-lang", limit=6)
    assert len({ex.image_id for ex in dataset}) == 6
    for example in dataset:
        boxed = [p for p in example.phrases if len(p.boxes)]
        assert len(boxed) == 1  # one object per scene
        assert boxed[0].label in SHAPES
    gold = load_demo_set("demo-lang", limit=6, region_labels="gold")
    assert "gold region labels" in gold.description
