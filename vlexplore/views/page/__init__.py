"""The app's page, one module per section, in the order the page reads.

This subpackage and ``app.py`` are the only places that import streamlit (besides the CLI's
``vlexplore app``, which starts the server): everything else in
``vlexplore.views`` (figures, overlay, state, examples, sources, text) stays plain Python so a
notebook can use it, and ``import vlexplore`` (library and CLI) never reaches this package.

- ``session``: cached loaders (bounded), the state <-> URL sync, callbacks, the page's one
  choice of ablation baseline.
- ``sidebar``: model, examples, ablation settings.
- ``picker``: which example (gallery, random scene, upload).
- ``example``: one example, computed first (``compute``), then drawn section by section.
- ``dataset``: the whole-set view and the "What am I looking at?" page.
- ``sweep``: threshold sweeps, of the whole set (on demand) and of the chosen phrase.
- ``attention``: the masked phrase's attention beside the Object ablation (example view).
- ``seeds``: a folder of seed checkpoints run as one family (whole-set view).
- ``compare``: the chosen phrase under several loaded models at once (example view).

May import: streamlit, the library (``vlexplore.*``) and the plain view modules above.
"""
