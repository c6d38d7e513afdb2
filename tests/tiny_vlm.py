"""Tiny random generative VLMs saved with their processors, written offline (for tests).

The tokenizer is a byte-level BPE trained on a few sentences with the ``tokenizers`` library,
so every family gets a real fast tokenizer with its special tokens and a chat template.
"""

from __future__ import annotations

from pathlib import Path

VOCAB_SIZE = 320
CORPUS = [
    "a man in a red shirt rides a bike down the street",
    "two dogs play on the green grass next to a tree",
    "Describe the image.",
    "the cat sits next to a blue cup on a wooden table",
    "user assistant system",
]
SPECIAL = ["<unk>", "<pad>", "<s>", "</s>", "<end_of_utterance>"]
FAMILY_TOKENS = {
    "idefics3": ["<image>", "<fake_token_around_image>", "<global-img>"]
    + [f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)],
    "smolvlm": ["<|im_start|>", "<image>", "<fake_token_around_image>", "<global-img>"]
    + [f"<row_{r}_col_{c}>" for r in range(1, 7) for c in range(1, 7)],
    "llava": ["<image>"],
    "qwen2_vl": ["<|vision_start|>", "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"],
}
# role: content turns, close to SmolVLM's "User:<image>...<end_of_utterance>\nAssistant: ..."
TEMPLATES = {
    "idefics3": "{% for m in messages %}{{ m['role'] | capitalize }}:{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<image>{% else %}{{ c['text'] }}{% endif %}{% endfor %}"
    "<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}Assistant:{% endif %}",
    "llava": "{% for m in messages %}{{ m['role'] }}: {% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<image>\n{% else %}{{ c['text'] }}{% endif %}{% endfor %}"
    "</s>{% endfor %}",
    "qwen2_vl": "{% for m in messages %}<s>{{ m['role'] }}\n{% for c in m['content'] %}"
    "{% if c['type'] == 'image' %}<|vision_start|><|image_pad|><|vision_end|>{% else %}{{ c['text'] }}"
    "{% endif %}{% endfor %}</s>\n{% endfor %}",
}


def tiny_tokenizer(family: str):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    special = SPECIAL + FAMILY_TOKENS[family]
    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=VOCAB_SIZE,
        special_tokens=special,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(CORPUS, trainer)
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        unk_token="<unk>",
        pad_token="<pad>",
        bos_token="<s>",
        eos_token="</s>",
        additional_special_tokens=special[4:],
    )
    assert len(fast) == VOCAB_SIZE, len(fast)
    return fast


def _text_config(model_type: str = "llama") -> dict:
    return dict(
        model_type=model_type,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        vocab_size=VOCAB_SIZE,
        max_position_embeddings=1024,
        pad_token_id=1,
    )


def _save_idefics3_like(directory: Path, family: str, splitting: bool):
    """Weights and image processor of Idefics3 or SmolVLM2 (the same sizes); returns the
    tokenizer and image processor for the caller to save its processor."""
    import torch
    import transformers

    prefix = "Idefics3" if family == "idefics3" else "SmolVLM"
    tokenizer = tiny_tokenizer(family)
    config = getattr(transformers, f"{prefix}Config")(
        vision_config=dict(hidden_size=32, intermediate_size=64, num_hidden_layers=1, num_attention_heads=2,
                           image_size=64, patch_size=8),
        text_config=_text_config(),
        scale_factor=2,
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
    )
    torch.manual_seed(0)
    getattr(transformers, f"{prefix}ForConditionalGeneration")(config).eval().save_pretrained(directory)
    image_processor = getattr(transformers, f"{prefix}ImageProcessorPil")(
        size={"longest_edge": 128}, max_image_size={"longest_edge": 64}, do_image_splitting=splitting
    )
    return tokenizer, image_processor


def save_tiny_idefics3(directory: Path, splitting: bool = True) -> Path:
    """Tiles of 64 px, 8 px patches, pixel shuffle 2: 16 tokens per view; longest edge 128."""
    from transformers import Idefics3Processor

    tokenizer, image_processor = _save_idefics3_like(directory, "idefics3", splitting)
    Idefics3Processor(
        image_processor=image_processor, tokenizer=tokenizer, image_seq_len=16, chat_template=TEMPLATES["idefics3"]
    ).save_pretrained(directory)
    return Path(directory)


def save_tiny_smolvlm(directory: Path, splitting: bool = True) -> Path:
    """SmolVLM2 with Idefics3's tiny sizes (64 px tiles, 16 tokens per view), saved as the hub
    checkpoints are: image processor, tokenizer, chat template and ``processor_config.json``
    (transformers' ``SmolVLMProcessor`` itself needs torchvision and num2words to build)."""
    import json

    from transformers.models.smolvlm.processing_smolvlm import DEFAULT_CHAT_TEMPLATE

    tokenizer, image_processor = _save_idefics3_like(directory, "smolvlm", splitting)
    image_processor.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    (Path(directory) / "chat_template.jinja").write_text(DEFAULT_CHAT_TEMPLATE, encoding="utf-8")
    (Path(directory) / "processor_config.json").write_text(
        json.dumps({"image_seq_len": 16, "processor_class": "SmolVLMProcessor"}), encoding="utf-8"
    )
    return Path(directory)


def save_tiny_llava(directory: Path, pad: bool = False, crop: bool = True) -> Path:
    """CLIP tower on 32 px, 8 px patches (4 x 4 = 16 tokens after dropping CLS)."""
    import torch
    from transformers import (
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaImageProcessorPil,
        LlavaProcessor,
    )

    tokenizer = tiny_tokenizer("llava")
    config = LlavaConfig(
        vision_config=dict(model_type="clip_vision_model", hidden_size=32, intermediate_size=64,
                           num_hidden_layers=2, num_attention_heads=2, image_size=32, patch_size=8),
        text_config=_text_config(),
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        vision_feature_layer=-2,
        vision_feature_select_strategy="default",
        projector_hidden_act="gelu",
    )
    torch.manual_seed(0)
    LlavaForConditionalGeneration(config).eval().save_pretrained(directory)
    image_processor = LlavaImageProcessorPil(
        size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}, do_center_crop=crop, do_pad=pad,
        image_mean=[0.5, 0.5, 0.5], image_std=[0.5, 0.5, 0.5],
    )
    LlavaProcessor(
        image_processor=image_processor, tokenizer=tokenizer, patch_size=8, vision_feature_select_strategy="default",
        num_additional_image_tokens=1, chat_template=TEMPLATES["llava"],
    ).save_pretrained(directory)
    return Path(directory)


def save_tiny_qwen2_vl(directory: Path, version: str = "2") -> Path:
    """8 px patches merged 2 x 2: one token per 16 px cell; at most 64 x 64 px."""
    import torch
    import transformers

    tokenizer = tiny_tokenizer("qwen2_vl")
    ids = {name: tokenizer.convert_tokens_to_ids(token) for name, token in [
        ("image_token_id", "<|image_pad|>"), ("video_token_id", "<|video_pad|>"),
        ("vision_start_token_id", "<|vision_start|>"), ("vision_end_token_id", "<|vision_end|>")]}
    text = _text_config("qwen2_vl_text" if version == "2" else "qwen2_5_vl_text")
    text["rope_parameters"] = {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]}
    vision = dict(depth=2, num_heads=2, patch_size=8, spatial_merge_size=2, temporal_patch_size=2, in_channels=3)
    if version == "2":
        vision.update(embed_dim=32, hidden_size=32, mlp_ratio=2)
        config_class, model_class = transformers.Qwen2VLConfig, transformers.Qwen2VLForConditionalGeneration
    else:
        # window attention on 2 x 2 windows of merged tokens, the second block full attention
        vision.update(hidden_size=32, intermediate_size=64, out_hidden_size=32, window_size=32,
                      fullatt_block_indexes=[1])
        config_class, model_class = transformers.Qwen2_5_VLConfig, transformers.Qwen2_5_VLForConditionalGeneration
    config = config_class(vision_config=vision, text_config=text, **ids)
    torch.manual_seed(0)
    model_class(config).eval().save_pretrained(directory)
    image_processor = transformers.Qwen2VLImageProcessorPil(
        patch_size=8, merge_size=2, temporal_patch_size=2, min_pixels=16 * 16, max_pixels=64 * 64,
    )
    # transformers' Qwen processor needs torchvision (for video); save its image half and template
    image_processor.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    (Path(directory) / "chat_template.jinja").write_text(TEMPLATES["qwen2_vl"], encoding="utf-8")
    return Path(directory)


def save_tiny_llava_onevision(directory: Path, max_crops: int = 9) -> Path:
    """SigLIP on 32 px crops of 8 px patches (4 x 4 tokens per crop), pinpoints up to 64 x 64."""
    import torch
    import transformers

    tokenizer = tiny_tokenizer("llava")
    pinpoints = [[32, 32], [32, 64], [64, 32], [64, 64]]
    config = transformers.LlavaOnevisionConfig(
        vision_config=dict(model_type="siglip_vision_model", hidden_size=32, intermediate_size=64,
                           num_hidden_layers=2, num_attention_heads=2, image_size=32, patch_size=8),
        text_config=_text_config("qwen2"),
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        vision_feature_layer=-1,
        vision_feature_select_strategy="full",
        image_grid_pinpoints=pinpoints,
        vision_aspect_ratio=f"anyres_max_{max_crops}",
    )
    torch.manual_seed(0)
    transformers.LlavaOnevisionForConditionalGeneration(config).eval().save_pretrained(directory)
    # transformers' OneVision processor needs torchvision (for video); save its image half and template
    transformers.LlavaOnevisionImageProcessorPil(
        size={"height": 32, "width": 32}, image_grid_pinpoints=pinpoints,
    ).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    (Path(directory) / "chat_template.jinja").write_text(TEMPLATES["llava"], encoding="utf-8")
    return Path(directory)
