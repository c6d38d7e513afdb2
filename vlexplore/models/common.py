"""What every backend does the same way: devices, input checks, box layouts, reading out heads.

Owns the small pieces each backend would otherwise write again: resolving a device string,
checking a batch's token ids, region input and feature size, VOLTA's box encoding on a
batch (with or without the whole-image row that single-stream models put first),
gathering hidden states at the positions the engine asks for, and loading a transformers
part (tokenizer, processor) from a local folder.

May import: torch, ``vlexplore.geometry``-level helpers and ``.base``. Never the engine,
the views, the app or a backend module (backends import this, not the other way round).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from .base import ModelLoadError, RegionInput, VLBatch

__all__ = [
    "WHOLE_IMAGE_BOX",
    "resolve_device",
    "PRECISIONS",
    "precision_context",
    "gather_positions",
    "encode_boxes_torch",
    "regions_with_global_row",
    "require_regions",
    "check_token_ids",
    "check_region_features",
    "check_region_positions",
    "text_inputs",
    "from_local_dir",
]

#: the 5-d box of the global (whole-image) row: [x1, y1, x2, y2, area] relative to the image
WHOLE_IMAGE_BOX = (0.0, 0.0, 1.0, 1.0, 1.0)


def resolve_device(name: str | torch.device, owner: str) -> torch.device:
    """``name`` as a torch device; "auto" is cuda when a GPU is there, else cpu.

    ``owner`` prefixes the message ("hf", "volta") so the user knows which option was wrong.
    """
    if isinstance(name, torch.device):
        name = str(name)
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as error:
        raise ValueError(
            f"{owner}: device {name!r} is not a torch device ({error}); use 'auto', 'cpu' or 'cuda'"
        ) from error
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ValueError(
            f"{owner}: device 'cuda' asked for, but no CUDA GPU is available; use device='cpu'"
        )
    return device


#: numeric precision of a forward pass; fp32 is the default and the exact one
PRECISIONS = ("fp32", "tf32", "bf16", "fp16")


@contextmanager
def precision_context(precision: str, device: torch.device) -> Iterator[None]:
    """Run the forward passes inside at ``precision`` on ``device``.

    fp32: float32 matmuls in full (TF32 off), the reference every other setting is measured
    against. tf32: float32 storage, matmuls in TensorFloat-32 on CUDA (on a CPU, float32
    unless oneDNN has a faster exact-enough kernel). bf16 / fp16: ``torch.autocast``, so
    matmuls run in half precision and softmax / layer norm where autocast keeps them in
    float32; the engine scores the logits in float32 either way. The matmul settings are
    process-wide while the context is open and restored after it.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}; got {precision!r}")
    saved = (torch.get_float32_matmul_precision(), torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32)
    tf32 = precision == "tf32"
    torch.set_float32_matmul_precision("high" if tf32 else "highest")
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = tf32
    try:
        if precision in ("bf16", "fp16"):
            dtype = torch.bfloat16 if precision == "bf16" else torch.float16
            with torch.autocast(device.type, dtype=dtype):
                yield
        else:
            yield
    finally:
        torch.set_float32_matmul_precision(saved[0])
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved[1], saved[2]


def gather_positions(hidden: torch.Tensor, positions: torch.Tensor) -> torch.Tensor:
    """(B, T, H) hidden states at (B, M) positions -> (B, M, H); negative (padding) reads 0.

    Reading heads only where asked matters: the 30,522-way MLM decoder is most of the cost
    of a forward pass when run on every token.
    """
    index = positions.to(device=hidden.device, dtype=torch.long).clamp(min=0)  # (B, M)
    return hidden.gather(1, index[..., None].expand(-1, -1, hidden.shape[-1]))  # (B, M, H)


def encode_boxes_torch(
    boxes: torch.Tensor, image_sizes: torch.Tensor, with_area: bool = True
) -> torch.Tensor:
    """VOLTA's box encoding (as ``geometry.encode_boxes``) on a batch of pixel boxes.

    ``boxes`` (B, N, 4) x1, y1, x2, y2 and ``image_sizes`` (B, 2) width, height ->
    (B, N, 5) [x1/w, y1/h, x2/w, y2/h, area/(w*h)] (or (B, N, 4) without the area),
    computed in ``boxes``' dtype: float64 gives ``geometry.encode_boxes``' numbers exactly.
    """
    w = image_sizes[:, 0, None].to(boxes.dtype)  # (B, 1)
    h = image_sizes[:, 1, None].to(boxes.dtype)  # (B, 1)
    x1, y1, x2, y2 = boxes.unbind(-1)  # each (B, N)
    corners = [x1 / w, y1 / h, x2 / w, y2 / h]
    if with_area:
        corners.append((x2 - x1) * (y2 - y1) / (w * h))
    return torch.stack(corners, dim=-1)  # (B, N, 5) or (B, N, 4)


def regions_with_global_row(
    visual: RegionInput, box_dtype: torch.dtype = torch.float64
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """VOLTA's visual layout: the global feature first, then the regions, all float32.

    Returns features (B, 1 + N, D), 5-d boxes (B, 1 + N, 5) with ``WHOLE_IMAGE_BOX`` for
    the global row, and the mask (B, 1 + N) long, 1 for the global row. Boxes are encoded
    in ``box_dtype`` (float64 matches ``geometry.encode_boxes``; the built-in model was
    trained on float32).
    """
    b = visual.features.shape[0]
    features = torch.cat(
        [visual.global_features[:, None].to(visual.features.dtype), visual.features], dim=1
    )  # (B, 1 + N, D)
    boxes = encode_boxes_torch(visual.boxes.to(box_dtype), visual.image_sizes.to(box_dtype))
    whole = torch.tensor(WHOLE_IMAGE_BOX).expand(b, 1, 5)  # (B, 1, 5)
    boxes = torch.cat([whole, boxes.float()], dim=1)  # (B, 1 + N, 5)
    mask = torch.cat([torch.ones(b, 1, dtype=torch.long), visual.mask.long()], dim=1)
    return features.float(), boxes, mask


def require_regions(batch: VLBatch, name: str) -> RegionInput:
    """The batch's detector regions, or a ``ValueError`` naming the model."""
    if not isinstance(batch.visual, RegionInput):
        raise ValueError(f"{name} takes detector regions (RegionInput), not raw images")
    return batch.visual


def check_token_ids(input_ids: torch.Tensor, vocab_size: int, name: str) -> None:
    """Raise unless every id indexes the model's vocabulary (an embedding lookup would crash)."""
    if input_ids.numel() and (int(input_ids.max()) >= vocab_size or int(input_ids.min()) < 0):
        raise ValueError(
            f"token ids outside {name}'s vocabulary of {vocab_size}; encode captions with "
            "this model's tokenizer"
        )


def check_region_features(features: torch.Tensor, feature_dim: int, name: str, detector: str) -> None:
    """Raise unless ``features`` is (B, N, feature_dim); ``detector`` names the right one."""
    if features.ndim != 3 or features.shape[-1] != feature_dim:
        raise ValueError(
            f"{name} takes {feature_dim}-d region features (B, N, {feature_dim}); got shape "
            f"{tuple(features.shape)}. Use features from {detector}"
        )


def check_region_positions(positions: torch.Tensor, num_regions: int) -> None:
    """Raise unless the (B, K) region positions index one of ``num_regions`` regions."""
    if positions.numel() and (int(positions.max()) >= num_regions or int(positions.min()) < 0):
        raise ValueError(f"region_positions point beyond the {num_regions} regions")


def text_inputs(
    batch: VLBatch, vocab_size: int, name: str, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """input_ids (checked), attention_mask and all-zero token_type_ids, long, on ``device``."""
    input_ids = batch.input_ids.to(device, dtype=torch.long)  # (B, T)
    check_token_ids(input_ids, vocab_size, name)
    attention_mask = batch.attention_mask.to(device, dtype=torch.long)  # (B, T)
    return input_ids, attention_mask, torch.zeros_like(input_ids)


def from_local_dir(auto_class, directory: Path, what: str, advice: str):
    """``auto_class.from_pretrained(directory)`` without the hub, any failure as a ``ModelLoadError``.

    transformers raises many kinds of error for a broken or foreign file; the message names
    the folder, ``what`` was loaded and what to do (``advice``).
    """
    try:
        return auto_class.from_pretrained(str(directory), local_files_only=True)
    except Exception as error:
        raise ModelLoadError(
            f"could not load the {what} in {directory} ({type(error).__name__}: {error}); {advice}"
        ) from error
