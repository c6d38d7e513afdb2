"""The five controlled VOLTA models (Bugliarello et al., TACL 2021) behind the model protocol.

VOLTA re-implements LXMERT, ViLBERT, VL-BERT, VisualBERT and UNITER as one encoder whose
layout a JSON config describes: a stack of *sublayers*, each an attention sublayer or a
feed-forward sublayer, and for each attention sublayer which of the four attention blocks
it has: text->text (tt), text->vision (tv), vision->text (vt), vision->vision (vv).

- Single-stream models (UNITER, VisualBERT, VL-BERT) have all four in every attention
  sublayer, with one set of weights for both modalities (``shared_sublayers``): plain BERT
  over the concatenation [text; regions]. They differ only in their embeddings.
- ViLBERT has text-only BERT layers, then co-attention (tv + vt, separate weights) and
  per-stream self-attention (tt / vv, separate weights).
- LXMERT has text-only and vision-only layers, then cross-attention (tv + vt, one set of
  weights for both directions) followed by per-stream self-attention.

Where a sublayer has both tt and tv, the text queries take one softmax over the
concatenated text and vision keys (likewise vt + vv); a stream a sublayer does not touch
passes through unchanged. This file is our own code; it reproduces the computation and the
state-dict names of VOLTA's ``BertForVLPreTraining`` (``volta/encoders.py``,
``volta/embeddings.py``) so that the published checkpoints (``pytorch_model_9.bin``) load
strictly. See ``load_volta`` and ``VoltaBackend``.
"""

from __future__ import annotations

import dataclasses
import json
import pickle
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..assets import VOLTA_CONFIG_DIR, vg_classes
from ..geometry import encode_boxes
from ..text import bert_tokenizer
from .base import ModelLoadError, RegionInput, VLBatch, VLModel, VLOutput

__all__ = [
    "ARCHS",
    "CONFIG_FILES",
    "VoltaConfig",
    "VoltaOutput",
    "VoltaForPretraining",
    "VoltaBackend",
    "load_volta",
    "load_from_spec",
    "read_state_dict",
    "expected_shapes",
    "vg_region_classes",
]

CONFIG_DIR = VOLTA_CONFIG_DIR
CONFIG_FILES: dict[str, str] = {
    "lxmert": "ctrl_lxmert.json",
    "vilbert": "ctrl_vilbert_base.json",
    "vl-bert": "ctrl_vl-bert_base.json",
    "visualbert": "ctrl_visualbert_base.json",
    "uniter": "ctrl_uniter_base.json",
}
ARCHS = tuple(CONFIG_FILES)
DOWNLOAD_HINT = (
    "download the VOLTA controlled checkpoints (ctrl_lxmert, ctrl_vilbert, ctrl_vl-bert, "
    "ctrl_visualbert, ctrl_uniter; the file is pytorch_model_9.bin) from the model list in the "
    "VOLTA project's MODELS.md (https://github.com/e-bug/volta/blob/main/MODELS.md)"
)
#: output size of each VOLTA visual target head (``volta/losses.py``); "0" is the 1,601-way
#: KL-to-detector head that Language-for-Vision reads out
VISUAL_TARGET_SIZES = {"0": 1601, "1": 2048, "2": 2048, "3": 1600, "4": 400, "5": 2048, "6": 1601}
IMAGE_EMBEDDINGS = ("vilbert", "lxmert", "uniter", "visualbert", "vl-bert")
#: JSON keys VOLTA's configs carry that do not change inference (dropout, init, fine-tuning)
IGNORED_KEYS = {
    "attention_probs_dropout_prob",
    "hidden_dropout_prob",
    "initializer_range",
    "v_attention_probs_dropout_prob",
    "v_hidden_dropout_prob",
    "v_initializer_range",
    "clf_hidden_size",
    "bert_layer2attn_sublayer",
    "bert_layer2ff_sublayer",
    "bert_model",
    "model",
    "do_lower_case",
    "max_boxes",
    "objective",
    "fixed_layers",
    "qa_task_weight",
    "qa_num_answers",
}


# ==================================================================================== #
#                                        Config                                        #
# ==================================================================================== #
@dataclass(frozen=True)
class VoltaConfig:
    """A VOLTA architecture; defaults are VOLTA's ``BertConfig`` defaults, fields its JSON keys."""

    vocab_size: int = 30522
    hidden_size: int = 768
    num_attention_heads: int = 12
    intermediate_size: int = 3072
    pooler_size: int = 768
    hidden_act: str = "gelu"
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    layer_norm_eps: float = 1e-12
    num_locs: int = 5
    v_coordinate_embeddings_dim: int | None = None
    add_global_imgfeat: str | None = None
    image_embeddings: str = "vilbert"
    v_feature_size: int = 2048
    v_hidden_size: int = 768
    v_num_attention_heads: int = 12
    v_intermediate_size: int = 3072
    v_pooler_size: int = 1024
    v_hidden_act: str = "gelu"
    visual_target_weights: dict[str, float] = field(default_factory=lambda: {"0": 1.0})
    fusion_method: str = "mul"
    fusion_act: str = "relu"
    image_head_ln: bool = True
    itm_dim: int = 2
    tt_attn_sublayers: tuple[int, ...] = ()
    tv_attn_sublayers: tuple[int, ...] = ()
    vt_attn_sublayers: tuple[int, ...] = ()
    vv_attn_sublayers: tuple[int, ...] = ()
    t_ff_sublayers: tuple[int, ...] = ()
    v_ff_sublayers: tuple[int, ...] = ()
    shared_sublayers: tuple[int, ...] = ()
    single_ln_sublayers: tuple[int, ...] = ()
    sublayer2attn_hidden_size: dict[str, int] = field(default_factory=dict)
    sublayer2num_attention_heads: dict[str, int] = field(default_factory=dict)
    sublayer2intermediate_size: dict[str, int] = field(default_factory=dict)
    sublayer2v_attn_hidden_size: dict[str, int] = field(default_factory=dict)
    sublayer2v_num_attention_heads: dict[str, int] = field(default_factory=dict)
    sublayer2v_intermediate_size: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in (
            "tt_attn_sublayers", "tv_attn_sublayers", "vt_attn_sublayers", "vv_attn_sublayers",
            "t_ff_sublayers", "v_ff_sublayers", "shared_sublayers", "single_ln_sublayers",
        ):  # fmt: skip
            object.__setattr__(self, name, tuple(int(n) for n in getattr(self, name)))
        if self.image_embeddings not in IMAGE_EMBEDDINGS:
            raise ValueError(
                f"VOLTA config image_embeddings {self.image_embeddings!r} is not one of "
                f"{', '.join(IMAGE_EMBEDDINGS)}"
            )
        if self.fusion_method not in {"mul", "sum", "text"}:
            raise ValueError(
                f"VOLTA config fusion_method {self.fusion_method!r}: vlexplore runs 'mul', 'sum' or 'text'"
            )
        attn = set(self.attention_sublayers)
        ff = set(self.t_ff_sublayers + self.v_ff_sublayers)
        if attn & ff:
            raise ValueError(
                f"VOLTA config: sublayers {sorted(attn & ff)} are both attention and feed-forward"
            )
        if attn | ff != set(range(len(attn | ff))):
            raise ValueError("VOLTA config: sublayer numbers must run 0, 1, 2, ... without gaps")
        for n in self.single_ln_sublayers:
            if not (self.has_text(n) and self.has_vision(n) and n in self.shared_sublayers):
                raise ValueError(
                    f"VOLTA config: single_ln sublayer {n} must have both streams and be shared"
                )
        if self.image_embeddings == "vl-bert" and not self.v_coordinate_embeddings_dim:
            raise ValueError("VOLTA config: vl-bert embeddings need v_coordinate_embeddings_dim")
        if self.image_embeddings in {"uniter", "visualbert", "vl-bert"} and (
            self.hidden_size != self.v_hidden_size
        ):
            raise ValueError(
                f"VOLTA config: {self.image_embeddings} embeddings need hidden_size == v_hidden_size"
            )

    # -- reading -------------------------------------------------------------------- #
    @classmethod
    def from_dict(cls, values: dict, source: str = "config") -> VoltaConfig:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known - IGNORED_KEYS)
        if unknown:
            raise ValueError(f"{source}: unknown VOLTA config keys {', '.join(unknown)}")
        return cls(**{k: v for k, v in values.items() if k in known})

    @classmethod
    def from_json(cls, path: str | Path) -> VoltaConfig:
        path = Path(path)
        try:
            values = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise ValueError(f"{path}: not a readable VOLTA JSON config ({error})") from error
        return cls.from_dict(values, source=str(path))

    @classmethod
    def for_arch(cls, arch: str) -> VoltaConfig:
        """The shipped controlled-setup config of ``arch`` (lxmert, vilbert, ...)."""
        if arch not in CONFIG_FILES:
            raise ValueError(
                f"unknown VOLTA architecture {arch!r}; choose one of {', '.join(ARCHS)}"
            )
        return cls.from_json(CONFIG_DIR / CONFIG_FILES[arch])

    def replace(self, **changes) -> VoltaConfig:
        return dataclasses.replace(self, **changes)

    def keep_last_sublayers(self, count: int) -> VoltaConfig:
        """The same layout cut to its last ``count`` sublayers, renumbered from 0.

        For small test models: every architecture's tail is its cross-modal part.
        """
        start = self.depth - count
        if not 0 <= start < self.depth:
            raise ValueError(f"keep_last_sublayers: count must be 1..{self.depth}, got {count}")

        def cut(numbers: tuple[int, ...]) -> tuple[int, ...]:
            return tuple(n - start for n in numbers if n >= start)

        names = (
            "tt_attn_sublayers", "tv_attn_sublayers", "vt_attn_sublayers", "vv_attn_sublayers",
            "t_ff_sublayers", "v_ff_sublayers", "shared_sublayers", "single_ln_sublayers",
        )  # fmt: skip
        return self.replace(**{name: cut(getattr(self, name)) for name in names})

    # -- layout ---------------------------------------------------------------------- #
    @property
    def attention_sublayers(self) -> tuple[int, ...]:
        return tuple(
            sorted(
                set(
                    self.tt_attn_sublayers
                    + self.tv_attn_sublayers
                    + self.vt_attn_sublayers
                    + self.vv_attn_sublayers
                )
            )
        )

    @property
    def depth(self) -> int:
        return len(set(self.attention_sublayers + self.t_ff_sublayers + self.v_ff_sublayers))

    def is_attention(self, n: int) -> bool:
        return n in self.attention_sublayers

    def has_text(self, n: int) -> bool:
        if self.is_attention(n):
            return n in self.tt_attn_sublayers or n in self.tv_attn_sublayers
        return n in self.t_ff_sublayers

    def has_vision(self, n: int) -> bool:
        if self.is_attention(n):
            return n in self.vv_attn_sublayers or n in self.vt_attn_sublayers
        return n in self.v_ff_sublayers

    def is_shared(self, n: int) -> bool:
        """One set of weights for both streams (only when the sublayer has both)."""
        return n in self.shared_sublayers and self.has_text(n) and self.has_vision(n)

    def is_joint(self, n: int) -> bool:
        """One set of weights and full attention across both streams: BERT over [text; regions]."""
        if not self.is_shared(n):
            return False
        if self.is_attention(n):
            blocks = (
                self.tt_attn_sublayers,
                self.tv_attn_sublayers,
                self.vt_attn_sublayers,
                self.vv_attn_sublayers,
            )
            return all(n in block for block in blocks)
        return True

    def sizes(self, n: int) -> dict[str, int]:
        key = str(n)
        return {
            "attn": self.sublayer2attn_hidden_size.get(key, self.hidden_size),
            "heads": self.sublayer2num_attention_heads.get(key, self.num_attention_heads),
            "inter": self.sublayer2intermediate_size.get(key, self.intermediate_size),
            "v_attn": self.sublayer2v_attn_hidden_size.get(key, self.v_hidden_size),
            "v_heads": self.sublayer2v_num_attention_heads.get(key, self.v_num_attention_heads),
            "v_inter": self.sublayer2v_intermediate_size.get(key, self.v_intermediate_size),
        }

    @property
    def visual_targets(self) -> dict[str, int]:
        return {k: VISUAL_TARGET_SIZES[k] for k, w in self.visual_target_weights.items() if w > 0}


ACTIVATIONS = {
    "gelu": lambda x: F.gelu(x),  # the exact (erf) GELU, as VOLTA's gelu()
    "relu": F.relu,
    "swish": lambda x: x * torch.sigmoid(x),
}


def _activation(name: str):
    if name not in ACTIVATIONS:
        raise ValueError(
            f"VOLTA config: activation {name!r} is not one of {', '.join(ACTIVATIONS)}"
        )
    return ACTIVATIONS[name]


def _layer_norm(size: int, config: VoltaConfig) -> nn.LayerNorm:
    return nn.LayerNorm(size, eps=config.layer_norm_eps)


# ==================================================================================== #
#                                      Embeddings                                      #
# ==================================================================================== #
class TextEmbeddings(nn.Module):
    """BERT's word + position + segment embeddings (dual-stream models' ``bert.embeddings``)."""

    def __init__(self, config: VoltaConfig) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size, padding_idx=0)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = _layer_norm(config.hidden_size, config)

    def summed(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)[None, :]
        return (
            self.word_embeddings(input_ids)
            + self.position_embeddings(positions)
            + self.token_type_embeddings(token_type_ids)
        )

    def forward(self, input_ids: torch.Tensor, token_type_ids: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.summed(input_ids, token_type_ids))


class ViLBertImageEmbeddings(nn.Module):
    """LayerNorm(W_f feature + W_l box)."""

    def __init__(self, config: VoltaConfig) -> None:
        super().__init__()
        self.image_embeddings = nn.Linear(config.v_feature_size, config.v_hidden_size)
        self.image_location_embeddings = nn.Linear(config.num_locs, config.v_hidden_size)
        self.LayerNorm = _layer_norm(config.v_hidden_size, config)

    def forward(self, image_feat: torch.Tensor, image_loc: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(
            self.image_embeddings(image_feat) + self.image_location_embeddings(image_loc)
        )


class LxmertImageEmbeddings(nn.Module):
    """(LayerNorm(W_f feature) + LayerNorm(W_l box)) / 2."""

    def __init__(self, config: VoltaConfig) -> None:
        super().__init__()
        self.image_embeddings = nn.Linear(config.v_feature_size, config.v_hidden_size)
        self.image_location_embeddings = nn.Linear(config.num_locs, config.v_hidden_size)
        self.ImgLayerNorm = _layer_norm(config.v_hidden_size, config)
        self.LocLayerNorm = _layer_norm(config.v_hidden_size, config)

    def forward(self, image_feat: torch.Tensor, image_loc: torch.Tensor) -> torch.Tensor:
        features = self.ImgLayerNorm(self.image_embeddings(image_feat))
        locations = self.LocLayerNorm(self.image_location_embeddings(image_loc))
        return (features + locations) / 2


class UniterEmbeddings(TextEmbeddings):
    """Text as BERT; regions: LN(LN(W_f f) + LN(W_l box) + segment 1), segment table shared."""

    def __init__(self, config: VoltaConfig) -> None:
        super().__init__(config)
        self.image_embeddings = nn.Linear(config.v_feature_size, config.v_hidden_size)
        self.image_location_embeddings = nn.Linear(config.num_locs, config.v_hidden_size)
        self.image_layer_norm = _layer_norm(config.hidden_size, config)
        self.image_location_layer_norm = _layer_norm(config.hidden_size, config)
        self.v_LayerNorm = _layer_norm(config.hidden_size, config)

    def forward(self, input_ids, image_feat, image_loc, token_type_ids):
        text = self.LayerNorm(self.summed(input_ids, token_type_ids))
        segment = self.token_type_embeddings.weight[1]
        vision = (
            self.image_layer_norm(self.image_embeddings(image_feat))
            + self.image_location_layer_norm(self.image_location_embeddings(image_loc))
            + segment
        )
        return text, self.v_LayerNorm(vision)


class VisualBertEmbeddings(TextEmbeddings):
    """Regions: W f + visual position 0 + visual segment 1 (boxes unused); one LN for both."""

    def __init__(self, config: VoltaConfig) -> None:
        super().__init__(config)
        self.projection = nn.Linear(config.v_feature_size, config.hidden_size)
        self.token_type_embeddings_visual = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.position_embeddings_visual = nn.Embedding(
            config.max_position_embeddings, config.hidden_size
        )

    def forward(self, input_ids, image_feat, image_loc, token_type_ids):
        text = self.summed(input_ids, token_type_ids)
        vision = (
            self.projection(image_feat)
            + self.position_embeddings_visual.weight[0]
            + self.token_type_embeddings_visual.weight[1]
        )
        return self.LayerNorm(text), self.LayerNorm(vision)


def box_sinusoids(image_loc: torch.Tensor, dim: int) -> torch.Tensor:
    """VL-BERT's sin/cos embedding of (centre x, centre y, w, h) * 100: (B, K, 4 * 2 * dim)."""
    x1, y1, x2, y2 = image_loc[..., 0], image_loc[..., 1], image_loc[..., 2], image_loc[..., 3]
    position = torch.stack(
        [(x1 + x2) / 2 * 100, (y1 + y2) / 2 * 100, (x2 - x1) * 100, (y2 - y1) * 100], -1
    )
    wavelengths = 1000 ** (
        torch.arange(dim, dtype=image_loc.dtype, device=image_loc.device) / float(dim)
    )
    angles = position[..., None] / wavelengths  # (B, K, 4, dim)
    return torch.cat([angles.sin(), angles.cos()], dim=-1).flatten(-2)


class VLBertEmbeddings(TextEmbeddings):
    """VL-BERT's embeddings, as VOLTA computes them.

    Regions: ReLU(W [box sinusoids; feature]) after a LayerNorm, plus an "object" word
    embedding (the last region gets the "end" embedding), segment 2, and position
    ``text_end`` (the last region ``text_end + 1``), where ``text_end`` is the number of
    non-padding tokens. An all-zero feature row is replaced by the learned
    ``object_mask_visual_embedding`` (so Language-for-Vision's zeroed regions become
    "masked objects"). Every text token also gets LN(feature of the last region).

    One deliberate difference: VOLTA shifts the positions of padding tokens by the number
    of regions with an in-place write into a broadcast tensor, so with captions of
    different lengths in one batch every row gets the shift of the shortest caption. We
    shift each row by its own length, which is what VOLTA computes for a batch of one and
    for any batch whose captions have equal length. (The authors' ablation runs used
    batches of 16 phrases, so in their VL-BERT numbers the tokens of a caption past the
    batch's shortest caption were read at shifted positions.)
    """

    def __init__(self, config: VoltaConfig) -> None:
        super().__init__(config)
        self.coordinate_dim = int(config.v_coordinate_embeddings_dim)
        self.obj_downsample = nn.Sequential(
            nn.Dropout(0.0), nn.Linear(2 * config.v_feature_size, config.v_hidden_size), nn.ReLU()
        )
        if 4 * 2 * self.coordinate_dim != config.v_feature_size:
            raise ValueError(
                "VOLTA config: vl-bert needs 8 * v_coordinate_embeddings_dim == v_feature_size "
                f"(got {self.coordinate_dim} and {config.v_feature_size})"
            )
        self.object_linguistic_embeddings = nn.Embedding(1, config.hidden_size)
        self.object_mask_visual_embedding = nn.Embedding(1, config.v_feature_size)
        self.end_embedding = nn.Embedding(1, config.hidden_size)
        self.visual_ln_text = _layer_norm(config.hidden_size, config)
        self.visual_ln_object = _layer_norm(config.hidden_size, config)

    def forward(self, input_ids, image_feat, image_loc, token_type_ids):
        batch, num_boxes, _ = image_feat.shape
        all_zero = (image_feat == 0).all(dim=-1, keepdim=True)
        image_feat = torch.where(all_zero, self.object_mask_visual_embedding.weight[0], image_feat)
        objects = self.obj_downsample(
            torch.cat([box_sinusoids(image_loc, self.coordinate_dim), image_feat], -1)
        )

        object_words = self.object_linguistic_embeddings.weight[0].expand(batch, num_boxes, -1)
        is_last = torch.arange(num_boxes, device=image_feat.device) == num_boxes - 1
        object_words = torch.where(
            is_last[None, :, None], self.end_embedding.weight[0], object_words
        )

        text_end = (input_ids != 0).sum(dim=1, keepdim=True)  # (B, 1)
        text_positions = torch.arange(input_ids.shape[1], device=input_ids.device)[None, :]
        text_positions = torch.where(
            text_positions >= text_end, text_positions + num_boxes, text_positions
        )
        object_positions = text_end + is_last.long()[None, :]  # (B, K)

        text = (
            self.word_embeddings(input_ids)
            + self.visual_ln_text(objects[:, -1])[:, None, :]
            + self.position_embeddings(text_positions)
            + self.token_type_embeddings(token_type_ids)
        )
        vision = (
            object_words
            + self.visual_ln_object(objects)
            + self.position_embeddings(object_positions)
            + self.token_type_embeddings.weight[2]
        )
        return self.LayerNorm(text), self.LayerNorm(vision)


SHARED_EMBEDDINGS = {
    "uniter": UniterEmbeddings,
    "visualbert": VisualBertEmbeddings,
    "vl-bert": VLBertEmbeddings,
}
DUAL_EMBEDDINGS = {"vilbert": ViLBertImageEmbeddings, "lxmert": LxmertImageEmbeddings}


# ==================================================================================== #
#                                       Encoder                                        #
# ==================================================================================== #
def _split_heads(x: torch.Tensor, heads: int) -> torch.Tensor:
    batch, length, width = x.shape
    return x.view(batch, length, heads, width // heads).transpose(1, 2)


def _merge_heads(x: torch.Tensor) -> torch.Tensor:
    batch, heads, length, size = x.shape
    return x.transpose(1, 2).reshape(batch, length, heads * size)


class GatedSelfAttention(nn.Module):
    """The attention blocks of one sublayer: text queries see tt/tv keys, vision vt/vv keys."""

    def __init__(self, config: VoltaConfig, n: int) -> None:
        super().__init__()
        sizes = config.sizes(n)
        self.tt, self.tv = n in config.tt_attn_sublayers, n in config.tv_attn_sublayers
        self.vt, self.vv = n in config.vt_attn_sublayers, n in config.vv_attn_sublayers
        self.text, self.vision = config.has_text(n), config.has_vision(n)
        self.heads, self.v_heads = sizes["heads"], sizes["v_heads"]
        for width, heads, what in (
            (sizes["attn"], self.heads, "text"),
            (sizes["v_attn"], self.v_heads, "vision"),
        ):
            if width % heads:
                raise ValueError(
                    f"VOLTA config sublayer {n}: {what} width {width} is not a multiple of {heads} heads"
                )
        if (self.tv or self.vt) and (sizes["attn"], self.heads) != (sizes["v_attn"], self.v_heads):
            raise ValueError(
                f"VOLTA config sublayer {n}: cross-modal attention needs equal text and vision widths"
            )
        if self.text:
            self.query = nn.Linear(config.hidden_size, sizes["attn"])
            self.key = nn.Linear(config.hidden_size, sizes["attn"])
            self.value = nn.Linear(config.hidden_size, sizes["attn"])
        if config.is_shared(n):  # the same modules under the v_ names, as in VOLTA's state dict
            self.v_query, self.v_key, self.v_value = self.query, self.key, self.value
        elif self.vision:
            self.v_query = nn.Linear(config.v_hidden_size, sizes["v_attn"])
            self.v_key = nn.Linear(config.v_hidden_size, sizes["v_attn"])
            self.v_value = nn.Linear(config.v_hidden_size, sizes["v_attn"])

    def forward(self, t, v, t_bias, v_bias):
        """Context vectors of each stream (None for a stream this sublayer does not update).

        ``t_bias``/``v_bias`` are additive key masks (B, 1, 1, L): 0 or -10000.
        """
        if self.text:
            tq, tk, tv = (
                _split_heads(f(t), self.heads) for f in (self.query, self.key, self.value)
            )
        if self.vision:
            vq, vk, vv = (
                _split_heads(f(v), self.v_heads) for f in (self.v_query, self.v_key, self.v_value)
            )
        t_context = v_context = None
        if self.text:
            keys, values, bias = [], [], []
            if self.tt:
                keys.append(tk), values.append(tv), bias.append(t_bias)
            if self.tv:
                keys.append(vk), values.append(vv), bias.append(v_bias)
            t_context = _attend(tq, keys, values, bias)
        if self.vision:
            keys, values, bias = [], [], []
            if self.vt:
                keys.append(tk), values.append(tv), bias.append(t_bias)
            if self.vv:
                keys.append(vk), values.append(vv), bias.append(v_bias)
            v_context = _attend(vq, keys, values, bias)
        return t_context, v_context


def _attend(query, keys: list, values: list, biases: list) -> torch.Tensor:
    """One softmax over all the given keys (scaled by 1/sqrt(head size)), heads merged."""
    key = keys[0] if len(keys) == 1 else torch.cat(keys, dim=2)
    value = values[0] if len(values) == 1 else torch.cat(values, dim=2)
    bias = biases[0] if len(biases) == 1 else torch.cat(biases, dim=-1)
    return _merge_heads(
        F.scaled_dot_product_attention(query, key, value, attn_mask=bias.to(query.dtype))
    )


class GatedResidual(nn.Module):
    """dense -> + input -> LayerNorm per stream (VOLTA's SelfOutput and Output).

    ``single_ln_sublayers`` (one LayerNorm over the concatenated streams) needs a shared
    sublayer, so it is the same LayerNorm applied to every token: nothing to do here.
    """

    def __init__(
        self, config: VoltaConfig, n: int, text_in: int, vision_in: int, v_norm: int
    ) -> None:
        super().__init__()
        self.text, self.vision = config.has_text(n), config.has_vision(n)
        if self.text:
            self.dense = nn.Linear(text_in, config.hidden_size)
            self.LayerNorm = _layer_norm(config.hidden_size, config)
        if config.is_shared(n):
            self.v_dense, self.v_LayerNorm = self.dense, self.LayerNorm
        elif self.vision:
            self.v_dense = nn.Linear(vision_in, config.v_hidden_size)
            self.v_LayerNorm = _layer_norm(v_norm, config)

    def forward(self, t_hidden, v_hidden, t_input, v_input):
        t_out = self.LayerNorm(self.dense(t_hidden) + t_input) if self.text else t_input
        v_out = self.v_LayerNorm(self.v_dense(v_hidden) + v_input) if self.vision else v_input
        return t_out, v_out


class AttentionSublayer(nn.Module):
    def __init__(self, config: VoltaConfig, n: int) -> None:
        super().__init__()
        sizes = config.sizes(n)
        self.attention_self = GatedSelfAttention(config, n)
        self.attention_output = GatedResidual(
            config, n, sizes["attn"], sizes["v_attn"], sizes["v_attn"]
        )

    def forward(self, t, v, t_bias, v_bias):
        t_context, v_context = self.attention_self(t, v, t_bias, v_bias)
        return self.attention_output(t_context, v_context, t, v)

    def joint(self, x: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        """The same sublayer on the concatenated streams (only for ``config.is_joint``)."""
        attention = self.attention_self
        q, k, v = (
            _split_heads(f(x), attention.heads)
            for f in (attention.query, attention.key, attention.value)
        )
        context = _merge_heads(F.scaled_dot_product_attention(q, k, v, attn_mask=bias.to(q.dtype)))
        return self.attention_output.LayerNorm(self.attention_output.dense(context) + x)


class GatedIntermediate(nn.Module):
    def __init__(self, config: VoltaConfig, n: int) -> None:
        super().__init__()
        sizes = config.sizes(n)
        self.text, self.vision = config.has_text(n), config.has_vision(n)
        self.act = _activation(config.hidden_act)
        self.v_act = self.act if config.is_shared(n) else _activation(config.v_hidden_act)
        if self.text:
            self.dense = nn.Linear(config.hidden_size, sizes["inter"])
        if config.is_shared(n):
            self.v_dense = self.dense
        elif self.vision:
            self.v_dense = nn.Linear(config.v_hidden_size, sizes["v_inter"])

    def forward(self, t, v):
        return (
            self.act(self.dense(t)) if self.text else None,
            self.v_act(self.v_dense(v)) if self.vision else None,
        )


class FeedForwardSublayer(nn.Module):
    def __init__(self, config: VoltaConfig, n: int) -> None:
        super().__init__()
        sizes = config.sizes(n)
        self.intermediate = GatedIntermediate(config, n)
        self.output = GatedResidual(
            config, n, sizes["inter"], sizes["v_inter"], config.v_hidden_size
        )

    def forward(self, t, v, t_bias=None, v_bias=None):
        t_hidden, v_hidden = self.intermediate(t, v)
        return self.output(t_hidden, v_hidden, t, v)

    def joint(self, x: torch.Tensor, bias: torch.Tensor | None = None) -> torch.Tensor:
        hidden = self.intermediate.act(self.intermediate.dense(x))
        return self.output.LayerNorm(self.output.dense(hidden) + x)


class Encoder(nn.Module):
    def __init__(self, config: VoltaConfig) -> None:
        super().__init__()
        self.layer = nn.ModuleList(
            AttentionSublayer(config, n)
            if config.is_attention(n)
            else FeedForwardSublayer(config, n)
            for n in range(config.depth)
        )

        # single-stream models: run plain BERT over [text; regions] (same weights, same
        # result, fewer and larger matmuls than going stream by stream)
        self.joint = all(config.is_joint(n) for n in range(config.depth))

    def forward(self, t, v, t_bias, v_bias):
        if self.joint:
            x, bias = torch.cat([t, v], dim=1), torch.cat([t_bias, v_bias], dim=-1)
            for sublayer in self.layer:
                x = sublayer.joint(x, bias)
            return x[:, : t.shape[1]], x[:, t.shape[1] :]
        for sublayer in self.layer:
            t, v = sublayer(t, v, t_bias, v_bias)
        return t, v


class Pooler(nn.Module):
    """dense + activation on the first token of a stream ([CLS] / the global region)."""

    def __init__(self, width: int, size: int, act: str) -> None:
        super().__init__()
        self.dense = nn.Linear(width, size)
        self.activation = torch.relu if act == "relu" else torch.tanh

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.activation(self.dense(hidden[:, 0]))


class VoltaBert(nn.Module):
    """Embeddings + encoder + poolers (``bert.*`` in the checkpoint)."""

    def __init__(self, config: VoltaConfig) -> None:
        super().__init__()
        self.shared_embeddings = config.image_embeddings in SHARED_EMBEDDINGS
        if self.shared_embeddings:
            self.embeddings = SHARED_EMBEDDINGS[config.image_embeddings](config)
        else:
            self.embeddings = TextEmbeddings(config)
            self.v_embeddings = DUAL_EMBEDDINGS[config.image_embeddings](config)
        self.encoder = Encoder(config)
        self.t_pooler = Pooler(config.hidden_size, config.pooler_size, config.fusion_act)
        if config.fusion_method != "text":
            if config.pooler_size != config.v_pooler_size:
                raise ValueError(
                    "VOLTA config: pooler_size must equal v_pooler_size to fuse the poolers"
                )
            self.v_pooler = Pooler(config.v_hidden_size, config.v_pooler_size, config.fusion_act)

    def forward(
        self, input_ids, image_feat, image_loc, token_type_ids, attention_mask, image_attention_mask
    ):
        if self.shared_embeddings:
            t, v = self.embeddings(input_ids, image_feat, image_loc, token_type_ids)
        else:
            t, v = (
                self.embeddings(input_ids, token_type_ids),
                self.v_embeddings(image_feat, image_loc),
            )
        dtype = t.dtype
        t_bias = (1.0 - attention_mask.to(dtype))[:, None, None, :] * -10000.0
        v_bias = (1.0 - image_attention_mask.to(dtype))[:, None, None, :] * -10000.0
        return self.encoder(t, v, t_bias, v_bias)


class PredictionTransform(nn.Module):
    def __init__(self, width: int, act: str, config: VoltaConfig, layer_norm: bool = True) -> None:
        super().__init__()
        self.dense = nn.Linear(width, width)
        self.act = _activation(act)
        if layer_norm:
            self.LayerNorm = _layer_norm(width, config)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        hidden = self.act(self.dense(hidden))
        return self.LayerNorm(hidden) if hasattr(self, "LayerNorm") else hidden


class MLMHead(nn.Module):
    """transform -> decoder tied to the word embeddings + its own bias."""

    def __init__(self, config: VoltaConfig, word_embeddings: nn.Parameter) -> None:
        super().__init__()
        self.transform = PredictionTransform(config.hidden_size, config.hidden_act, config)
        self.decoder = nn.Linear(config.hidden_size, config.vocab_size, bias=False)
        self.decoder.weight = word_embeddings
        self.bias = nn.Parameter(torch.zeros(config.vocab_size))

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.transform(hidden)) + self.bias


class RegionHead(nn.Module):
    """transform (VOLTA uses the *text* activation here) -> one decoder per visual target."""

    def __init__(self, config: VoltaConfig) -> None:
        super().__init__()
        self.transform = PredictionTransform(
            config.v_hidden_size, config.hidden_act, config, layer_norm=config.image_head_ln
        )
        self.decoder_dict = nn.ModuleDict(
            {
                key: nn.Linear(config.v_hidden_size, size)
                for key, size in config.visual_targets.items()
            }
        )

    def forward(self, hidden: torch.Tensor, target: str = "0") -> torch.Tensor:
        return self.decoder_dict[target](self.transform(hidden))


class PretrainingHeads(nn.Module):
    def __init__(self, config: VoltaConfig, word_embeddings: nn.Parameter) -> None:
        super().__init__()
        self.predictions = MLMHead(config, word_embeddings)
        self.bi_seq_relationship = nn.Linear(config.pooler_size, config.itm_dim)
        self.imagePredictions = RegionHead(config)


@dataclass
class VoltaOutput:
    text_logits: torch.Tensor  # (B, T, vocab) or (B, M, vocab) at the asked positions
    region_logits: (
        torch.Tensor | None
    )  # (B, 1+R, classes) or (B, K, classes); None without head "0"
    itm_logits: torch.Tensor  # (B, itm_dim)


def _gather(hidden: torch.Tensor, positions: torch.Tensor | None) -> torch.Tensor:
    if positions is None:
        return hidden
    index = positions.to(device=hidden.device, dtype=torch.long)
    return hidden.gather(1, index[..., None].expand(-1, -1, hidden.shape[-1]))


class VoltaForPretraining(nn.Module):
    """VOLTA's ``BertForVLPreTraining`` for inference: same state-dict names, same outputs."""

    def __init__(self, config: VoltaConfig) -> None:
        super().__init__()
        self.config = config
        self.bert = VoltaBert(config)
        self.cls = PretrainingHeads(config, self.bert.embeddings.word_embeddings.weight)

    def tie_weights(self) -> None:
        """The MLM decoder is the word-embedding matrix (re-tied after loading by assignment)."""
        self.cls.predictions.decoder.weight = self.bert.embeddings.word_embeddings.weight

    def forward(
        self,
        input_ids: torch.Tensor,
        image_feat: torch.Tensor,
        image_loc: torch.Tensor,
        token_type_ids: torch.Tensor | None = None,
        attention_mask: torch.Tensor | None = None,
        image_attention_mask: torch.Tensor | None = None,
        text_positions: torch.Tensor | None = None,
        region_positions: torch.Tensor | None = None,
    ) -> VoltaOutput:
        """VOLTA layout: ``image_feat`` (B, 1+R, D) with the global feature first, 5-d boxes.

        ``text_positions`` (B, M) / ``region_positions`` (B, K, indices into the 1+R rows)
        restrict the MLM and region heads to those positions (the 30,522-way decoder is
        most of the cost of a forward pass otherwise).
        """
        if token_type_ids is None:
            token_type_ids = torch.zeros_like(input_ids)
        if attention_mask is None:
            attention_mask = torch.ones_like(input_ids)
        if image_attention_mask is None:
            image_attention_mask = torch.ones(
                image_feat.shape[:2], dtype=torch.long, device=image_feat.device
            )
        t, v = self.bert(
            input_ids, image_feat, image_loc, token_type_ids, attention_mask, image_attention_mask
        )
        pooled = self.bert.t_pooler(t)
        if self.config.fusion_method == "mul":
            pooled = pooled * self.bert.v_pooler(v)
        elif self.config.fusion_method == "sum":
            pooled = pooled + self.bert.v_pooler(v)
        region_logits = None
        if "0" in self.cls.imagePredictions.decoder_dict:
            region_logits = self.cls.imagePredictions(_gather(v, region_positions))
        return VoltaOutput(
            text_logits=self.cls.predictions(_gather(t, text_positions)),
            region_logits=region_logits,
            itm_logits=self.cls.bi_seq_relationship(pooled),
        )


# ==================================================================================== #
#                                       Loading                                        #
# ==================================================================================== #
def expected_shapes(config: VoltaConfig) -> dict[str, tuple[int, ...]]:
    """State-dict names and shapes of ``config``'s model, without allocating its weights."""
    with torch.device("meta"):
        model = VoltaForPretraining(config)
    return {name: tuple(tensor.shape) for name, tensor in model.state_dict().items()}


def read_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """A checkpoint's tensors, read safely (``weights_only``), "module." prefixes dropped."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise ModelLoadError(
            f"VOLTA checkpoint {path} is a directory; pass the file itself (pytorch_model_9.bin)"
        )
    if not path.is_file():
        raise ModelLoadError(f"VOLTA checkpoint {path} does not exist; {DOWNLOAD_HINT}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # torch.load raises many types for a damaged file
        first_line = str(error).splitlines()[0] if str(error) else ""
        if (
            isinstance(error, pickle.UnpicklingError)
            and "weights only load failed" in str(error).lower()
        ):
            raise ModelLoadError(
                f"{path} holds objects other than tensors, which vlexplore refuses to unpickle "
                "(weights_only=True); save the model's state_dict() instead"
            ) from error
        raise ModelLoadError(
            f"could not read {path}: the file is truncated, corrupt or not a PyTorch checkpoint "
            f"({type(error).__name__}: {first_line}); download it again"
        ) from error
    if isinstance(state, dict):
        for wrapper in ("state_dict", "model"):
            if isinstance(state.get(wrapper), dict) and not any(
                isinstance(v, torch.Tensor) for v in state.values()
            ):
                state = state[wrapper]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelLoadError(f"{path} is not a state dict (a mapping from names to tensors)")
    if state and all(k.startswith("module.") for k in state):
        state = {k[len("module.") :]: v for k, v in state.items()}
    return state


def _sample(names: Iterable[str], count: int = 5) -> str:
    names = sorted(names)
    shown = ", ".join(names[:count])
    return f"{shown}, ... ({len(names)} in all)" if len(names) > count else shown


def _closest_arch(state: dict[str, torch.Tensor]) -> tuple[str, float]:
    """The architecture whose key set (and shapes) the checkpoint matches best."""
    given = {k: tuple(v.shape) for k, v in state.items()}
    best, best_score = "", -1.0
    for arch in ARCHS:
        wanted = expected_shapes(VoltaConfig.for_arch(arch))
        same = sum(1 for k, shape in given.items() if wanted.get(k) == shape)
        score = same / len(set(given) | set(wanted))
        if score > best_score:
            best, best_score = arch, score
    return best, best_score


def check_state_dict(state: dict[str, torch.Tensor], config: VoltaConfig, arch: str, path) -> None:
    """Raise a ``ModelLoadError`` unless ``state`` has exactly the keys and shapes of ``config``."""
    wanted = expected_shapes(config)
    missing = set(wanted) - set(state)
    unexpected = set(state) - set(wanted)
    wrong = sorted(k for k in set(wanted) & set(state) if tuple(state[k].shape) != wanted[k])
    if not (missing or unexpected or wrong):
        return
    lines = [f"{path} does not fit volta:{arch}:"]
    if missing:
        lines.append(f"  {len(missing)} missing keys: {_sample(missing)}")
    if unexpected:
        lines.append(f"  {len(unexpected)} unexpected keys: {_sample(unexpected)}")
    if wrong:
        shown = "; ".join(
            f"{k} is {tuple(state[k].shape)}, expected {wanted[k]}" for k in wrong[:3]
        )
        lines.append(f"  {len(wrong)} shape mismatches: {shown}")
    if missing and not wrong and all(k.startswith("cls.") for k in missing):
        lines.append(
            "It has the encoder but not the pretraining heads (cls.*): a fine-tuned task checkpoint. "
            f"The diagnostic reads the pretraining heads; {DOWNLOAD_HINT}"
        )
    elif config == VoltaConfig.for_arch(arch):
        guess, score = _closest_arch(state)
        if guess != arch and score > 0.5:
            article = "an" if guess[0] in "aeiol" else "a"  # "an lxmert", "a vilbert"
            lines.append(
                f"This checkpoint looks like {article} {guess} checkpoint; pass --model volta:{guess}"
            )
        else:
            lines.append(
                f"Use a VOLTA pretraining checkpoint (pytorch_model_9.bin): {DOWNLOAD_HINT}"
            )
    raise ModelLoadError("\n".join(lines))


def load_volta(
    checkpoint_path: str | Path,
    arch: str,
    config: VoltaConfig | None = None,
    device: str | torch.device = "cpu",
) -> VoltaForPretraining:
    """A VOLTA model with the checkpoint's weights, strictly loaded, in eval mode.

    ``config`` defaults to the shipped controlled-setup config of ``arch``.
    """
    if arch not in CONFIG_FILES:
        raise ModelLoadError(
            f"unknown VOLTA architecture {arch!r}; choose one of {', '.join(ARCHS)}"
        )
    config = config or VoltaConfig.for_arch(arch)
    state = read_state_dict(checkpoint_path)
    check_state_dict(state, config, arch, checkpoint_path)
    with torch.device("meta"):  # no random init of weights about to be replaced
        model = VoltaForPretraining(config)
    tied: dict[int, list[str]] = defaultdict(list)
    for name, tensor in model.state_dict(keep_vars=True).items():
        tied[id(tensor)].append(name)
    for names in tied.values():
        if any(not torch.equal(state[names[0]], state[other]) for other in names[1:]):
            raise ModelLoadError(
                f"{checkpoint_path}: {names[0]} and {names[1]} differ, but VOLTA ties them (one tensor); "
                "the checkpoint was edited or comes from another model"
            )
    model.load_state_dict(state, strict=True, assign=True)
    model.tie_weights()
    return model.to(device).eval()


# ==================================================================================== #
#                                 The protocol adapter                                 #
# ==================================================================================== #
def vg_region_classes() -> tuple[str, ...]:
    """The 1,601 Visual Genome classes (index 0 = background) of VOLTA's region head."""
    return vg_classes()


class VoltaBackend(VLModel):
    """A VOLTA model on detector regions: global feature first, 5-d boxes, 1,601-way head."""

    input_kind = "regions"
    max_text_length = 38

    def __init__(
        self, model: VoltaForPretraining, arch: str, source: str = "", device="cpu"
    ) -> None:
        super().__init__()
        self.model = model.to(device).eval()
        self.device = torch.device(device)
        self.arch = arch
        self.name = f"volta:{arch}"
        self.tokenizer = bert_tokenizer()
        config = model.config
        if len(self.tokenizer) != config.vocab_size:
            raise ModelLoadError(
                f"{self.name}: vocab_size {config.vocab_size} differs from bert-base-uncased's {len(self.tokenizer)}"
            )
        self.region_class_names = vg_region_classes() if "0" in config.visual_targets else None
        layout = "single-stream" if config.image_embeddings in SHARED_EMBEDDINGS else "dual-stream"
        self.description = (
            f"VOLTA controlled {arch} ({layout}, {config.depth} sublayers, hidden {config.hidden_size})"
            f"{' from ' + source if source else ''}; global region first, 5-d boxes, "
            "1,601-way Visual Genome region head."
        )

    @property
    def feature_dim(self) -> int:
        return int(self.model.config.v_feature_size)

    def volta_inputs(self, batch: VLBatch) -> dict[str, torch.Tensor]:
        """The batch in VOLTA's layout: [global; regions] features and [[0,0,1,1,1]; boxes]."""
        visual = batch.visual
        if not isinstance(visual, RegionInput):
            raise ValueError(f"{self.name} takes detector regions (RegionInput), not raw images")
        if visual.features.ndim != 3 or visual.features.shape[-1] != self.feature_dim:
            raise ValueError(
                f"{self.name} takes {self.feature_dim}-d region features (B, N, {self.feature_dim}); got "
                f"shape {tuple(visual.features.shape)}"
            )
        input_ids = batch.input_ids.to(self.device, dtype=torch.long)
        if input_ids.numel() and (
            int(input_ids.max()) >= self.model.config.vocab_size or int(input_ids.min()) < 0
        ):
            raise ValueError(
                f"token ids outside {self.name}'s vocabulary; encode captions with its tokenizer"
            )
        boxes = np.stack(
            [
                encode_boxes(
                    row.detach().cpu().numpy(), (float(size[0]), float(size[1])), with_area=True
                )
                for row, size in zip(visual.boxes, visual.image_sizes, strict=True)
            ]
        ).reshape(len(visual.boxes), -1, 5)
        batch_size = input_ids.shape[0]
        whole_image = torch.tensor([0.0, 0.0, 1.0, 1.0, 1.0]).expand(batch_size, 1, 5)
        features = torch.cat([visual.global_features[:, None, :], visual.features], dim=1)
        mask = torch.cat([torch.ones(batch_size, 1), visual.mask.float()], dim=1)
        return {
            "input_ids": input_ids,
            "image_feat": features.to(self.device, dtype=torch.float32),
            "image_loc": torch.cat([whole_image, torch.from_numpy(boxes)], dim=1).to(self.device),
            "token_type_ids": torch.zeros_like(input_ids),
            "attention_mask": batch.attention_mask.to(self.device, dtype=torch.long),
            "image_attention_mask": mask.to(self.device, dtype=torch.long),
        }

    @torch.no_grad()
    def forward(self, batch: VLBatch) -> VLOutput:
        inputs = self.volta_inputs(batch)
        region_positions = None
        if batch.region_positions is not None and self.region_class_names is not None:
            num_regions = inputs["image_feat"].shape[1] - 1
            if batch.region_positions.numel() and int(batch.region_positions.max()) >= num_regions:
                raise ValueError(f"region_positions point beyond the {num_regions} regions")
            region_positions = batch.region_positions.to(self.device, dtype=torch.long) + 1
        else:  # no region scored: run the region head on zero positions
            region_positions = torch.zeros(batch.size, 0, dtype=torch.long, device=self.device)
        output = self.model(
            **inputs,
            text_positions=batch.text_positions.to(self.device, dtype=torch.long),
            region_positions=region_positions,
        )
        region_logits = None
        if batch.region_positions is not None and output.region_logits is not None:
            region_logits = output.region_logits.float().cpu()
        return VLOutput(text_logits=output.text_logits.float().cpu(), region_logits=region_logits)


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError as error:
        raise ValueError(f"volta: device {name!r} is not a torch device ({error})") from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            "volta: device 'cuda' asked for, but no CUDA GPU is available; use device='cpu'"
        )
    return device


def load_from_spec(
    arch: str, checkpoint: str | Path | None = None, device: str = "auto", **options
) -> VoltaBackend:
    """``volta:ARCH`` with ``checkpoint=PATH`` (the registry's entry point)."""
    unknown = sorted(k for k, v in options.items() if v is not None)
    if unknown:
        raise ValueError(
            f"volta: unknown option(s) {', '.join(unknown)}; known options: checkpoint, device"
        )
    if arch not in CONFIG_FILES:
        raise ModelLoadError(
            f"unknown VOLTA architecture {arch!r}; use volta:ARCH with ARCH in {', '.join(ARCHS)}"
        )
    if not checkpoint:
        raise ModelLoadError(
            f"volta:{arch} needs its weights: pass --checkpoint PATH (checkpoint=PATH in Python). To get them, "
            f"{DOWNLOAD_HINT}"
        )
    torch_device = _device(device)
    model = load_volta(checkpoint, arch, device=torch_device)
    return VoltaBackend(model, arch, source=str(checkpoint), device=torch_device)
