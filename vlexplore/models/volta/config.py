"""The VOLTA architectures as data: one frozen dataclass read from VOLTA's JSON configs.

Owns the layout of the five controlled models (which sublayers have which attention blocks,
which are shared, their sizes) and the shipped config files (``assets/volta``). Pure data:
no torch modules, no checkpoints.

May import: the standard library and ``vlexplore.text`` (for the assets folder). Never
torch modules, the engine, the views or the app.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path

from ...assets import VOLTA_CONFIG_DIR

__all__ = ["ARCHS", "CONFIG_DIR", "CONFIG_FILES", "VISUAL_TARGET_SIZES", "VoltaConfig"]

CONFIG_DIR = VOLTA_CONFIG_DIR
CONFIG_FILES: dict[str, str] = {
    "lxmert": "ctrl_lxmert.json",
    "vilbert": "ctrl_vilbert_base.json",
    "vl-bert": "ctrl_vl-bert_base.json",
    "visualbert": "ctrl_visualbert_base.json",
    "uniter": "ctrl_uniter_base.json",
}
ARCHS = tuple(CONFIG_FILES)
#: output size of each VOLTA visual target head (``volta/losses.py``); "0" is the 1,601-way
#: KL-to-detector head that Language-for-Vision reads out
VISUAL_TARGET_SIZES = {"0": 1601, "1": 2048, "2": 2048, "3": 1600, "4": 400, "5": 2048, "6": 1601}
#: the config fields that list sublayer numbers
SUBLAYER_LISTS = (
    "tt_attn_sublayers", "tv_attn_sublayers", "vt_attn_sublayers", "vv_attn_sublayers",
    "t_ff_sublayers", "v_ff_sublayers", "shared_sublayers", "single_ln_sublayers",
)  # fmt: skip
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


@dataclass(frozen=True)
class VoltaConfig:
    """A VOLTA architecture; defaults are VOLTA's ``BertConfig`` defaults, fields its JSON keys."""

    # text stream and its vision-stream counterpart side by side
    vocab_size: int = 30522
    v_feature_size: int = 2048
    hidden_size: int = 768
    v_hidden_size: int = 768
    hidden_act: str = "gelu"
    v_hidden_act: str = "gelu"
    num_attention_heads: int = 12
    v_num_attention_heads: int = 12
    layer_norm_eps: float = 1e-12
    intermediate_size: int = 3072
    v_intermediate_size: int = 3072
    image_embeddings: str = "vilbert"
    pooler_size: int = 768
    v_pooler_size: int = 1024
    add_global_imgfeat: str | None = None
    max_position_embeddings: int = 512
    type_vocab_size: int = 2
    num_locs: int = 5
    v_coordinate_embeddings_dim: int | None = None
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
        for name in SUBLAYER_LISTS:
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

        return self.replace(**{name: cut(getattr(self, name)) for name in SUBLAYER_LISTS})

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

