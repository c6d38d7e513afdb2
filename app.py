"""vlexplore, the app: inspect the cross-modal input ablation of one phrase, or of a whole set.

Thin on purpose: the page composes library calls (vlexplore.engine, vlexplore.views.*).
Caching sits here, at the boundary: the model and example set load once per process, and the
six conditions of a phrase come from one cached ``diagnose`` call, so switching the displayed
condition redraws without running the model.
"""

from __future__ import annotations

import contextlib
import io
import math
from dataclasses import asdict, replace

import numpy as np
import streamlit as st

from vlexplore.diagnostics import paper_results, results_frame, summarize, summary_frame
from vlexplore.engine import diagnose, diagnose_dataset
from vlexplore.protocol import LANG4VIS, PAPER, VIS4LANG, AblationSettings
from vlexplore.views import examples as ex
from vlexplore.views import figures, overlay, sources
from vlexplore.views.state import (
    VIEWS,
    ViewState,
    format_box,
    from_query,
    parse_box,
    selection_box,
    to_query,
)
from vlexplore.views.text import UPLOAD_DETECTOR_NOTE, WHAT_AM_I_LOOKING_AT, example_label

st.set_page_config(page_title="vlexplore", page_icon=":material/visibility:", layout="wide")
LABEL = figures.CONDITION_LABELS
UPLOAD_ID = "upload"


# ---------------------------------------------------------------- cached sources
# A source is (spec, options): options are the spec's paths as sorted (name, value) pairs,
# e.g. ("volta:uniter", (("checkpoint", "/data/pytorch_model_9.bin"),)).
@st.cache_resource(show_spinner="Loading the model …", max_entries=4)
def get_model(source: tuple):
    spec, options = source
    return sources.load_model(spec, **dict(options))


@st.cache_resource(show_spinner="Loading the examples …", max_entries=4)
def get_dataset(source: tuple):
    spec, options = source
    return sources.load_dataset(spec, **dict(options))


@st.cache_resource(max_entries=4)
def get_average(dataset_spec: tuple):
    return get_dataset(dataset_spec).average_region_feature()


@st.cache_resource(show_spinner="Making a new scene …", max_entries=16)
def get_random(seed: int):
    return sources.random_example(seed)


@st.cache_resource(max_entries=64)
def get_thumbnail(dataset_spec: tuple, example_id: str):
    example = get_dataset(dataset_spec).by_id(example_id)
    try:
        return overlay.thumbnail(example)
    except ValueError:  # an unreadable image file: the example view says why
        return overlay.thumbnail(replace(example, image=None, image_path=None))


def picture(example):
    """The example's image, or a blank canvas of its size (with a warning) when the file cannot be read."""
    try:
        return overlay.example_image(example)
    except ValueError as error:
        st.warning(f"{error}; drawing on a blank canvas of the image's size.")
        return overlay.example_image(replace(example, image=None, image_path=None))


@st.cache_resource(show_spinner="Running the model (six conditions, one pass) …", max_entries=64)
def get_diagnosis(key: str, _model, _example, phrase_index: int, settings: AblationSettings, _average):
    """``key`` names model and example content; settings are hashed; the rest is identified by key."""
    average = _average
    if _example.regions is not None and (average is None or average.shape != (_example.regions.feature_dim,)):
        average = None
    return diagnose(_model, _example, phrase_index, settings, average_feature=average, all_regions=True)


@st.cache_resource(max_entries=16)
def dataset_runs() -> dict:
    return {}


# ---------------------------------------------------------------- state <-> URL
WIDGET_KEYS = {"caption": "caption_edit", "box": "box_edit"}  # state field -> session key


def sync_state() -> None:
    """Seed session keys from the link on the first run, and afterwards from the last run's
    state for any widget Streamlit dropped because it was not drawn (e.g. after an error)."""
    s = st.session_state
    if "_state" not in s:
        state, problems = from_query(st.query_params.to_dict())
        s._state, s.link_problems = state, problems
        s._pick_phrase = "phrase" not in st.query_params
    for name, value in asdict(s._state).items():
        key = WIDGET_KEYS.get(name, name)
        if key not in s:
            s[key] = value


def current_state() -> ViewState:
    s = st.session_state
    return ViewState(
        view=s.view, model=s.model, dataset=s.dataset, example=s.example, phrase=int(s.phrase),
        vis4lang=s.vis4lang, lang4vis=s.lang4vis, threshold=float(s.threshold),
        alignment=s.alignment, baseline=s.baseline, caption=s.get("caption_edit", ""),
        box=s.get("box_edit", ""), words=s.get("words", ""), checkpoint=s.get("checkpoint", "").strip(),
        features=s.get("features", "").strip(), images=s.get("images", "").strip(),
    )


def model_source() -> tuple:
    """The model to load: its spec and, for volta:ARCH, the checkpoint typed in the sidebar."""
    state = current_state()
    return state.model, tuple(sorted(state.model_options().items()))


def dataset_source() -> tuple:
    """The examples to load: the spec and, for flickr30k:PATH, the features and images paths."""
    state = current_state()
    return state.dataset, tuple(sorted(state.dataset_options().items()))


def open_example(example_id: str, phrase: int | None = None, view: str | None = None) -> None:
    """Callback: show another example, dropping edits made to the previous one.

    Without a phrase number, the example opens on its first phrase that has a gold box.
    """
    s = st.session_state
    s.example, s.phrase = example_id, phrase or 0
    s._pick_phrase = phrase is None
    s.caption_edit, s.box_edit, s.words = "", "", ""
    for key in ("caption_input", "box_x1", "box_y1", "box_x2", "box_y2", "redraw"):
        s.pop(key, None)
    if view:
        s.view = view


def phrase_changed() -> None:
    """Callback: another phrase starts from its own gold box and words."""
    s = st.session_state
    s.box_edit, s.words = "", ""
    for key in ("box_x1", "box_y1", "box_x2", "box_y2", "redraw", "_applied_selection"):
        s.pop(key, None)


def new_random_scene() -> None:
    seed = int(np.random.default_rng().integers(0, 1_000_000))
    open_example(f"random:{seed}")


def use_custom_model() -> None:
    spec = st.session_state.model_custom.strip()
    if spec:
        st.session_state.model = spec


def use_custom_dataset() -> None:
    spec = st.session_state.dataset_custom.strip()
    if spec:
        st.session_state.dataset = spec
        open_example("")


def reset_settings() -> None:
    s = st.session_state
    s.threshold, s.alignment, s.baseline = PAPER.threshold, PAPER.alignment, PAPER.baseline


# ---------------------------------------------------------------- sidebar
def sidebar() -> None:
    s = st.session_state
    with st.sidebar:
        st.title("vlexplore")
        st.caption("Cross-modal input ablation (Frank, Bugliarello & Elliott, EMNLP 2021)")
        st.radio("View", VIEWS, key="view", format_func=lambda v: {"example": "One example",
                 "dataset": "Whole set", "about": "What am I looking at?"}[v], horizontal=True)
        models = sources.model_choices()
        if s.model not in models:
            models = [s.model, *models]
        st.selectbox("Model", models, key="model",
                     help="Built-in models run offline; type another below: volta:ARCH (ARCH in lxmert, "
                          "vilbert, vl-bert, visualbert, uniter) with its checkpoint file, or hf:PATH to a "
                          "local Hugging Face checkpoint.")
        st.text_input("Other model", key="model_custom", placeholder="volta:uniter or hf:/path/to/vilt",
                      on_change=use_custom_model, label_visibility="collapsed")
        if s.model.startswith("volta:"):
            st.text_input("Checkpoint file", key="checkpoint", placeholder="/path/to/pytorch_model_9.bin",
                          help="The VOLTA pretraining checkpoint of this architecture (see MODELS.md).")
        datasets = sources.dataset_choices()
        if s.dataset not in datasets:
            datasets = [s.dataset, *datasets]
        st.selectbox("Examples", datasets, key="dataset", on_change=open_example, args=("",),
                     help="Built-in examples, or type flickr30k:PATH below (the Flickr30k Entities folder "
                          "with Annotations/, Sentences/ and val.txt).")
        st.text_input("Other examples", key="dataset_custom", placeholder="flickr30k:/path/to/flickr30k_entities",
                      on_change=use_custom_dataset, label_visibility="collapsed")
        if s.dataset.startswith("flickr30k:"):
            st.text_input("Region features", key="features", placeholder="/path/to/flickr30k_val.tsv",
                          help="Detector regions of the images: a bottom-up-attention TSV, a VOLTA LMDB "
                               "or a folder of .npz files.")
            st.text_input("Images folder (optional)", key="images", placeholder="/path/to/flickr30k-images",
                          help="Without images, examples are drawn on a blank canvas of the image's size.")
        st.subheader("Ablation settings")
        st.slider("Alignment threshold", 0.0, 0.95, step=0.05, key="threshold",
                  help="A region is aligned with a phrase when its overlap with a gold box is above this.")
        st.radio("Overlap measure", ("iot", "iou"), key="alignment", horizontal=True,
                 format_func=lambda v: {"iot": "IoT (paper)", "iou": "IoU"}[v])
        st.radio("Replace ablated regions by", ("average", "zero"), key="baseline", horizontal=True,
                 format_func=lambda v: {"average": "average feature (paper)", "zero": "zeros"}[v])
        if current_state().settings() != PAPER:
            st.caption(":material/warning: Not the paper's settings.")
            st.button("Back to the paper's settings", on_click=reset_settings)
        else:
            st.caption(":material/check: The paper's settings.")
        st.caption("The address bar holds this view: copy the link to share it.")


# ---------------------------------------------------------------- example view
def pick_example(dataset_spec: tuple):
    """Gallery, random scene and upload. Returns the chosen Example (or None) and notes."""
    s = st.session_state
    dataset = None
    try:
        dataset = get_dataset(dataset_spec)
    except ValueError as error:
        st.error(str(error))
    ids = [e.example_id for e in dataset.examples] if dataset is not None else []
    if not s.example and ids:
        s.example = ids[0]
    with st.expander("Pick an example: gallery, random scene, your own image", expanded=not s.example):
        gallery, own = st.tabs(["Examples", "Your own image"])
        with gallery:
            if dataset is not None and ids:
                shown = dataset.examples[:8]
                columns = st.columns(len(shown))
                for number, (column, example) in enumerate(zip(columns, shown, strict=True), start=1):
                    with column:
                        st.image(get_thumbnail(dataset_spec, example.example_id), width="stretch")
                        st.button(str(number), key=f"open_{example.example_id}",
                                  on_click=open_example, args=(example.example_id,),
                                  help=f"{example.example_id}: {example.caption}",
                                  type="primary" if example.example_id == s.example else "secondary",
                                  width="stretch")
            left, right = st.columns([3, 1])
            with left:
                if ids:
                    labels = {e.example_id: example_label(e.example_id, e.caption) for e in dataset.examples}
                    st.selectbox(f"All {len(ids)} examples", ids,
                                 index=ids.index(s.example) if s.example in ids else None,
                                 format_func=labels.get, key="example_picker",
                                 on_change=lambda: open_example(st.session_state.example_picker or ids[0]))
            with right:
                st.write("")
                st.button("New random scene", icon=":material/casino:", on_click=new_random_scene,
                          width="stretch",
                          help="A fresh scene of the built-in world (caption, gold boxes, detector regions).")
        with own:
            upload_panel()
    if s.example == UPLOAD_ID:
        example = s.get("upload_example")
        if example is None:
            st.info("Uploaded images live only in your session and are not part of a shared link; "
                    "upload the image again.")
        return example
    if s.example.startswith("random:"):
        try:
            return get_random(int(s.example.partition(":")[2]))
        except ValueError as error:
            st.error(f"Could not make a random scene: {error}")
            return None
    if dataset is None:
        return None
    try:
        return dataset.by_id(s.example)
    except KeyError:
        st.warning(f"No example {s.example!r} in {s.dataset!r}; showing the first one.")
        s.example = ids[0] if ids else ""
        return dataset.examples[0] if ids else None


def upload_panel() -> None:
    s = st.session_state
    with st.container():
        model = None
        with contextlib.suppress(ValueError):
            model = get_model(model_source())
        region_model = model is not None and model.input_kind == "regions"
        can_upload = not region_model or s.model in sources.BUILTIN_MODELS
        if not can_upload:
            st.info(f"{s.model} reads regions of its own Faster R-CNN detector, which vlexplore does not run "
                    "on new images. Pick a model that takes raw images (hf: ViLT) or a built-in model.")
        elif region_model:
            st.caption(UPLOAD_DETECTOR_NOTE)
        upload = st.file_uploader("Image", key="upload_file", help="JPEG, PNG, WebP … up to 40 megapixels",
                                  disabled=not can_upload)
        caption = st.text_input("Caption", key="upload_caption", placeholder="A man walks a dog in the park .")
        c1, c2 = st.columns(2)
        phrase = c1.text_input("Phrase (words of the caption)", key="upload_phrase", placeholder="a dog")
        box = c2.text_input("Its box x1,y1,x2,y2 (pixels)", key="upload_box", placeholder="10,20,200,180")
        if st.button("Use this image", disabled=upload is None):
            try:
                if not box.strip():
                    raise ValueError("box is empty; type x1,y1,x2,y2 of what the phrase refers to")
                def detector(image):  # looked up only once the image itself is valid
                    return sources.upload_detector()(image)

                example = ex.example_from_upload(
                    io.BytesIO(upload.getvalue()), caption, [(phrase, parse_box(box))],
                    input_kind=model.input_kind if model is not None else "regions", detector=detector,
                    name=f"upload {upload.name!r}")
            except ValueError as error:
                st.error(str(error))
            else:
                s.upload_example = example
                open_example(UPLOAD_ID)
                st.rerun()


def apply_box_selection(example) -> None:
    """A box dragged on the image (plotly box-select) becomes the phrase's box inputs."""
    s = st.session_state
    box = selection_box(s.get("image_select"), example.image_size)
    if box is None:
        return
    if box != s.get("_applied_selection"):
        s._applied_selection = box
        s.redraw = True
        s.box_x1, s.box_y1, s.box_x2, s.box_y2 = (float(v) for v in parse_box(box))


def edit_controls(example):
    """Caption, phrase and box editors. Returns (edited example, phrase index) or (None, None)."""
    s = st.session_state
    if "caption_input" not in s:
        s.caption_input = s.caption_edit or example.caption
    st.text_input("Caption (edit to see what the model does with other words)", key="caption_input")
    caption = s.caption_input
    phrases = example.phrases
    choices = [i for i in range(len(phrases))]
    if not choices:
        st.warning("This example has no phrase.")
        return None, None
    if s.pop("_pick_phrase", False) or int(s.phrase) >= len(phrases):
        s.phrase = (example.diagnosable_phrases() or [0])[0]
    st.radio("Phrase", choices, key="phrase", horizontal=True, on_change=phrase_changed,
             format_func=lambda i: f"{phrases[i].text}" + ("" if len(phrases[i].boxes) else " (no box)"))
    chosen = phrases[int(s.phrase)]
    gold = chosen.boxes[0] if len(chosen.boxes) else np.array([0, 0, example.image_size[0] - 1, example.image_size[1] - 1])
    for key, value in zip(("box_x1", "box_y1", "box_x2", "box_y2"), gold, strict=True):
        s.setdefault(key, float(value))
    if s.box_edit and "redraw" not in s:
        try:
            s.box_x1, s.box_y1, s.box_x2, s.box_y2 = (float(v) for v in parse_box(s.box_edit))
            s.redraw = True
        except ValueError:
            pass
    box = None
    with st.expander("Other words, or redraw the box", expanded=bool(s.get("redraw") or s.get("words"))):
        st.text_input("Ablate other words of the caption (with this phrase's box)", key="words",
                      placeholder="e.g. walks", help="Leave empty to ablate the phrase itself.")
        st.toggle("Redraw the box (drag on the image, or type)", key="redraw")
        if s.redraw:
            cols = st.columns(4)
            for col, key in zip(cols, ("box_x1", "box_y1", "box_x2", "box_y2"), strict=True):
                col.number_input(key[-2:], key=key, step=1.0, format="%.0f")
            box = [s.box_x1, s.box_y1, s.box_x2, s.box_y2]
    s.box_edit = format_box(box) if box is not None else ""
    s.caption_edit = caption if caption != example.caption else ""
    try:
        edited, index, notes = ex.edit_example(
            example, int(s.phrase), caption=caption if caption != example.caption else None, box=box,
            phrase_text=s.words.strip() or None)
    except ValueError as error:
        st.error(str(error))
        return None, None
    for note in notes:
        st.caption(note)
    return edited, index


def condition_toggles(has_lang4vis: bool) -> None:
    c1 = c2 = st.container()
    c1.segmented_control("Regions replaced (MLM)", VIS4LANG, key="vis4lang", required=True, format_func=LABEL.get,
             help="Vision-for-language: which regions are replaced while the phrase is masked.")
    c2.segmented_control("Words masked (MRC-KL)", LANG4VIS, key="lang4vis", required=True, format_func=LABEL.get,
             help="Language-for-vision: which words are masked while the phrase's regions are zeroed.", disabled=not has_lang4vis)


def score_metrics(diagnosis) -> None:
    s = st.session_state
    v4l, l4v = diagnosis.scores["vis4lang"], diagnosis.scores["lang4vis"]
    c1, c2, c3 = st.columns(3)
    st.caption("Arrows: change against None (red = worse prediction).")
    c1.metric(f"MLM loss, {LABEL[s.vis4lang]}", f"{v4l[s.vis4lang]:.2f} bits",
              delta=None if s.vis4lang == "none" else f"{v4l[s.vis4lang] - v4l['none']:+.2f}",
              delta_color="inverse")
    if not math.isnan(l4v[s.lang4vis]):
        c2.metric(f"MRC-KL, {LABEL[s.lang4vis]}", f"{l4v[s.lang4vis]:.3f} bits",
                  delta=None if s.lang4vis == "none" else f"{l4v[s.lang4vis] - l4v['none']:+.3f}",
                  delta_color="inverse")
    else:
        c2.metric("MRC-KL", "n/a")
    c3.metric("Aligned regions", f"{len(diagnosis.alignment.aligned)} of {len(diagnosis.unit_boxes)}")


def export_panel(figs: dict, tables: dict, stem: str) -> None:
    st.markdown("**Export**")
    cols = st.columns(len(tables))
    for col, (name, frame) in zip(cols, tables.items(), strict=True):
        col.download_button(f"{name} table (CSV)", frame.to_csv(index=False).encode(), f"{stem}_{name}.csv",
                            "text/csv", key=f"csv_{name}", disabled=frame.empty)
    c1, c2, c3 = st.columns([2, 1, 1])
    name = c1.selectbox("Figure", list(figs), key="export_figure")
    fig = figs[name]
    c2.download_button("HTML", lambda: fig.to_html(include_plotlyjs=True, full_html=True).encode(),
                       f"{stem}_{name}.html", "text/html", key="html_export")
    c3.download_button("PNG", lambda: fig.to_image(format="png", width=1200, height=fig.layout.height or 500,
                                                   scale=2),
                       f"{stem}_{name}.png", "image/png", key="png_export",
                       help="Rendered by kaleido when you click (a few seconds).")


def example_view() -> None:
    s = st.session_state
    example = pick_example(dataset_source())
    if example is None:
        return
    try:
        model = get_model(model_source())
    except ValueError as error:
        st.error(f"{error}")
        if s.model.startswith("volta:") and not current_state().checkpoint:
            st.info("Type the path of its checkpoint (pytorch_model_9.bin) under the model in the sidebar.")
        else:
            st.info("Pick another model in the sidebar.")
        return
    apply_box_selection(example)
    left, right = st.columns([11, 9], gap="medium")
    with right:
        edited, phrase_index = edit_controls(example)
    if edited is None:
        with left:
            st.plotly_chart(overlay.image_figure(picture(example), example.phrases),
                            key="image_plain", config={"displaylogo": False})
        return
    settings = current_state().settings()
    diagnosis, error = None, None
    try:
        average = get_average(dataset_source()) if s.example != UPLOAD_ID and not s.example.startswith("random:") \
            else _safe_average(dataset_source())
        key = f"{model_source()}|{dataset_source()}|{ex.fingerprint(edited)}|{phrase_index}"  # dataset: its average
        diagnosis = get_diagnosis(key, model, edited, phrase_index, settings, average)
    except (ValueError, RuntimeError) as e:  # RuntimeError: a model that does not fit these inputs
        error = str(e)
    with right:
        st.markdown(overlay.caption_html(edited.caption, edited.phrases, phrase_index), unsafe_allow_html=True)
        condition_toggles(diagnosis is not None and not diagnosis.regions.empty)
        if diagnosis is not None:
            score_metrics(diagnosis)
    image = picture(edited)
    regions_model = model.input_kind == "regions"
    with left:
        if diagnosis is not None:
            ablated = diagnosis.ablated[("vis4lang", s.vis4lang)]
            boxes = diagnosis.unit_boxes
            if not regions_model:  # pixel models: draw only the patches that are replaced
                boxes, ablated = boxes[ablated], np.ones(int(ablated.sum()), bool)
            fig = overlay.image_figure(image, edited.phrases, phrase_index, boxes, ablated,
                                       diagnosis.alignment.target if regions_model else None, selectable=True,
                                       height=image_height(edited))
        else:
            fig = overlay.image_figure(image, edited.phrases, phrase_index,
                                       edited.regions.boxes if edited.regions is not None else None,
                                       selectable=True, height=image_height(edited))
        st.plotly_chart(fig, key="image_select", on_select="rerun", selection_mode="box",
                        config={"displaylogo": False, "modeBarButtonsToRemove": ["lasso2d"]})
        st.caption(f"Gold boxes in the phrase colours · grey: detector regions · dashed red: replaced under "
                   f"**{LABEL[s.vis4lang]}** · dotted: MRC target. Drag a rectangle to redraw the phrase's box.")
    if error is not None:
        st.error(error)
        if regions_model and edited.regions is None and s.dataset.startswith("flickr30k:"):
            st.info("Type the path of the examples' region features under the examples in the sidebar.")
        return
    for warning in diagnosis.warnings:
        st.warning(warning)
    if diagnosis.lang4vis_note:
        st.info(diagnosis.lang4vis_note)
    if regions_model and diagnosis.example.regions is not None and settings.baseline == "average" \
            and (s.example == UPLOAD_ID or average_missing(diagnosis, dataset_source())):
        st.caption("Ablated regions are replaced by this image's mean region feature (no dataset average fits).")
    figs = {"tokens": figures.token_figure(diagnosis, s.vis4lang)}
    tab_lang, tab_vision, tab_tables = st.tabs(["Language (MLM)", "Vision (MRC-KL)", "Tables & export"])
    with tab_lang:
        st.plotly_chart(figs["tokens"], key="fig_tokens")
        n_tokens = int(diagnosis.tokens["token_index"].max()) + 1 if not diagnosis.tokens.empty else 1
        token = st.radio("Masked token", list(range(n_tokens)), horizontal=True, key="token_index",
                         format_func=lambda i: diagnosis.tokens[diagnosis.tokens.token_index == i].token.iloc[0])
        figs["top predictions"] = figures.topk_figure(diagnosis, int(token or 0), s.vis4lang)
        st.plotly_chart(figs["top predictions"], key="fig_topk")
    with tab_vision:
        if diagnosis.regions.empty:
            st.info(diagnosis.lang4vis_note or "No region scores for this phrase.")
        else:
            figs["region KL"] = figures.region_kl_figure(diagnosis, s.lang4vis)
            st.plotly_chart(figs["region KL"], key="fig_regions")
            c1, c2 = st.columns(2)
            with c1:
                scored = sorted(diagnosis.regions["region"].unique().tolist())
                target = diagnosis.alignment.target
                region = st.selectbox("Region", scored, index=scored.index(target) if target in scored else 0,
                                      format_func=lambda r: f"r{r}" + (" (target)" if r == target else ""),
                                      key="class_region")
                figs["classes"] = figures.class_distribution_figure(diagnosis, region, s.lang4vis)
                st.plotly_chart(figs["classes"], key="fig_classes")
            with c2:
                shown = s.lang4vis if s.lang4vis != "none" else "phrase"
                figs["change map"] = figures.heat_figure(diagnosis, image, shown, height=360)
                st.markdown(f"Per-region MRC-KL change, **{LABEL[shown]} − None** (red: worse without words)")
                st.plotly_chart(figs["change map"], key="fig_heat")
    with tab_tables:
        tables = {"tokens": diagnosis.tokens, "topk": diagnosis.topk, "regions": diagnosis.regions}
        st.dataframe(diagnosis.tokens[["token", "condition", "mlm_bits", "gold_prob", "gold_rank", "top_token"]],
                     hide_index=True, height=220)
        if not diagnosis.regions.empty:
            st.dataframe(diagnosis.regions[["region", "condition", "mrc_kl_bits", "aligned", "target",
                                            "model_top_class", "detector_top_class"]], hide_index=True, height=220)
        export_panel(figs, tables, f"{edited.example_id}_p{phrase_index}")


def image_height(example, column_px: int = 440) -> int:
    """Plot height that fits the picture's aspect in the left column (no empty band)."""
    width, height = example.image_size
    return int(min(480, max(240, column_px * height / width)))


def _safe_average(dataset_spec: tuple):
    try:
        return get_average(dataset_spec)
    except ValueError:
        return None


def average_missing(diagnosis, dataset_spec: tuple) -> bool:
    average = _safe_average(dataset_spec)
    return average is None or average.shape != (diagnosis.example.regions.feature_dim,)


# ---------------------------------------------------------------- dataset view
def dataset_view() -> None:
    s = st.session_state
    try:
        model = get_model(model_source())
        dataset = get_dataset(dataset_source())
    except ValueError as error:
        st.error(str(error))
        return
    settings = current_state().settings()
    key = (model_source(), dataset_source(), settings)
    runs = dataset_runs()
    if key not in runs:
        total = len(dataset.units())
        bar = st.progress(0.0, text=f"Diagnosing {total} phrases with {s.model} …")
        results, skipped = [], []
        try:
            for result in diagnose_dataset(model, dataset, settings, progress=False, skipped=skipped,
                                           batch_size=32, average_feature=get_average(dataset_source())):
                results.append(result)
                done = len(results) + len(skipped)
                bar.progress(min(1.0, done / max(total, 1)), text=f"Diagnosed {done} of {total} phrases …")
        except (ValueError, RuntimeError) as error:  # e.g. a model that does not fit these features
            bar.empty()
            st.error(f"{s.model} could not be run on {s.dataset}: {error}")
            return
        bar.empty()
        runs[key] = (results, skipped)
    results, skipped = runs[key]
    if not results:
        st.error(f"No phrase of {s.dataset!r} could be diagnosed ({len(skipped)} skipped).")
        return
    summary = summarize(results)
    st.subheader(f"{s.model} on {s.dataset}: {summary['n']} phrases")
    if skipped:
        with st.expander(f"{len(skipped)} phrases skipped"):
            st.write(skipped)
    show_paper = st.toggle("Show the paper's published numbers (5 VOLTA models on Flickr30k Entities val)",
                           value=True, key="show_paper")
    paper = paper_results() if show_paper else None
    fig = figures.dataset_figure(summary_frame(summary, s.model), paper, model=f"{s.model} (this run)")
    event = st.plotly_chart(fig, key="dataset_chart", on_select="rerun", selection_mode="points")
    st.caption("Hatched grey bars: the paper's published numbers, for scale (different data and models). "
               "Click a bar of this run to list the phrases behind it.")
    points = (event or {}).get("selection", {}).get("points", []) if isinstance(event, dict) else []
    for point in points:
        data = point.get("customdata")
        if data and data[0] in ("vis4lang", "lang4vis"):
            s.bar_side, s.bar_condition = data[0], data[1]
            break
    c1, c2 = st.columns(2)
    side = c1.radio("Side", ("vis4lang", "lang4vis"), key="bar_side", horizontal=True,
                    format_func=lambda v: {"vis4lang": "MLM", "lang4vis": "MRC-KL"}[v])
    conditions = VIS4LANG if side == "vis4lang" else LANG4VIS
    if s.get("bar_condition") not in conditions:
        s.bar_condition = conditions[1]
    condition = c2.radio("Condition", conditions, key="bar_condition", horizontal=True, format_func=LABEL.get)
    table = figures.effect_table(results_frame(results), side, condition)
    st.markdown(f"**Phrases behind {('MLM' if side == 'vis4lang' else 'MRC-KL')} {LABEL[condition]}**, "
                "largest effect (vs None) first")
    st.dataframe(table, hide_index=True, height=240)
    if not table.empty:
        rows = list(range(min(len(table), 200)))
        pick = st.selectbox("Open a phrase", rows, key="open_row",
                            format_func=lambda i: f"{table.example_id[i]} · {table.phrase[i]} "
                                                  f"({table.effect[i]:+.3f} bits)")
        st.button("Open in the example view", on_click=open_example,
                  args=(table.example_id[pick], int(table.phrase_index[pick]), "example"), type="primary")
    st.download_button("All phrases (CSV)", results_frame(results).to_csv(index=False).encode(),
                       f"{s.model}_{s.dataset}_phrases.csv", "text/csv")


def about_view() -> None:
    st.markdown(WHAT_AM_I_LOOKING_AT)
    st.markdown("**The paper's published numbers** (bits; Flickr30k Entities val, VOLTA models):")
    st.dataframe(paper_results().pivot_table(index="model", columns=["metric", "condition"], values="bits",
                                             sort=False), height=240)


# ---------------------------------------------------------------- page
COMPACT_CSS = """<style>
.block-container {padding-top: 2.2rem; padding-bottom: 2rem;}
[data-testid="stMetricValue"] {font-size: 1.6rem;}
</style>"""


def main() -> None:
    st.markdown(COMPACT_CSS, unsafe_allow_html=True)
    sync_state()
    sidebar()
    for problem in st.session_state.pop("link_problems", []):
        st.warning(problem)
    view = st.session_state.view
    if view != "about":
        with st.expander("What am I looking at?", icon=":material/info:"):
            st.markdown(WHAT_AM_I_LOOKING_AT)
    if view == "example":
        example_view()
    elif view == "dataset":
        dataset_view()
    else:
        about_view()
    st.session_state._state = current_state()
    st.query_params.from_dict(to_query(st.session_state._state))


main()
