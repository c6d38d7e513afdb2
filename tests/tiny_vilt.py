"""A tiny random ViLT checkpoint directory, written offline (a pixel-input model for tests)."""

from pathlib import Path


def save_tiny_vilt(directory: Path) -> Path:
    import torch
    import transformers

    from vlexplore.text import bert_tokenizer

    torch.manual_seed(0)
    config = transformers.ViltConfig(hidden_size=32, num_attention_heads=2, intermediate_size=64,
                                     num_hidden_layers=1, image_size=64, patch_size=16,
                                     max_position_embeddings=40)
    transformers.ViltForMaskedLM(config).eval().save_pretrained(directory)
    transformers.ViltImageProcessorPil(size={"shortest_edge": 64}).save_pretrained(directory)
    bert_tokenizer().save_pretrained(directory)
    return directory
