"""The built-in model: a compact single-stream V&L transformer for the procedural world.

BERT-style, like VisualBERT/UNITER in VOLTA: caption tokens and visual tokens (a global
feature first, then the detector's regions, each with a 5-d box) go through one encoder.
Three heads: masked language modelling, masked region classification (over the world's
classes, index 0 = background) and image-text matching. It is small enough (~0.6 M
parameters) to ship in ``assets/demo`` and to retrain on two CPU cores in minutes
(``vlexplore train-demo``).

Owns the built-in network, its config, saving and loading (safetensors + JSON). May import
``..text``, ``.base`` and ``.common``; ``vlexplore.training`` imports this, never the reverse,
and nothing here imports the engine, the views or the app.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional as F

from ..assets import DEMO_DIR
from ..text import load_tokenizer
from .base import ModelLoadError, VLBatch, VLModel, VLOutput, checked_weights
from .common import gather_positions, regions_with_global_row, require_regions

__all__ = [
    "BuiltinConfig",
    "SingleStreamVL",
    "BuiltinVLModel",
    "builtin_tokenizer",
    "VOCAB_FILE",
    "SHIPPED",
    "load_builtin",
    "load_shipped",
    "save_builtin",
]

VOCAB_FILE = DEMO_DIR / "vocab.txt"
#: registry name -> checkpoint stem in assets/demo
SHIPPED = {"demo": "demo", "demo-gold": "demo-gold", "demo-lang": "demo-lang"}


@dataclass
class BuiltinConfig:
    vocab_size: int
    class_names: tuple[str, ...]
    feature_dim: int = 128
    hidden: int = 128
    layers: int = 4
    heads: int = 4
    intermediate: int = 256
    max_text_length: int = 32
    dropout: float = 0.1
    norm_first: bool = True  # pre-LayerNorm layers: trains faster from scratch at this size
    labels: str = "silver"  # what the region head was trained on: "silver" or "gold"
    extra: dict = field(default_factory=dict)  # training settings and held-out metrics

    def __post_init__(self) -> None:
        self.class_names = tuple(self.class_names)
        if self.hidden % self.heads:
            raise ValueError(f"hidden ({self.hidden}) must be divisible by heads ({self.heads})")

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def to_json(self) -> dict:
        data = asdict(self)
        data["class_names"] = list(self.class_names)
        return data

    @classmethod
    def from_json(cls, data: dict) -> BuiltinConfig:
        known = set(cls.__dataclass_fields__)
        unknown = sorted(set(data) - known)
        if unknown:
            raise ModelLoadError(f"built-in model config has unknown fields {unknown}; is it a vlexplore config?")
        return cls(**data)


class _Head(nn.Module):
    """BERT's prediction-head transform: dense, GELU, LayerNorm."""

    def __init__(self, hidden: int):
        super().__init__()
        self.dense = nn.Linear(hidden, hidden)
        self.norm = nn.LayerNorm(hidden, eps=1e-12)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(F.gelu(self.dense(x)))


class SingleStreamVL(nn.Module):
    """[CLS] caption [SEP] | global region_1 .. region_N, one transformer encoder."""

    def __init__(self, config: BuiltinConfig):
        super().__init__()
        self.config = config
        h = config.hidden
        self.word_embeddings = nn.Embedding(config.vocab_size, h)
        self.position_embeddings = nn.Embedding(config.max_text_length, h)
        self.type_embeddings = nn.Embedding(2, h)  # 0 text, 1 vision
        self.text_norm = nn.LayerNorm(h, eps=1e-12)
        # Detector features are standardised inside the model with statistics of the training
        # regions (saved with the weights); ablated rows (zeros, averages) go through the same map.
        self.register_buffer("feature_mean", torch.zeros(config.feature_dim))
        self.register_buffer("feature_std", torch.ones(config.feature_dim))
        self.feature_proj = nn.Linear(config.feature_dim, h)
        self.feature_norm = nn.LayerNorm(h, eps=1e-12)
        self.box_proj = nn.Linear(5, h)
        self.box_norm = nn.LayerNorm(h, eps=1e-12)
        self.vision_norm = nn.LayerNorm(h, eps=1e-12)
        self.dropout = nn.Dropout(config.dropout)
        layer = nn.TransformerEncoderLayer(
            h, config.heads, config.intermediate, config.dropout, activation="gelu", batch_first=True,
            norm_first=config.norm_first,
        )
        self.encoder = nn.TransformerEncoder(
            layer, config.layers, norm=nn.LayerNorm(h, eps=1e-12) if config.norm_first else None,
            enable_nested_tensor=False,
        )
        self.mlm_head = _Head(h)
        self.mlm_bias = nn.Parameter(torch.zeros(config.vocab_size))
        self.region_head = nn.Sequential(_Head(h), nn.Linear(h, config.num_classes))
        self.pooler = nn.Linear(h, h)
        self.itm_head = nn.Linear(h, 2)
        self.apply(self._init)

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, nn.Linear | nn.Embedding):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def encode(
        self,
        input_ids: torch.Tensor,  # (B, T)
        attention_mask: torch.Tensor,  # (B, T)
        features: torch.Tensor,  # (B, 1 + N, D), global row first
        boxes: torch.Tensor,  # (B, 1 + N, 5)
        visual_mask: torch.Tensor,  # (B, 1 + N)
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Hidden states of the text tokens (B, T, H) and the visual tokens (B, 1 + N, H)."""
        t = input_ids.shape[1]
        positions = torch.arange(t, device=input_ids.device)
        text = self.word_embeddings(input_ids) + self.position_embeddings(positions)[None] + self.type_embeddings.weight[0]
        text = self.dropout(self.text_norm(text))
        features = (features - self.feature_mean) / self.feature_std
        vision = self.feature_norm(self.feature_proj(features)) + self.box_norm(self.box_proj(boxes))
        vision = self.dropout(self.vision_norm(vision + self.type_embeddings.weight[1]))
        padding = torch.cat([attention_mask, visual_mask], dim=1) == 0
        hidden = self.encoder(torch.cat([text, vision], dim=1), src_key_padding_mask=padding)
        return hidden[:, :t], hidden[:, t:]

    def mlm_logits(self, text_hidden: torch.Tensor) -> torch.Tensor:
        return self.mlm_head(text_hidden) @ self.word_embeddings.weight.T + self.mlm_bias

    def region_logits(self, region_hidden: torch.Tensor) -> torch.Tensor:
        return self.region_head(region_hidden)

    def itm_logits(self, text_hidden: torch.Tensor) -> torch.Tensor:
        return self.itm_head(torch.tanh(self.pooler(text_hidden[:, 0])))


class BuiltinVLModel(VLModel):
    """The protocol adapter: regions in VOLTA's layout, heads only where asked."""

    input_kind = "regions"

    def __init__(self, network: SingleStreamVL, tokenizer, name: str = "demo", source: str = ""):
        super().__init__()
        self.network = network.eval()
        self.config = network.config
        self.tokenizer = tokenizer
        self.name = name
        self.max_text_length = self.config.max_text_length
        self.region_class_names = self.config.class_names
        params = sum(p.numel() for p in network.parameters())
        self.description = (
            f"built-in single-stream transformer ({self.config.layers} layers, {self.config.hidden}-d, "
            f"{params / 1e6:.2f} M parameters) pretrained on the procedural world with "
            f"{self.config.labels} region labels" + (f"; {source}" if source else "")
        )

    @property
    def feature_dim(self) -> int:
        return self.config.feature_dim

    @torch.no_grad()
    def forward(self, batch: VLBatch) -> VLOutput:
        visual = require_regions(batch, self.name)
        # the demo model was trained on boxes encoded in float32 (training.py)
        feats, boxes, visual_mask = regions_with_global_row(visual, box_dtype=torch.float32)
        text_hidden, vision_hidden = self.network.encode(
            batch.input_ids.long(), batch.attention_mask.long(), feats, boxes, visual_mask
        )  # (B, T, H), (B, 1 + N, H)
        text_logits = self.network.mlm_logits(gather_positions(text_hidden, batch.text_positions))
        region_logits = None
        if batch.region_positions is not None:
            region_hidden = gather_positions(vision_hidden[:, 1:], batch.region_positions)  # (B, K, H)
            region_logits = self.network.region_logits(region_hidden)  # (B, K, classes)
        return VLOutput(text_logits, region_logits)


def builtin_tokenizer(vocab_file: str | Path = VOCAB_FILE, expected_size: int | None = None):
    """The world's WordPiece vocabulary as a real Hugging Face fast tokenizer."""
    return load_tokenizer(vocab_file, expected_size)


def save_builtin(network: SingleStreamVL, path: str | Path) -> tuple[Path, Path]:
    """Weights to ``path`` (.safetensors) and the config beside it (.json)."""
    from safetensors.torch import save_file

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous().clone() for k, v in network.state_dict().items()}
    save_file(state, str(path), metadata={"format": "pt", "model": "vlexplore-builtin"})
    config_path = path.with_suffix(".json")
    config_path.write_text(json.dumps(network.config.to_json(), indent=2) + "\n")
    return path, config_path


def load_builtin(path: str | Path, name: str | None = None, vocab_file: str | Path | None = None) -> BuiltinVLModel:
    """A built-in model from a .safetensors file and the .json config beside it."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"no checkpoint at {path}; run `vlexplore train-demo` to create one")
    config_path = path.with_suffix(".json")
    if not config_path.is_file():
        raise ModelLoadError(f"{path} has no config {config_path.name} beside it; train-demo writes both")
    try:
        config = BuiltinConfig.from_json(json.loads(config_path.read_text()))
    except (json.JSONDecodeError, TypeError, UnicodeDecodeError, AttributeError) as error:
        raise ModelLoadError(f"{config_path} is not a valid built-in model config: {error}") from None
    vocab_file = Path(vocab_file) if vocab_file else path.parent / "vocab.txt"
    if not vocab_file.is_file():
        vocab_file = VOCAB_FILE
    tokenizer = builtin_tokenizer(vocab_file)
    if len(tokenizer) != config.vocab_size:
        raise ModelLoadError(
            f"{path}: the model has {config.vocab_size} word embeddings but {vocab_file} lists "
            f"{len(tokenizer)} tokens; use the vocab.txt it was trained with"
        )
    network = SingleStreamVL(config)
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as error:
        raise ModelLoadError(f"{path} is not a readable safetensors file: {error}") from None
    state = checked_weights(state, network.state_dict(), path)
    try:
        network.load_state_dict(state, strict=True)
    except RuntimeError as error:
        raise ModelLoadError(f"{path} does not match its config {config_path.name}: {error}") from None
    return BuiltinVLModel(network, tokenizer, name or path.stem, source=str(path.name))


def load_shipped(name: str = "demo", checkpoint: str | None = None, **options) -> BuiltinVLModel:
    """Registry entry: "demo" (silver labels), "demo-gold" (gold labels) or "demo-lang" (the
    positive control, gold labels in the world where only words tell a shape), from assets/demo.

    ``checkpoint`` loads a retrained file instead (e.g. from ``vlexplore train-demo --out``).
    """
    if options:
        raise ValueError(f"the built-in model {name!r} takes no options {sorted(options)}; only checkpoint=PATH")
    if name not in SHIPPED:
        raise ValueError(f"unknown built-in model {name!r}; choose one of {', '.join(SHIPPED)}")
    path = Path(checkpoint) if checkpoint else DEMO_DIR / f"{SHIPPED[name]}.safetensors"
    return load_builtin(path, name=name)
