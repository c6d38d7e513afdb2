import json
import subprocess
import sys


def loaded_after(imports: str, then: str = "") -> set[str]:
    """The modules a fresh interpreter holds after ``import {imports}`` (and running ``then``)."""
    code = "\n".join(["import json, sys", f"import {imports}", then, "print(json.dumps(sorted(sys.modules)))"])
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return set(json.loads(done.stdout.splitlines()[-1]))


def test_library_does_not_import_streamlit():
    loaded = loaded_after(
        "vlexplore, vlexplore.engine, vlexplore.diagnostics, vlexplore.registry, vlexplore.cli",
        then="vlexplore.cli.build_parser()",
    )
    assert "streamlit" not in loaded, "streamlit imported"
    assert "plotly" not in loaded, "plotly imported"


def test_only_the_page_package_imports_streamlit():
    """The view helpers (figures, overlay, state, examples, sources, text) stay notebook-usable;
    streamlit belongs to app.py and vlexplore.views.page alone."""
    loaded = loaded_after(
        "vlexplore.views.figures, vlexplore.views.overlay, vlexplore.views.state, "
        "vlexplore.views.examples, vlexplore.views.sources, vlexplore.views.text"
    )
    assert "streamlit" not in loaded, "streamlit imported"
    assert "vlexplore.views.page" not in loaded, "the page package imported"


def test_protocol_imports_nothing_downstream():
    loaded = loaded_after("vlexplore.protocol, vlexplore.protocol.scoring")
    downstream = ("vlexplore.models", "vlexplore.engine", "vlexplore.views", "vlexplore.diagnostics", "vlexplore.cli")
    later = sorted(m for m in loaded if m.startswith(downstream))
    assert not later, later
