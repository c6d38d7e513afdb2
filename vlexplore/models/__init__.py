"""Vision-and-language models behind one protocol, one module or package per backend.

- ``base``: the protocol (``VLModel``, ``VLBatch``, ``RegionInput``, ``PixelInput``, ``VLOutput``).
- ``common``: what backends share (devices, input checks, box layouts, reading heads out).
- ``builtin``: the small single-stream model of the procedural world (``demo``).
- ``volta``: the five controlled VOLTA models (package: config, modules, checkpoint, adapter).
- ``hf`` with ``hf_vilt``, ``hf_lxmert``, ``hf_visualbert``: Hugging Face checkpoints.

Data flows one way: models may import records, geometry, text and protocol-level helpers,
never the engine, the diagnostics, the views, the app or the CLI (which import models).
"""
