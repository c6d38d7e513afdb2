"""Seeds on the page: when the sidebar's checkpoint is a folder of seeds, the whole-set view runs
every seed (on demand) and draws them beside every published seed (the paper's seed figure,
``views.paper_figures.seed_figure``)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from ...seeds import checkpoint_family, family_runs, family_spread, family_summary, run_family
from .. import sources
from ..paper_figures import seed_figure
from ..state import Key
from ..text import literal
from . import session


def seeds_section() -> None:
    """Nothing unless the checkpoint is a folder of two or more checkpoints."""
    s = st.session_state
    folder = session.current_state().checkpoint
    if not folder:
        return
    try:  # a served page must not tell which server paths exist: the data folders first
        sources.readable_path(folder, "checkpoint path")
    except ValueError:
        return  # the model's own load error says so
    if not Path(folder).expanduser().is_dir():
        return
    try:
        family = checkpoint_family(folder)
        dataset = session.get_dataset(session.dataset_source())
    except ValueError as error:
        st.error(literal(str(error)))
        return
    if len(family) < 2:
        return
    with st.expander(f"Seeds: {len(family)} checkpoints in {folder}", expanded=True):
        settings = session.current_state().settings()
        key = ("seeds", session.model_source(), session.dataset_source(), settings)
        if session.dataset_runs().get_recent(key) is None:
            st.caption("The bars above are the first seed. Run every seed (one model in memory at a time) to "
                       "see how far the diagnostic moves between pretraining seeds.")
            if not st.button(f"Run {len(family)} seeds on {len(dataset.units())} phrases", key=Key.SEEDS_RUN):
                return

        frame = session.whole_set_run_in_status(
            key, lambda: run_family(s[Key.MODEL], folder, dataset, settings, progress=False, batch_size=32),
            running=f"Running {len(family)} seeds …", done="Seeds done", failed="The seeds could not be run")
        if frame is None:
            return
        summary = family_summary(frame)
        st.plotly_chart(seed_figure(runs=family_runs(frame, s[Key.MODEL])), key=Key.FIG_SEEDS)
        st.caption("Blue diamonds: your seeds (at the published model they run, when they run one); grey "
                   "points: the paper's seeds, the star its main seed. Hover a diamond for its seed.")
        st.dataframe(family_spread(summary), hide_index=True)
        st.download_button("All seeds' phrases (CSV)", frame.to_csv(index=False).encode(),
                           f"{s[Key.MODEL]}_{s[Key.DATASET]}_seeds.csv", "text/csv", key=Key.SEEDS_CSV)
