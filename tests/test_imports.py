import subprocess
import sys


def test_library_does_not_import_streamlit():
    code = (
        "import sys, vlexplore, vlexplore.engine, vlexplore.diagnostics, vlexplore.registry, vlexplore.cli;"
        "vlexplore.cli.build_parser();"
        "assert 'streamlit' not in sys.modules, 'streamlit imported';"
        "assert 'plotly' not in sys.modules, 'plotly imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_only_the_page_package_imports_streamlit():
    """The view helpers (figures, overlay, state, examples, sources, text) stay notebook-usable;
    streamlit belongs to app.py and vlexplore.views.page alone."""
    code = (
        "import sys;"
        "import vlexplore.views.figures, vlexplore.views.overlay, vlexplore.views.state,"
        " vlexplore.views.examples, vlexplore.views.sources, vlexplore.views.text;"
        "assert 'streamlit' not in sys.modules, 'streamlit imported';"
        "assert 'vlexplore.views.page' not in sys.modules, 'the page package imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_protocol_imports_nothing_downstream():
    code = (
        "import sys, vlexplore.protocol, vlexplore.protocol.scoring;"
        "later = [m for m in sys.modules if m.startswith(('vlexplore.models', 'vlexplore.engine', "
        "'vlexplore.views', 'vlexplore.diagnostics', 'vlexplore.cli'))];"
        "assert not later, later"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
