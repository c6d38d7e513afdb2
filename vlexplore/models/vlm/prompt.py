"""The fixed prompt a caption is scored under, and where the phrase's tokens sit in it.

A generative VLM reads a caption as its own answer: the processor's chat template renders

    user: <image> "Describe the image."   assistant: CAPTION

and the readout is the likelihood of the phrase's tokens under teacher forcing. The image
placeholder stays a single token here (``encode_prompt`` needs no picture); the backend
expands it into the image's tokens at forward time, when it knows the picture's size.
"""

from __future__ import annotations

import warnings

import numpy as np

from ...records import Phrase
from ...text import CaptionTruncatedWarning, EncodedCaption
from ..base import ModelLoadError

__all__ = ["PROMPT", "READOUT_NOTE", "render_prompt", "encode_prompt"]

#: the user turn every caption answers (fixed, so scores are comparable across captions)
PROMPT = "Describe the image."

#: what the UI and docs say about the causal readout
READOUT_NOTE = (
    "Generative model, causal readout: the caption is scored as the model's answer to "
    f'"{PROMPT}" about the image, and vision-for-language is the mean negative log-likelihood '
    "(bits) of the phrase's tokens under teacher forcing. Unlike the paper's masked-LM readout, "
    "the model sees only the words *before* the phrase (left context), never the words after "
    "it, and the phrase is not masked. Language-for-vision has no readout (no region head): "
    "its columns are n/a."
)


def render_prompt(processor, caption: str, prompt: str = PROMPT) -> tuple[str, int]:
    """The chat-templated text with ``caption`` as the assistant's answer, and where it starts."""
    if not getattr(processor, "chat_template", None):
        raise ModelLoadError(
            "the processor beside the weights has no chat template, so vlexplore cannot build the "
            f"'user: <image> {prompt} / assistant: CAPTION' prompt; save the checkpoint's "
            "chat_template.jinja (or processor_config.json with chat_template) beside it"
        )
    messages = [
        {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": prompt}]},
        {"role": "assistant", "content": [{"type": "text", "text": caption}]},
    ]
    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=False)
    start = text.rfind(caption)
    if start < 0:
        raise ValueError(
            "the chat template changed the caption's text, so its words cannot be located; "
            f"rendered prompt: {text!r}"
        )
    return text, start


def encode_prompt(
    processor,
    image_token_id: int,
    caption: str,
    phrase: Phrase,
    max_caption_tokens: int,
    prompt: str = PROMPT,
) -> EncodedCaption:
    """Tokenise the templated prompt; ``word_ids`` are caption word indices (None elsewhere).

    Captions longer than ``max_caption_tokens`` lose their tail (and the template's closing
    tokens) with a ``CaptionTruncatedWarning``; a phrase the cut reaches is a ``ValueError``.
    """
    words = caption.split()
    if not words:
        raise ValueError("caption is empty; type a sentence that describes the image")
    caption = " ".join(words)
    text, start = render_prompt(processor, caption, prompt)
    tokenizer = processor.tokenizer
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    ids = list(encoded["input_ids"])
    if ids.count(image_token_id) != 1:
        raise ValueError(
            f"the rendered prompt holds {ids.count(image_token_id)} image tokens, expected one; "
            "the chat template does not place the image where the processor expects it"
        )
    # word index of every caption character; the space before a word belongs to that word,
    # so a tokenizer that emits the space as its own token has it predicted with the word
    word_of_char = np.zeros(len(caption), dtype=int)
    position = 0
    for index, word in enumerate(words):
        word_of_char[max(position - 1, 0) : position + len(word)] = index
        position += len(word) + 1
    word_ids: list[int | None] = []
    for begin, end in encoded["offset_mapping"]:
        begin, end = max(begin - start, 0), min(end - start, len(caption))
        word_ids.append(int(word_of_char[begin]) if end > begin else None)
    caption_positions = [i for i, w in enumerate(word_ids) if w is not None]
    truncated = len(caption_positions) > max_caption_tokens
    if truncated:
        cut = caption_positions[max_caption_tokens]
        kept = {w for w in word_ids[:cut] if w is not None}
        ids, word_ids = ids[:cut], word_ids[:cut]
        warnings.warn(
            f"caption has {len(caption_positions)} tokens, more than this model's limit of "
            f"{max_caption_tokens}; only its first {len(kept)} of {len(words)} words are used",
            CaptionTruncatedWarning,
            stacklevel=3,
        )
    wanted = set(range(phrase.first_word, phrase.first_word + phrase.num_words))
    kept_words = {w for w in word_ids if w is not None}
    if not wanted <= kept_words:
        raise ValueError(
            f"phrase {phrase.text!r} (words {phrase.first_word}..{phrase.first_word + phrase.num_words - 1}) "
            f"falls beyond the model's {max_caption_tokens}-token caption limit; shorten the caption or "
            "pick an earlier phrase"
        )
    positions = tuple(i for i, w in enumerate(word_ids) if w is not None and w in wanted)
    if not positions:
        raise ValueError(f"phrase {phrase.text!r} produced no tokens")
    return EncodedCaption(
        input_ids=tuple(ids),
        tokens=tuple(tokenizer.convert_ids_to_tokens(ids)),
        word_ids=tuple(word_ids),
        phrase_positions=positions,
        truncated=truncated,
    )
