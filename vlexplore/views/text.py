"""Words the app shows: the method explained for a first-time viewer, and small labels."""

from __future__ import annotations

import re

__all__ = ["WHAT_AM_I_LOOKING_AT", "UPLOAD_DETECTOR_NOTE", "PAPER_URL", "example_label", "baseline_caption",
           "literal", "in_app_words", "story_line", "model_line", "FUNCTION_WORDS"]

# Words that carry little of what the image shows; the masked token the page opens on is the
# phrase's most informative word that is not one of these.
FUNCTION_WORDS = frozenset((
    "a", "an", "the", "one", "two", "three", "this", "that", "these", "those", "some", "any", "his", "her",
    "its", "their", "my", "your", "our", "of", "in", "on", "at", "to", "with", "and", "or", "is", "are",
    "was", "were", "be", "there", "here", "by", "for", "from", "next", "above", "below", "left", "right",
))

PAPER_URL = "https://aclanthology.org/2021.emnlp-main.775/"
# Characters that make Markdown (CommonMark, GFM, Streamlit's :colour[...] and $math$) or HTML
# anywhere in a line; and the markers that make a block (heading, quote, list) at a line's start.
_LITERAL = str.maketrans({c: f"&#{ord(c)};" for c in "&<>\\`*_[]$~|:"})
_BLOCK_MARKER = re.compile(r"^([ \t]*)([#>+=-]|\d+[.)])", re.MULTILINE)


def literal(text) -> str:
    """``text`` (a caption, a phrase, a path, a message quoting them) for Streamlit's Markdown or
    an HTML fragment, shown exactly as typed: never a link, an image, HTML or math.

    Captions, paths and link values come from users: ``![t](http://host/x.png)`` in a caption
    would otherwise make every viewer of a shared link fetch a remote image. The characters
    that act become HTML entities (Markdown shows them as the characters).
    """
    escaped = str(text).translate(_LITERAL)
    return _BLOCK_MARKER.sub(lambda m: m.group(1) + "".join(f"&#{ord(c)};" for c in m.group(2)), escaped)


WHAT_AM_I_LOOKING_AT = """
**The question.** A vision-and-language transformer reads an image and a caption together.
Does it actually *use* both? Frank, Bugliarello & Elliott (EMNLP 2021) answer by removing
part of one modality and measuring how much worse the model predicts the other.

**Vision-for-language (MLM).** The words of one phrase (coloured in the caption) are replaced
by `[MASK]` and the model must guess them. We read the loss of the true words in **bits**
(lower = better) in three conditions:
*None* — the image is intact; *Object* — the detector regions that overlap the phrase's gold
box (dashed outlines on the image) are replaced by the average region feature; *All* — every
region is replaced. If the loss rises from None to Object, the model was looking at the object.

**Language-for-vision (MRC-KL).** The regions under the phrase are zeroed, and the model must
predict the detector's class distribution at the best-overlapping region (the *target*).
We read KL(detector ‖ model) in bits in three conditions: *None* — the caption is intact;
*Phrase* — the phrase is masked; *All* — the whole caption is masked. If KL rises, the model
was using the words to recognise the object.

**The paper's finding.** Removing the image hurts word prediction, but removing words barely
changes region prediction: these models are *vision-for-language*, not symmetric.

**Aligned region.** A detector region belongs to a phrase when it covers more than the
threshold (0.5) of a gold box (IoT, intersection over the gold box) — or, as an option,
by IoU. The sidebar changes the threshold, the overlap measure and the replacement feature;
the defaults are the paper's settings.
"""

UPLOAD_DETECTOR_NOTE = (
    "The built-in model reads detector regions, not pixels: your image goes through the "
    "built-in world's simulated detector: its boxes come from colourful blobs and random "
    "background boxes, and it makes no class guesses (MRC-KL is then measured against a uniform "
    "distribution). The model knows only the synthetic world, so read the result as a demonstration."
)


def example_label(example_id: str, caption: str, width: int = 60) -> str:
    text = caption if len(caption) <= width else caption[: width - 1] + "…"
    return f"{example_id}: {text}"


BASELINE_WORDS = {
    "dataset average": "the dataset's average region feature (the paper's)",
    "image mean": "this image's mean region feature (not the paper's dataset average)",
    "image token mean": "this picture's mean image token (a generative VLM; not the paper's dataset average)",
    "dataset image token mean": "the examples' mean image token (a generative VLM; the paper's dataset "
    "average taken in the VLM's token space, not its region feature)",
    "zero": "zeros (not the paper's dataset average)",
    "blank patch": "blank patches (a pixel model; the paper's baseline is a dataset-average region feature)",
    "mean colour": "the picture with the ablated cells painted in their mean colour, re-encoded "
    "(pixel space; not the paper's dataset average)",
}


def baseline_caption(*sources: str) -> str:
    """What replaced the ablated input of a result (``Baseline.source``, as the result records
    it), never called the paper's when it is not."""
    return "Baseline: " + "; ".join(BASELINE_WORDS.get(source, source) for source in sources) + "."


# The library and CLI name flags and keyword arguments; on the page the same advice names the
# sidebar's fields. (pattern, replacement), applied in order.
_APP_WORDING: tuple[tuple[str, str], ...] = (
    (r"pass --model (\S+?) --checkpoint PATH", r"type \1 as the model in the sidebar, with its checkpoint file"),
    (r"pass --model (\S+)", r"type \1 as the model in the sidebar"),
    (r"--model (\S+?) --checkpoint PATH", r"the model \1 with its checkpoint file"),
    (r"--model (\S+)", r"the model \1"),
    (r"pass --checkpoint PATH \(checkpoint=PATH in Python\)", "type its checkpoint file in the sidebar"),
    (r"--checkpoint", "the checkpoint file"),
    (r"\(--features\)", "(type the region features path in the sidebar)"),
    (r"vlexplore does not download unless asked: ", "the app does not download models: "),
    (r"(?:unset it and )?pass allow_download=True to fetch it here",
     "download it first on a machine with network and type its folder as hf:DIR"),
    (r"invalid literal for int\(\) with base 10: ('[^']*')", r"\1 is not a whole number"),
    (r"Image size \(\d+ pixels\) exceeds limit of \d+ pixels, could be decompression bomb DOS attack\.?",
     "more pixels than the app reads"),
    (r" \(or raise max_pixels\)", ""),
)


def in_app_words(message: str) -> str:
    """A library message as the page says it: advice about CLI flags and keyword arguments
    becomes advice about the sidebar; Python and Pillow internals become plain words."""
    for pattern, replacement in _APP_WORDING:
        message = re.sub(pattern, replacement, message)
    return message


def story_line(phrase: str, words_lost_bits: float, region_lost_bits: float) -> str:
    """The paper's finding for one phrase in one sentence: what removing the image costs the
    words, and what removing the words costs the region (NaN: not measured)."""

    def costs(bits: float, digits: int) -> str:
        return f"{'loses' if bits >= 0 else 'gains'} **{abs(bits):.{digits}f} bits**"

    first = f"Without its regions, the model {costs(words_lost_bits, 2)} on \u201c{literal(phrase)}\u201d"
    if region_lost_bits != region_lost_bits:  # NaN
        return first + "; the words' effect on its region cannot be measured here."
    return first + f"; without the words, it {costs(region_lost_bits, 3)} on this region."


def model_line(spec: str, description: str, builtin: bool) -> str:
    """Which model the page shows, in words, with the paper the method comes from."""
    what = description or "a model loaded from " + spec
    if builtin:  # one line: what it is; its size when the description gives it
        size = re.search(r"[\d.]+ M parameters", what)
        what = ("a toy model of synthetic shapes" + (f" ({size.group(0)})" if size else "")
                + " that ships with vlexplore, not one of the paper's models")
    return f"**Model {literal(spec)}**: {literal(what)}. Method: [Frank, Bugliarello & Elliott, EMNLP 2021]({PAPER_URL})."
