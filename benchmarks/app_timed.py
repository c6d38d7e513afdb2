"""A checkout's app.py (``$VLEXPLORE_APP``) with every script run timed on the server, for
bench_app.py: each run, whole page or fragment alone, appends "full SECONDS" or "fragment
SECONDS" to ``$VLEXPLORE_RUN_LOG``. The timer wraps Streamlit's ``ScriptRunner._run_script``
(the script and what Streamlit does around it: widget state, sending the page), patched on the
server's first run; that run is timed from here (the script alone). Benchmark scaffolding, not
part of the product."""

import os
import runpy
import time

from streamlit.runtime.scriptrunner.script_runner import ScriptRunner

first_run = not getattr(ScriptRunner, "_vlexplore_timed", False)
started = time.perf_counter()
if first_run:
    untimed = ScriptRunner._run_script

    def timed(self, rerun_data):
        start = time.perf_counter()
        try:
            return untimed(self, rerun_data)
        finally:
            kind = "fragment" if rerun_data.fragment_id_queue else "full"
            with open(os.environ["VLEXPLORE_RUN_LOG"], "a") as log:
                log.write(f"{kind} {time.perf_counter() - start:.4f}\n")

    ScriptRunner._run_script = timed
    ScriptRunner._vlexplore_timed = True

try:
    runpy.run_path(os.environ["VLEXPLORE_APP"], run_name="__main__")
finally:
    if first_run:
        with open(os.environ["VLEXPLORE_RUN_LOG"], "a") as log:
            log.write(f"full {time.perf_counter() - started:.4f}\n")
