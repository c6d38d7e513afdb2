"""vlexplore: cross-modal input ablation for vision-and-language transformers.

Frank, Bugliarello & Elliott (EMNLP 2021): ablate the image regions aligned with a phrase
and watch masked-word predictions degrade; ablate the phrase and watch masked-region
predictions (hardly) degrade. The library core imports neither Streamlit nor plotting code.
"""

import os as _os
import sys as _sys

__version__ = "0.1.0"

# OpenMP threads that spin while they wait for each other lose whole time slices when the
# CPU is shared (more busy threads than cores): the built-in model's held-out set took 5x
# longer with two spinning threads than with passive ones (benchmarks/README.md, "Built-in
# model"). It only takes effect before torch is loaded, and a value the user set wins.
if "torch" not in _sys.modules:
    _os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
