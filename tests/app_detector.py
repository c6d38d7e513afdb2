"""app.py with the tiny example set and small VOLTA configs (as test_app's ``small_volta``), for the
browser test of the own-image flow (``streamlit run tests/app_detector.py``). Not used by the product."""

import runpy
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from test_app import small_volta_config  # noqa: E402

from vlexplore import registry  # noqa: E402
from vlexplore.models.volta import VoltaConfig  # noqa: E402

VoltaConfig.for_arch = staticmethod(small_volta_config)
registry.register_dataset("tinyset", "tiny:load_tiny_set", "three tiny test examples")
runpy.run_path(str(HERE.parent / "app.py"), run_name="__main__")
