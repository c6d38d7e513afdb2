"""Captions to token ids, and where a phrase's sub-tokens sit among them.

The authors locate a phrase by the whitespace-word index of its first word, so we
tokenise the caption word by word and map words to sub-tokens through ``word_ids``.
May import: records, assets, errors (and transformers, lazily).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .assets import BERT_VOCAB, BERT_VOCAB_SIZE
from .errors import InputError
from .records import Phrase

__all__ = [
    "CaptionTruncatedWarning",
    "EncodedCaption",
    "bert_tokenizer",
    "encode_caption",
    "load_tokenizer",
]


class CaptionTruncatedWarning(UserWarning):
    """The caption was longer than the model takes and its tail was cut."""


def load_tokenizer(vocab_file: str | Path, expected_size: int | None = None, lowercase: bool = True):
    """A fast WordPiece tokenizer from a plain vocabulary file, offline.

    The path is passed positionally: transformers 5 silently builds a 5-token vocabulary
    from ``vocab_file=``. The size is asserted so that trap can never come back unseen.
    """
    from transformers import BertTokenizerFast

    vocab_file = Path(vocab_file)
    if not vocab_file.is_file():
        raise FileNotFoundError(f"vocabulary file {vocab_file} does not exist")
    try:
        tokenizer = BertTokenizerFast(str(vocab_file), do_lower_case=lowercase)
        if expected_size is None:
            with open(vocab_file, encoding="utf-8") as handle:
                expected_size = sum(1 for _ in handle)
    except Exception as error:  # tokenizers raises assorted types for a file that is not a vocabulary
        raise InputError(
            f"vocabulary file {vocab_file} is not a WordPiece vocabulary (one UTF-8 token per line): "
            f"{type(error).__name__}: {str(error)[:200]}"
        ) from None
    if len(tokenizer) != expected_size:
        raise InputError(
            f"tokenizer built from {vocab_file} has {len(tokenizer)} entries, expected {expected_size}"
        )
    return tokenizer


@lru_cache(maxsize=1)
def bert_tokenizer():
    """bert-base-uncased WordPiece from the shipped vocabulary (30,522 entries)."""
    return load_tokenizer(BERT_VOCAB, BERT_VOCAB_SIZE)


@dataclass(frozen=True)
class EncodedCaption:
    input_ids: tuple[int, ...]
    tokens: tuple[str, ...]
    word_ids: tuple[int | None, ...]
    phrase_positions: tuple[int, ...]
    truncated: bool

    @property
    def text_positions(self) -> tuple[int, ...]:
        """Positions of every caption sub-token ([CLS] and [SEP] excluded)."""
        return tuple(i for i, w in enumerate(self.word_ids) if w is not None)

    def __len__(self) -> int:
        return len(self.input_ids)


def encode_caption(tokenizer, caption: str, phrase: Phrase, max_length: int) -> EncodedCaption:
    """Tokenise ``caption`` (at most ``max_length`` tokens) and find ``phrase``'s sub-tokens.

    A caption over the limit is truncated with a ``CaptionTruncatedWarning``; a phrase that
    the cut reaches raises a ``ValueError`` rather than being scored on part of its words.
    """
    words = caption.split()
    if not words:
        raise ValueError("caption is empty; type a sentence that describes the image")
    full = tokenizer(words, is_split_into_words=True, add_special_tokens=True)
    truncated = len(full["input_ids"]) > max_length
    encoded = tokenizer(
        words, is_split_into_words=True, truncation=True, max_length=max_length, add_special_tokens=True
    )
    word_ids = tuple(encoded.word_ids())
    wanted = set(range(phrase.first_word, phrase.first_word + phrase.num_words))
    positions = tuple(i for i, w in enumerate(word_ids) if w is not None and w in wanted)
    kept_words = {w for w in word_ids if w is not None}
    if truncated:
        warnings.warn(
            f"caption has {len(full['input_ids'])} tokens, more than this model's limit of {max_length}; "
            f"only its first {len(kept_words)} of {len(words)} words are used",
            CaptionTruncatedWarning,
            stacklevel=2,
        )
    if not wanted <= kept_words:
        raise ValueError(
            f"phrase {phrase.text!r} (words {phrase.first_word}..{phrase.first_word + phrase.num_words - 1}) "
            f"falls beyond the model's {max_length}-token limit; shorten the caption or pick an earlier phrase"
        )
    if not positions:
        raise ValueError(f"phrase {phrase.text!r} produced no sub-tokens")
    return EncodedCaption(
        input_ids=tuple(encoded["input_ids"]),
        tokens=tuple(tokenizer.convert_ids_to_tokens(encoded["input_ids"])),
        word_ids=word_ids,
        phrase_positions=positions,
        truncated=truncated,
    )
