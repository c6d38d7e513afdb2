"""LabelMatch: the phrases that name exactly one Visual Genome class.

The paper measures how often the detector's top class at the target region equals the
phrase's own class (38% top-1) on the phrases whose nouns match exactly one of the 1,601
class names. Without a part-of-speech tagger, every word counts: a phrase's words are
matched against the class names and their listed synonyms ("television,tv"), longest span
first so that "stop sign" is one class and not also "sign".
May import: assets.
"""

from __future__ import annotations

from functools import lru_cache

from ..assets import vg_classes

__all__ = ["label_match"]

PUNCTUATION = ".,;:!?\"'()[]"


@lru_cache(maxsize=1)
def _names() -> tuple[dict[str, str], int]:
    """Every synonym (lower case) -> the class name as the detector lists it; longest span."""
    table: dict[str, str] = {}
    for name in vg_classes()[1:]:  # index 0 is the background
        for synonym in name.split(","):
            table.setdefault(synonym.strip().lower(), name)
    return table, max(len(key.split()) for key in table)


def label_match(phrase: str) -> str:
    """The one Visual Genome class the phrase names, or "" when it names none or several."""
    table, longest = _names()
    words = [w.strip(PUNCTUATION).lower() for w in phrase.split()]
    found: set[str] = set()
    i = 0
    while i < len(words):
        for n in range(min(longest, len(words) - i), 0, -1):
            name = table.get(" ".join(words[i : i + n]))
            if name is not None:
                found.add(name)
                i += n
                break
        else:
            i += 1
    return found.pop() if len(found) == 1 else ""
