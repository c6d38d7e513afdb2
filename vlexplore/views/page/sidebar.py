"""The sidebar: which model, which examples, and the ablation settings (the paper's by default)."""

from __future__ import annotations

import streamlit as st

from ...data.features import provenance_text
from ...models.common import PRECISIONS
from ...protocol import BASELINES, PAPER
from .. import sources
from ..state import BUILTIN_WORLDS, DEVICES, THRESHOLD_MAX, VIEWS, Key
from . import session

VIEW_NAMES = {"example": "One example", "dataset": "Whole set", "about": "What am I looking at?"}


def sidebar() -> None:
    with st.sidebar:
        st.title("vlexplore")
        st.caption("Cross-modal input ablation (Frank, Bugliarello & Elliott, EMNLP 2021)")
        st.radio("View", VIEWS, key=Key.VIEW, format_func=VIEW_NAMES.get, horizontal=True)
        st.toggle("Presenter mode", key=Key.PRESENT, help="One example large, its headline and the story in "
                  "one line, and a deck of examples to step through (PageDown / PageUp). The link keeps the "
                  "mode and the deck: open it with the sidebar closed on the projector.")
        model_inputs()
        detector_inputs()
        dataset_inputs()
        settings_inputs()
        compute_inputs()
        st.caption("The address bar holds this view: copy the link to share it.")


def _with_current(choices: list[str], current: str) -> list[str]:
    return choices if current in choices else [current, *choices]


def model_inputs() -> None:
    s = st.session_state
    st.selectbox("Model", _with_current(sources.model_choices(), s[Key.MODEL]), key=Key.MODEL,
                 help="Built-in models run offline; type another below: volta:ARCH (ARCH in lxmert, "
                      "vilbert, vl-bert, visualbert, uniter) with its checkpoint file, or hf:PATH to a "
                      "local Hugging Face checkpoint: ViLT, LXMERT, VisualBERT, or a generative VLM "
                      "(SmolVLM/Idefics3, SmolVLM2, LLaVA, LLaVA-OneVision, Qwen2-VL, Qwen2.5-VL) saved with its processor.")
    st.text_input("Other model", key=Key.MODEL_CUSTOM, placeholder="volta:uniter or hf:/path/to/smolvlm",
                  on_change=session.use_custom_model, label_visibility="collapsed")
    if s[Key.MODEL].startswith("volta:"):
        st.text_input("Checkpoint file", key=Key.CHECKPOINT, placeholder="/path/to/pytorch_model_9.bin",
                      help="The VOLTA pretraining checkpoint of this architecture (see MODELS.md).")


def detector_inputs() -> None:
    """The detector that turns your own image into regions, for the paper's region models."""
    if not st.session_state[Key.MODEL].startswith(("volta:", "hf:")):
        return
    st.text_input("Detector folder (for your own images)", key=Key.DETECTOR,
                  placeholder="/path/to/frcnn-vg-finetuned",
                  help="The bottom-up-attention Faster R-CNN: a folder with config.yaml and pytorch_model.bin "
                       "of unc-nlp/frcnn-vg-finetuned (`hf download unc-nlp/frcnn-vg-finetuned --local-dir DIR`). "
                       "Region-feature models (volta:*, hf: LXMERT / VisualBERT) need it for an uploaded image.")
    st.radio("Detector post-processing", ("caffe", "hf"), key=Key.DETECTOR_MODE, horizontal=True,
             format_func={"caffe": "caffe (VOLTA's features)", "hf": "hf (LXMERT demo)"}.get)


def dataset_inputs() -> None:
    s = st.session_state
    st.selectbox("Examples", _with_current(sources.dataset_choices(), s[Key.DATASET]), key=Key.DATASET,
                 on_change=session.open_example, args=("",),
                 help="Built-in examples, or type flickr30k:PATH below (the Flickr30k Entities folder "
                      "with Annotations/, Sentences/ and val.txt).")
    st.text_input("Other examples", key=Key.DATASET_CUSTOM, placeholder="flickr30k:/path/to/flickr30k_entities",
                  on_change=session.use_custom_dataset, label_visibility="collapsed")
    if s[Key.DATASET] in BUILTIN_WORLDS:
        st.radio("Region labels for MRC-KL", ("silver", "gold"), key=Key.REGION_LABELS, horizontal=True,
                 format_func={"silver": "detector (paper)", "gold": "gold classes"}.get,
                 help="The paper scores the region head against the detector's class distribution (silver). "
                      "The built-in worlds also know each region's true class: score against it to see the "
                      "positive control demo-lang use the caption.")
    if s[Key.DATASET].startswith("flickr30k:"):
        st.text_input("Region features", key=Key.FEATURES, placeholder="/path/to/flickr30k_val.tsv",
                      help="Detector regions of the images: a bottom-up-attention TSV, a VOLTA LMDB "
                           "or a folder of .npz files.")
        made_by = sources.features_made_by(s[Key.FEATURES].strip()) if s.get(Key.FEATURES, "").strip() else None
        if made_by:
            st.caption(f"Regions extracted by the detector {provenance_text(made_by)}.")
        st.text_input("Images folder (optional)", key=Key.IMAGES, placeholder="/path/to/flickr30k-images",
                      help="Without images, examples are drawn on a blank canvas of the image's size.")


def settings_inputs() -> None:
    st.subheader("Ablation settings")
    st.slider("Alignment threshold", 0.0, THRESHOLD_MAX, step=0.05, key=Key.THRESHOLD,
              help="A region is aligned with a phrase when its overlap with a gold box is above this.")
    st.radio("Overlap measure", ("iot", "iou"), key=Key.ALIGNMENT, horizontal=True,
             format_func={"iot": "IoT (paper)", "iou": "IoU"}.get)
    st.radio("Replace ablated regions by", BASELINES, key=Key.BASELINE, horizontal=True,
             format_func={"average": "average feature (paper)", "zero": "zeros",
                          "dataset-mean": "the examples' mean image token (VLMs)"}.get,
             help="Region models: the dataset's average region feature (the paper's), or zeros. Generative "
                  "VLMs (hf:): 'average' is the picture's own mean image token; 'the examples' mean image "
                  "token' is the mean projected image token over the chosen examples' pictures (computed once "
                  "per model and examples), the paper's dataset average in the VLM's token space.")
    if session.current_state().settings() != PAPER:
        st.caption(":material/warning: Not the paper's settings.")
        st.button("Back to the paper's settings", on_click=session.reset_settings)
    else:
        st.caption(":material/check: The paper's settings.")


def compute_inputs() -> None:
    st.subheader("Compute")
    st.radio("Device", DEVICES, key=Key.DEVICE, horizontal=True,
             format_func={"auto": "auto", "cpu": "CPU", "cuda": "GPU (CUDA)"}.get,
             help="Where the model runs; auto takes the GPU when there is one.")
    st.radio("Precision", PRECISIONS, key=Key.PRECISION, horizontal=True,
             help="fp32 is exact (the paper's numbers). tf32 uses a GPU's tensor cores for matmuls; "
                  "bf16 and fp16 run matmuls in half precision (autocast): faster on a GPU, scores "
                  "differ in the second or third decimal.")
