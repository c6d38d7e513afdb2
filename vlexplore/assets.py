"""Where the shipped files live, and the one loader for the Visual Genome class list.

Imports nothing from vlexplore: every other module may import it.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

__all__ = [
    "ASSETS",
    "BERT_VOCAB",
    "BERT_VOCAB_SIZE",
    "DEMO_DIR",
    "PAPER_RESULTS",
    "VG_CLASSES_FILE",
    "VOLTA_CONFIG_DIR",
    "vg_classes",
]

ASSETS = Path(__file__).resolve().parent.parent / "assets"
BERT_VOCAB = ASSETS / "vocab" / "bert-base-uncased-vocab.txt"
BERT_VOCAB_SIZE = 30522
VG_CLASSES_FILE = ASSETS / "vocab" / "vg-objects-vocab-1601.txt"
DEMO_DIR = ASSETS / "demo"  # the built-in model's checkpoints and the held-out demo set
PAPER_RESULTS = ASSETS / "paper_results"  # the authors' result tables, read by vlexplore.paper
VOLTA_CONFIG_DIR = ASSETS / "volta"


@lru_cache(maxsize=1)
def vg_classes() -> tuple[str, ...]:
    """The 1,601 Visual Genome classes of the bottom-up-attention detector (0 = background)."""
    names = tuple(VG_CLASSES_FILE.read_text(encoding="utf-8").splitlines())
    if len(names) != 1601 or names[0] != "__background__":
        raise RuntimeError(f"{VG_CLASSES_FILE} should list __background__ and 1,600 classes, has {len(names)}")
    return names
