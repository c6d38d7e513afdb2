"""The five controlled VOLTA models (Bugliarello et al., TACL 2021) behind the model protocol.

One package, one concern a module:

- ``config``: ``VoltaConfig``, the architecture as data, and the shipped JSON configs.
- ``modules``: the encoder as torch modules (nn only), ``VoltaForPretraining``.
- ``checkpoint``: safe reading, strict key/shape checks and forensics, ``load_volta``.
- ``adapter``: ``VoltaBackend`` (the ``VLModel`` protocol) and ``load_from_spec``.

Imports flow config -> modules -> checkpoint -> adapter; the package may import
``vlexplore.models.base``/``common`` and ``vlexplore.text``, never the engine, the views or
the app. ``from vlexplore.models.volta import load_volta`` and the other names below are
the public surface.
"""

from .adapter import VoltaBackend, load_from_spec, vg_region_classes
from .checkpoint import (
    DOWNLOAD_HINT,
    check_state_dict,
    expected_shapes,
    load_volta,
    read_state_dict,
)
from .config import ARCHS, CONFIG_DIR, CONFIG_FILES, VISUAL_TARGET_SIZES, VoltaConfig
from .modules import VoltaForPretraining, VoltaOutput

__all__ = [
    "ARCHS",
    "CONFIG_DIR",
    "CONFIG_FILES",
    "DOWNLOAD_HINT",
    "VISUAL_TARGET_SIZES",
    "VoltaConfig",
    "VoltaOutput",
    "VoltaForPretraining",
    "VoltaBackend",
    "load_volta",
    "load_from_spec",
    "read_state_dict",
    "check_state_dict",
    "expected_shapes",
    "vg_region_classes",
]
