"""The one model protocol every backend implements.

The engine builds a batch of ablated inputs (six conditions per phrase) and calls
``forward`` once; a backend only has to turn the batch into its own input layout
(global feature first or not, 4-d or 5-d boxes, pixel patches) and return logits at the
positions the engine asks for. Scoring never looks inside a model.

May import: errors, records, text, numpy and torch; every backend and ``common`` import this, the engine
and the views use it, and it imports none of them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch

from .. import geometry
from ..errors import InputError
from ..protocol import BLANK_PATCH, AblationSettings, Baseline
from ..records import Phrase
from ..text import EncodedCaption, encode_caption

__all__ = [
    "RegionInput", "PixelInput", "VLBatch", "VLOutput", "TextAttention", "split_text_attention", "VLModel",
    "ModelLoadError", "checked_weights",
]  # fmt: skip


class ModelLoadError(InputError):
    """A checkpoint or model directory could not be loaded; the message says what to do."""


def checked_weights(state: dict[str, torch.Tensor], expected: dict[str, torch.Tensor], where) -> dict[str, torch.Tensor]:
    """``state`` with half-precision weights cast to the model's dtype; refuses the rest.

    A checkpoint saved in fp16/bf16 would otherwise fail at the first matmul; an integer
    tensor where the model has a float weight (a safetensors header relabelling F32 as I32)
    would load as garbage; a NaN or infinite weight would make every score NaN.
    """
    checked = {}
    for name, tensor in state.items():
        want = expected.get(name)
        if want is not None and want.dtype.is_floating_point:
            if not tensor.dtype.is_floating_point:
                raise ModelLoadError(
                    f"{where}: {name} is stored as {tensor.dtype} but it is a {want.dtype} weight; "
                    "the file's header was altered or it is not this model's checkpoint"
                )
            if tensor.dtype != want.dtype:
                tensor = tensor.to(want.dtype)
            if not bool(torch.isfinite(tensor).all()):
                raise ModelLoadError(
                    f"{where}: weight {name} contains NaN or infinite values; the checkpoint is "
                    "damaged (or training diverged): download it again"
                )
        checked[name] = tensor
    return checked


@dataclass
class RegionInput:
    """Detector regions of each row, already ablated by the engine.

    ``global_features`` is the whole-image feature (mean of regions, recomputed or not as
    the condition says); backends that take a global row put it first, others ignore it.
    """

    features: torch.Tensor  # (B, N, D) float
    global_features: torch.Tensor  # (B, D)
    boxes: torch.Tensor  # (B, N, 4) pixel boxes x1, y1, x2, y2
    image_sizes: torch.Tensor  # (B, 2) width, height
    mask: torch.Tensor  # (B, N) 1 for a real region, 0 for padding
    ablated: torch.Tensor  # (B, N) bool, the regions this row ablated (for display and checks)


@dataclass
class PixelInput:
    """Raw images for pixel-input models; ``patch_ablation`` marks the patches to replace."""

    images: list[np.ndarray]  # B RGB uint8 arrays (rows of one example share the array)
    patch_ablation: torch.Tensor  # (B, P) bool
    baseline: str = BLANK_PATCH.source  # what replaces an ablated patch (``model.patch_baseline``)
    replacement: np.ndarray | None = None  # (D,) the vector that baseline carries (dataset image-token mean)


@dataclass
class VLBatch:
    input_ids: torch.Tensor  # (B, T)
    attention_mask: torch.Tensor  # (B, T)
    visual: RegionInput | PixelInput
    text_positions: torch.Tensor  # (B, M) token positions whose MLM logits are wanted
    region_positions: torch.Tensor | None = None  # (B, K) region indices (0-based, no global row)
    # (B,) VL-BERT only: text positions from here on are shifted (VOLTA's batch rule);
    # None: each row from its own caption length
    text_shift_from: torch.Tensor | None = None

    @property
    def size(self) -> int:
        return int(self.input_ids.shape[0])


@dataclass
class VLOutput:
    text_logits: torch.Tensor  # (B, M, vocab) at text_positions: predictions *of* those tokens; CPU or the model's device
    region_logits: torch.Tensor | None = None  # (B, K, classes) at region_positions


@dataclass
class TextAttention:
    """Where the text tokens at ``text_positions`` attend, in each layer where they see regions.

    Per layer the probabilities of one softmax split three ways, so for every token and
    head ``to_text + to_global + to_regions.sum(-1)`` is 1 (``to_text`` is 0 in a
    cross-attention layer whose text queries see only the image).
    """

    to_regions: torch.Tensor  # (B, layers, heads, M, N) to each region (no global row)
    to_global: torch.Tensor  # (B, layers, heads, M) to the whole-image row (0 without one)
    to_text: torch.Tensor  # (B, layers, heads, M) to the text tokens, summed
    layers: list[str]  # a name per layer, e.g. "sublayer 3"


def split_text_attention(
    collected: list[tuple[torch.Tensor, int]], text_positions: torch.Tensor, n_regions: int, names: list[str],
    global_row: bool = True,
) -> TextAttention:
    """Per layer (probabilities (B, h, T, keys), number of text keys first) -> ``TextAttention``.

    The keys after the text are [global;] regions (``global_row``); the last ``n_regions``
    are the regions (a model may add padding rows after them: none here).
    """
    out = {"to_regions": [], "to_global": [], "to_text": []}
    for probs, n_text in collected:
        index = text_positions.long().clamp_min(0).to(probs.device)  # (B, M)
        rows = probs.gather(2, index[:, None, :, None].expand(-1, probs.shape[1], -1, probs.shape[3]))  # (B, h, M, keys)
        vision = rows[..., n_text:]
        start = 1 if global_row else 0
        out["to_text"].append(rows[..., :n_text].sum(-1))
        out["to_global"].append(vision[..., 0] if global_row else torch.zeros_like(rows[..., 0]))
        out["to_regions"].append(vision[..., start : start + n_regions])
    return TextAttention(**{k: torch.stack(v, dim=1).float().cpu() for k, v in out.items()}, layers=names)


class VLModel(ABC):
    """What the engine, app and CLI need from a vision-and-language model."""

    #: short display name, e.g. "demo" or "volta:uniter"
    name: str = "model"
    #: "regions" (detector features) or "pixels" (image patches, ViLT-style)
    input_kind: Literal["regions", "pixels"] = "regions"
    #: the most tokens a caption may take, [CLS] and [SEP] included
    max_text_length: int = 38
    #: class names of the region-classification head, or None when the model has none
    region_class_names: tuple[str, ...] | None = None
    #: one line for the UI: where the weights came from, what the model is
    description: str = ""
    #: how the phrase is read out. "mlm": the phrase is masked and predicted (BERT-style).
    #: "causal": the phrase stays in the input and each of its tokens is predicted from its
    #: left context (teacher forcing); ``forward`` does the shift, so ``text_logits`` at
    #: ``text_positions`` are still the predictions of the tokens at those positions.
    #: Causal models have no region head: Language-for-Vision does not apply to them.
    readout: Literal["mlm", "causal"] = "mlm"
    #: how the readout differs from the paper's, for the UI ("" for the paper's MLM readout)
    readout_note: str = ""
    #: where the weights live; ``forward`` moves each batch there and returns CPU logits
    device: torch.device = torch.device("cpu")
    #: how text positions are assigned: "per-caption" (each row on its own) for every model;
    #: VOLTA's VL-BERT also offers "volta-batch16" (the published runs' batch coupling)
    text_position_rules: tuple[str, ...] = ("per-caption",)

    def __init__(self) -> None:
        self.tokenizer = None  # a Hugging Face tokenizer, set by the backend

    def to(self, device: str | torch.device) -> VLModel:
        """Move the weights (every torch module the model holds) to ``device``; "auto" = CUDA when present."""
        from .common import resolve_device

        device = resolve_device(device, self.name)
        for value in vars(self).values():
            if isinstance(value, torch.nn.Module):
                value.to(device)
        self.device = device
        return self

    @abstractmethod
    def forward(self, batch: VLBatch) -> VLOutput:
        """Logits at the requested positions for every row of the batch, in one pass."""

    def text_attention(self, batch: VLBatch) -> TextAttention:
        """The text queries' attention to the regions, for models that can say (``has_attention``).

        A separate pass from ``forward``, so the default path keeps its fused kernels.
        """
        raise NotImplementedError(f"{self.name} does not expose its attention")

    @property
    def has_attention(self) -> bool:
        return type(self).text_attention is not VLModel.text_attention

    def encode_caption(self, caption: str, phrase: Phrase) -> EncodedCaption:
        """Token ids of ``caption`` and where ``phrase`` sits in them.

        Default: BERT-style [CLS] caption [SEP]. A generative backend overrides this to put
        its own prompt around the caption (``phrase_positions`` then index into the whole).
        """
        return encode_caption(self.tokenizer, caption, phrase, self.max_text_length)

    # Region models -----------------------------------------------------------------
    def detector_targets(self, cls_prob: np.ndarray, class_names: tuple[str, ...] | None) -> np.ndarray:
        """The detector's distribution expressed over this model's region classes.

        Default: the classes must be the same list. LXMERT's 1,600-way head overrides this
        to drop the background class and renormalise.
        """
        if self.region_class_names is None:
            raise ValueError(f"{self.name} has no region-classification head")
        if cls_prob.shape[-1] != len(self.region_class_names):
            raise ValueError(
                f"regions cls_prob has {cls_prob.shape[-1]} classes but {self.name}'s region head has "
                f"{len(self.region_class_names)}; use features from the detector this model was trained with"
            )
        if class_names is not None and tuple(class_names) != tuple(self.region_class_names):
            raise ValueError(
                f"regions class names differ from {self.name}'s region classes; use features from the "
                "detector this model was trained with"
            )
        return cls_prob

    # Pixel models ------------------------------------------------------------------
    def patch_boxes(self, image_size: tuple[int, int]) -> np.ndarray:
        """(P, 4) pixel boxes of the patches this model cuts an image of ``image_size`` into."""
        raise NotImplementedError(f"{self.name} takes detector regions, not image patches")

    def patches_under_boxes(
        self, image_size: tuple[int, int], boxes, min_coverage: float = 0.5, border: int = 0
    ) -> np.ndarray:
        """(P,) bool, the patches ``boxes`` covers (plus ``border`` rings of neighbours).

        Default: ViLT's rule on one grid. Models that see a picture in several views (tiles
        and a global view) override this to apply the rule in each view.
        """
        patches = self.patch_boxes(image_size)
        under = geometry.patches_under_boxes(patches, boxes, min_coverage)
        return geometry.grow_patches(under, geometry.grid_positions(patches), border)

    def patch_views(self, image_size: tuple[int, int]) -> list[str]:
        """Per patch, the view of the picture it belongs to ("image"; a tile or "global" for
        models that cut the picture into tiles), so the app can draw one view at a time."""
        return ["image"] * len(self.patch_boxes(image_size))

    def patch_baseline(self, settings: AblationSettings, average_feature: np.ndarray | None = None) -> Baseline:
        """What replaces an ablated patch; recorded with every result. Default: a blank patch.
        ``average_feature``: the set's mean token, where ``dataset_token_mean`` gives one."""
        return BLANK_PATCH

    def dataset_token_mean(self, examples, progress: bool = False) -> np.ndarray | None:
        """The mean of this model's ablatable input tokens over a set of examples, for
        ``AblationSettings(baseline="dataset-mean")``; None where the model has no such
        replacement (ViLT's blank patch)."""
        return None

    @property
    def has_region_head(self) -> bool:
        return self.region_class_names is not None

    @property
    def feature_dim(self) -> int | None:
        """Region feature size the model expects (None for pixel models)."""
        return None
