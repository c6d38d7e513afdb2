"""How to ablate (``AblationSettings``), the paper's preset, and how a run departs from it.

May import: nothing from vlexplore.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields
from typing import Literal

__all__ = ["VIS4LANG", "LANG4VIS", "Condition", "AblationSettings", "PAPER", "PAPER_BASELINE", "BASELINES", "paper_departures", "protocol_label"]

VIS4LANG: tuple[str, ...] = ("none", "object", "all")
LANG4VIS: tuple[str, ...] = ("none", "phrase", "all")
Condition = tuple[str, str]  # ("vis4lang", "object"), ("lang4vis", "phrase"), ...

#: the replacement feature the paper's Vision-for-Language numbers rest on
PAPER_BASELINE = "dataset average"
#: the values of ``AblationSettings.baseline``
BASELINES: tuple[str, ...] = ("average", "zero", "dataset-mean")


@dataclass(frozen=True)
class AblationSettings:
    """How to ablate. Every field defaults to what produced the paper's numbers."""

    threshold: float = 0.5  # a region is aligned when its overlap is strictly above this
    alignment: Literal["iot", "iou"] = "iot"  # overlap measure: intersection over target or union
    # vis4lang replacement feature; "dataset-mean": generative VLMs replace ablated image tokens
    # by the set's mean projected image token (region models: the same as "average")
    baseline: Literal["average", "zero", "dataset-mean"] = "average"
    recompute_global_vis4lang: bool = True  # paper: global = mean of the ablated rows
    recompute_global_lang4vis: bool = False  # paper: global keeps the original mean (a leak)
    patch_coverage: float = 0.5  # pixel models: share of a patch a box must cover
    patch_border: int = 0  # pixel models: rings of neighbouring patches ablated with the covered ones

    def __post_init__(self) -> None:
        if not 0.0 <= self.threshold < 1.0:
            raise ValueError(f"threshold must be in [0, 1); got {self.threshold}")
        if self.alignment not in ("iot", "iou"):
            raise ValueError(f"alignment must be 'iot' or 'iou'; got {self.alignment!r}")
        if self.baseline not in BASELINES:
            raise ValueError(f"baseline must be one of {', '.join(BASELINES)}; got {self.baseline!r}")
        if not 0.0 < self.patch_coverage <= 1.0:
            raise ValueError(f"patch_coverage must be in (0, 1]; got {self.patch_coverage}")
        if not isinstance(self.patch_border, int) or self.patch_border < 0:
            raise ValueError(f"patch_border must be a whole number of patches, 0 or more; got {self.patch_border!r}")

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def is_paper(self) -> bool:
        """The settings are the paper's (the baseline actually used is a separate question)."""
        return self == PAPER


PAPER = AblationSettings()


def paper_departures(settings: AblationSettings, baseline_source: str, readout: str = "mlm") -> tuple[str, ...]:
    """How a run differs from the paper's protocol, one phrase each; empty means "paper".

    ``baseline_source`` is what replaced the ablated input (``Baseline.source``): the
    setting ``baseline="average"`` is not enough, since without a dataset average the
    image's own mean stands in.
    """
    out = []
    if readout != "mlm":
        out.append(f"readout {readout}, left context only (paper: masked LM)")
    if baseline_source != PAPER_BASELINE:
        out.append(f"baseline {baseline_source} (paper: {PAPER_BASELINE})")
    for field in fields(AblationSettings):
        if field.name == "baseline":
            continue  # covered by the source actually used
        value, paper = getattr(settings, field.name), getattr(PAPER, field.name)
        if value != paper:
            out.append(f"{field.name} {value} (paper: {paper})")
    return tuple(out)


def protocol_label(departures: Sequence[str]) -> str:
    """"paper", or "not the paper's protocol: ..." naming every departure."""
    return "paper" if not departures else "not the paper's protocol: " + "; ".join(departures)
