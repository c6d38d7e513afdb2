import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session", autouse=True)
def app_data_dirs(tmp_path_factory):
    """The app opens typed paths only under its data folders; the tests' files live in temporary
    folders (set before any test starts a server, which inherits it)."""
    roots = [str(Path.cwd()), str(tmp_path_factory.getbasetemp())]
    os.environ["VLEXPLORE_DATA_DIRS"] = os.pathsep.join(roots)
