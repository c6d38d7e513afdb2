"""app.py with the tiny test model and example set registered, for tests that need a model
that is always there (``streamlit run tests/app_tiny.py``). Not used by the product."""

import runpy
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from vlexplore import registry  # noqa: E402

registry.register_model("tiny", "tiny:load_tiny", "tiny random test model")
registry.register_dataset("tinyset", "tiny:load_tiny_set", "three tiny test examples")
runpy.run_path(str(HERE.parent / "app.py"), run_name="__main__")
