"""The phrase colours stay apart for colour-blind viewers: each palette colour is simulated
under protanopia, deuteranopia and tritanopia (Machado, Oliveira & Fernandes 2009, severity 1,
applied to linear sRGB) and compared in CIELAB (CIE76 delta E)."""

import itertools

import numpy as np
import pytest

from vlexplore.views import overlay

# Machado et al. (2009), Table 1 at severity 1.0, rows map linear RGB -> simulated linear RGB.
MACHADO = {
    "protanopia": [[0.152286, 1.052583, -0.204868], [0.114503, 0.786281, 0.099216], [-0.003882, -0.048116, 1.051998]],
    "deuteranopia": [[0.367322, 0.860646, -0.227968], [0.280085, 0.672501, 0.047413], [-0.011820, 0.042940, 0.968881]],
    "tritanopia": [[1.255528, -0.076749, -0.178779], [-0.078411, 0.930809, 0.147602], [0.004733, 0.691367, 0.303900]],
}
SRGB_TO_XYZ = np.array([[0.4124, 0.3576, 0.1805], [0.2126, 0.7152, 0.0722], [0.0193, 0.1192, 0.9505]])
D65 = np.array([0.95047, 1.0, 1.08883])
MIN_DELTA_E = 15.0  # clearly different at a glance (delta E ~2.3 is "just noticeable")
OLD_PALETTE = ("#e6194b", "#1f9e3a")  # the app's first two phrase colours before issue 13


def linear(hex_colour: str) -> np.ndarray:
    h = hex_colour.lstrip("#")
    c = np.array([int(h[i : i + 2], 16) for i in (0, 2, 4)]) / 255
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def lab(linear_rgb: np.ndarray) -> np.ndarray:
    xyz = SRGB_TO_XYZ @ np.clip(linear_rgb, 0, 1) / D65
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    return np.array([116 * f[1] - 16, 500 * (f[0] - f[1]), 200 * (f[1] - f[2])])


def seen(hex_colour: str, deficiency: str | None) -> np.ndarray:
    rgb = linear(hex_colour)
    return lab(rgb if deficiency is None else np.array(MACHADO[deficiency]) @ rgb)


def closest_pair(colours, deficiency) -> float:
    return min(float(np.linalg.norm(seen(a, deficiency) - seen(b, deficiency)))
               for a, b in itertools.combinations(colours, 2))


def test_the_simulation_is_the_standard_one():
    assert np.allclose(np.array(MACHADO["deuteranopia"]).sum(axis=1), 1, atol=1e-3)  # white stays white
    assert closest_pair(OLD_PALETTE, "deuteranopia") < 3  # the crimson and green: the same olive
    assert closest_pair(OLD_PALETTE, None) > 100


@pytest.mark.parametrize("deficiency", [None, "protanopia", "deuteranopia", "tritanopia"])
def test_phrase_colours_stay_apart(deficiency):
    assert closest_pair(overlay.PHRASE_COLOURS, deficiency) >= MIN_DELTA_E


@pytest.mark.parametrize("deficiency", [None, "protanopia", "deuteranopia"])
def test_the_ablation_mark_is_apart_from_every_phrase_colour(deficiency):
    for colour in overlay.PHRASE_COLOURS:
        assert closest_pair((overlay.MARK_COLOUR, colour), deficiency) >= MIN_DELTA_E


def test_ablation_marks_are_outlines_not_tints():
    from tiny import make_example

    example = make_example()
    fig = overlay.image_figure(overlay.example_image(example), example.phrases, 0, example.regions.boxes,
                               np.ones(len(example.regions.boxes), bool), target=0)
    marks = [s for s in fig.layout.shapes if s.name and ("ablated" in s.name or "target" in s.name)]
    assert marks and all(s.fillcolor in (None, "rgba(0,0,0,0)") for s in marks)
