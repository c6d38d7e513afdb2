"""Which ``model_type`` values the generative-VLM backend runs (no heavy imports here)."""

from __future__ import annotations

__all__ = ["FAMILIES"]

#: model_type -> (module, backend class, transformers model class, example checkpoint)
FAMILIES: dict[str, tuple[str, str, str, str]] = {
    "idefics3": (
        "idefics3",
        "Idefics3Backend",
        "Idefics3ForConditionalGeneration",
        "HuggingFaceTB/SmolVLM-256M-Instruct",
    ),
    "smolvlm": (
        "smolvlm",
        "SmolVLMBackend",
        "SmolVLMForConditionalGeneration",
        "HuggingFaceTB/SmolVLM2-256M-Video-Instruct",
    ),
    "llava": (
        "llava",
        "LlavaBackend",
        "LlavaForConditionalGeneration",
        "llava-hf/llava-interleave-qwen-0.5b-hf",
    ),
    "llava_onevision": (
        "llava_onevision",
        "LlavaOnevisionBackend",
        "LlavaOnevisionForConditionalGeneration",
        "llava-hf/llava-onevision-qwen2-0.5b-ov-hf",
    ),
    "qwen2_vl": (
        "qwen2_vl",
        "Qwen2VLBackend",
        "Qwen2VLForConditionalGeneration",
        "Qwen/Qwen2-VL-2B-Instruct",
    ),
    "qwen2_5_vl": (
        "qwen2_vl",
        "Qwen2VLBackend",
        "Qwen2_5_VLForConditionalGeneration",
        "Qwen/Qwen2.5-VL-3B-Instruct",
    ),
}
