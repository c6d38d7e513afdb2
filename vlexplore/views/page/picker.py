"""Which example: the gallery, the list of all examples, a random scene, or an uploaded image.

``pick`` decides (no drawing); ``picker_section`` draws the choices and what went wrong.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
from dataclasses import dataclass, field

import streamlit as st

from ...records import Example, ExampleSet
from .. import examples as ex
from .. import overlay, sources
from ..state import Key, parse_box
from ..text import UPLOAD_DETECTOR_NOTE, example_label, in_app_words, literal
from . import session

GALLERY_SIZE = 8


@dataclass
class Pick:
    """The chosen example (None when there is none to show) and what to tell the user."""

    dataset: ExampleSet | None
    example: Example | None = None
    messages: list[tuple[str, str]] = field(default_factory=list)  # (st function, text)

    @property
    def ids(self) -> list[str]:
        return [e.example_id for e in self.dataset.examples] if self.dataset is not None else []


def pick() -> Pick:
    """The example the session names: from the set, a random scene, or the upload."""
    s = st.session_state
    try:
        chosen = Pick(session.get_dataset(session.dataset_source()))
    except ValueError as error:
        chosen = Pick(None, messages=[("error", str(error))])
    if chosen.dataset is not None and chosen.dataset.skipped:
        skipped = chosen.dataset.skipped
        chosen.messages.append(("warning", f"{len(skipped)} image(s) of this set were left out because their "
                                           f"files are damaged, e.g. {skipped[0]}"))
    ids = chosen.ids
    if not s[Key.EXAMPLE] and ids:
        s[Key.EXAMPLE] = ids[0]
    example_id = s[Key.EXAMPLE]
    if example_id == session.UPLOAD_ID:
        chosen.example = s.get(Key.UPLOAD_EXAMPLE)
        if chosen.example is not None and s.get(Key.UPLOAD_REGIONS_FROM):
            chosen.messages.append(("info", f"Regions of your image: {s[Key.UPLOAD_REGIONS_FROM]}."))
        if chosen.example is None:
            chosen.messages.append(("info", "Uploaded images live only in your session and are not part of a "
                                            "shared link; upload the image again."))
    elif example_id.startswith(session.RANDOM_PREFIX):
        seed = example_id.removeprefix(session.RANDOM_PREFIX)
        try:
            if not seed.isdigit():
                raise ValueError(f"{seed!r} is not a scene number (random:0, random:1, ...)")
            chosen.example = session.get_random(int(seed))
        except ValueError as error:
            chosen.messages.append(("error", f"Could not make a random scene: {error}"))
    elif chosen.dataset is not None:
        try:
            chosen.example = chosen.dataset.by_id(example_id)
        except KeyError:
            chosen.messages.append(("warning", f"No example {example_id!r} in {s[Key.DATASET]!r}; "
                                               "showing the first one."))
            s[Key.EXAMPLE] = ids[0] if ids else ""
            chosen.example = chosen.dataset.examples[0] if ids else None
    return chosen


def show(messages: list[tuple[str, str]]) -> None:
    """Messages in the page's words (the library's advice names CLI flags; the page's names fields),
    shown literally: they quote user input (captions, phrases, paths, link values)."""
    for kind, text in messages:
        getattr(st, kind)(literal(in_app_words(text)))


def picker_section(chosen: Pick) -> None:
    s = st.session_state
    with st.expander("Pick an example: gallery, random scene, your own image", expanded=not s[Key.EXAMPLE]):
        gallery, own = st.tabs(["Examples", "Your own image"])
        with gallery:
            if chosen.ids:
                gallery_row(chosen.dataset)
            left, right = st.columns([3, 1])
            with left:
                if chosen.ids:
                    example_list(chosen)
            with right:
                st.write("")
                st.button("New random scene", icon=":material/casino:", on_click=session.new_random_scene,
                          width="stretch",
                          help="A fresh scene of the built-in world (caption, gold boxes, detector regions).")
        with own:
            upload_panel()
    show(chosen.messages)


def distinct_scenes(dataset: ExampleSet, count: int = GALLERY_SIZE) -> list[Example]:
    """The first example of each of the first ``count`` images (a set has several captions per image)."""
    seen: dict[str, Example] = {}
    for example in dataset.examples:
        scene = str(example.image_id or example.image_path or example.example_id)
        seen.setdefault(scene, example)
        if len(seen) == count:
            break
    return list(seen.values())


def gallery_row(dataset: ExampleSet) -> None:
    shown = distinct_scenes(dataset)
    source = session.dataset_source()
    for column, example in zip(st.columns(len(shown)), shown, strict=True):
        with column:
            st.image(session.get_thumbnail(source, example.example_id), width="stretch")
            st.button(example_label("", example.caption, 34).removeprefix(": "),
                      key=Key.open_button(example.example_id),
                      on_click=session.open_example, args=(example.example_id,),
                      help=literal(f"{example.example_id}: {example.caption}"),
                      type="primary" if example.example_id == st.session_state[Key.EXAMPLE] else "secondary",
                      width="stretch")


def example_list(chosen: Pick) -> None:
    ids, current = chosen.ids, st.session_state[Key.EXAMPLE]
    labels = {e.example_id: example_label(e.example_id, e.caption) for e in chosen.dataset.examples}
    st.selectbox(f"All {len(ids)} examples", ids, index=ids.index(current) if current in ids else None,
                 format_func=labels.get, key=Key.EXAMPLE_PICKER,
                 on_change=lambda: session.open_example(st.session_state[Key.EXAMPLE_PICKER] or ids[0]))


def upload_panel() -> None:
    s = st.session_state
    model = None
    with contextlib.suppress(ValueError):
        model = session.get_model(session.model_source())
    region_model = model is not None and model.input_kind == "regions"
    builtin = s[Key.MODEL] in sources.BUILTIN_MODELS
    detector_folder = s.get(Key.DETECTOR, "").strip()
    needs_detector = region_model and not builtin
    can_upload = not needs_detector or bool(detector_folder)
    if not can_upload:
        st.info(f"{literal(s[Key.MODEL])} reads regions of the bottom-up-attention Faster R-CNN. To use your own image, "
                "set the detector's folder (config.yaml + pytorch_model.bin of unc-nlp/frcnn-vg-finetuned) "
                "under *Detector folder* in the sidebar (shown for volta: and hf: models), or pick a model "
                "that takes raw images (hf: ViLT) or a built-in model.")
    elif region_model and builtin:
        st.caption(UPLOAD_DETECTOR_NOTE)
    upload = st.file_uploader("Image", key=Key.UPLOAD_FILE, help="JPEG, PNG, WebP … up to 40 megapixels",
                              disabled=not can_upload)
    image = detected = None
    if upload is not None and needs_detector and detector_folder:
        image, detected = detect_upload(upload.getvalue(), upload.name, detector_folder, s.get(Key.DETECTOR_MODE) or "caffe")
    caption = st.text_input("Caption", key=Key.UPLOAD_CAPTION, placeholder="A man walks a dog in the park .")
    c1, c2 = st.columns(2)
    phrase = c1.text_input("Phrase (words of the caption)", key=Key.UPLOAD_PHRASE, placeholder="a dog")
    box = c2.text_input("Its box x1,y1,x2,y2 (pixels)", key=Key.UPLOAD_BOX, placeholder="10,20,200,180")
    if detected is not None:
        detected_regions_picker(image, detected)
    if st.button("Use this image", disabled=upload is None or (needs_detector and detected is None)):
        try:
            if not box.strip():
                raise ValueError("box is empty; type x1,y1,x2,y2 of what the phrase refers to")
            if detected is not None:
                regions = sources.detected_regions(detected)
                detector = lambda image: regions  # noqa: E731 (already detected, cached)
            else:
                detector = lambda image: sources.upload_detector()(image)  # noqa: E731 (looked up once the image is valid)
            example = ex.example_from_upload(
                io.BytesIO(upload.getvalue()), caption, [(phrase, parse_box(box))],
                input_kind=model.input_kind if model is not None else "regions",
                detector=detector, name=f"upload {upload.name!r}")
        except ValueError as error:
            st.error(literal(in_app_words(str(error))))
        else:
            s[Key.UPLOAD_EXAMPLE] = example
            s[Key.UPLOAD_REGIONS_FROM] = None if detected is None else regions_from(detected)
            session.open_example(session.UPLOAD_ID)
            st.rerun()


def regions_from(detected) -> str:
    return f"{detected.num_boxes} regions by the detector {detected.detector} ({detected.mode} mode)"


def detect_upload(data: bytes, name: str, folder: str, mode: str):
    """The upload's pixels and detector regions (cached by content hash), or Nones after showing why not."""
    from ...images import load_image

    try:
        image = load_image(io.BytesIO(data), name=f"upload {name!r}")
        sources.readable_path(folder, "detector folder")  # every run, not only the first (cached) load
        session.get_detector(folder, mode)  # a loading problem shows before the status box
    except ValueError as error:
        st.error(literal(str(error)))
        return None, None
    digest = hashlib.sha256(data).hexdigest()
    with st.status(f"Detecting regions with {folder} ({mode} mode) …") as status:
        try:
            detected = session.get_detections(folder, mode, digest, image)
        except ValueError as error:
            status.update(label="No regions for this image", state="error")
            st.error(literal(str(error)))
            return None, None
        seconds = sum(detected.seconds.values())
        status.update(label=f"{regions_from(detected)}, in {seconds:.1f} s", state="complete", expanded=False)
    return image, detected


def detected_regions_picker(image, detected) -> None:
    """The detected boxes drawn and numbered; clicking or choosing one makes it the phrase's box."""
    s = st.session_state
    labels = sources.region_labels(detected)
    boxes = sources.detected_regions(detected).boxes  # clipped into the image's pixels, as the model gets them

    def use_region(index: int | None) -> None:
        if index is not None and 0 <= index < len(boxes):
            x1, y1, x2, y2 = (float(v) for v in boxes[index])
            s[Key.UPLOAD_BOX] = f"{x1:.0f},{y1:.0f},{x2:.0f},{y2:.0f}"
            s[Key.UPLOAD_REGION] = index

    def clicked() -> None:
        points = (s.get(Key.UPLOAD_REGIONS_CHART) or {}).get("selection", {}).get("points", [])
        if points:
            use_region(int(points[0].get("customdata", points[0].get("point_index", -1))))

    st.caption("Click a region's number (or choose it below) to make it the phrase's box.")
    figure = overlay.detections_figure(image, boxes, labels, s.get(Key.UPLOAD_REGION))
    st.plotly_chart(figure, key=Key.UPLOAD_REGIONS_CHART, on_select=clicked, selection_mode=("points",),
                    config={"displayModeBar": False})
    st.selectbox("Or choose a detected region as the phrase's box", range(detected.num_boxes), index=None,
                 format_func=labels.__getitem__, key=Key.UPLOAD_REGION,
                 on_change=lambda: use_region(s.get(Key.UPLOAD_REGION)))

