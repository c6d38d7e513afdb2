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


def test_protocol_imports_nothing_downstream():
    code = (
        "import sys, vlexplore.protocol, vlexplore.protocol.scoring;"
        "later = [m for m in sys.modules if m.startswith(('vlexplore.models', 'vlexplore.engine', "
        "'vlexplore.views', 'vlexplore.diagnostics', 'vlexplore.cli'))];"
        "assert not later, later"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
