"""What the generative-VLM backends share: prompt, image cache, ablation and causal readout.

One forward of the engine's batch (the three vision-for-language conditions of one or more
phrases) runs like this:

1. every distinct picture is processed and encoded once (vision tower + projector) and
   cached by its content, together with its ``ImageLayout`` (the cell of every image token);
2. per row, the image tokens the engine marked are replaced in that *projected* sequence
   (the image's mean token vector, the set's mean token vector, zero, or, in pixel space, the
   features of the picture whose ablated cells are painted in their mean colour);
3. the single image placeholder of each row's prompt is expanded into the image's tokens,
   and only the language model runs, once, on all rows;
4. the logits at position p - 1 are returned as the prediction of the token at p.

A family (``idefics3.py``, ``llava.py``, ``qwen2_vl.py``) says how its processor lays the
picture out (``layout``), how to call its vision tower (``vision_kwargs``) and what extra
inputs its language model takes (``language_kwargs``).
"""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from ...protocol import (
    DATASET_TOKEN_MEAN,
    IMAGE_TOKEN_MEAN,
    MEAN_COLOUR,
    ZERO_TOKEN,
    AblationSettings,
    Baseline,
    dataset_token_mean,
)
from ...records import Phrase
from ...text import EncodedCaption
from ..base import ModelLoadError, PixelInput, VLBatch, VLModel, VLOutput
from ..common import from_local_dir
from .geometry import ImageLayout, tokens_under_boxes
from .prompt import PROMPT, READOUT_NOTE, encode_prompt

__all__ = ["ImageEncoding", "VLMBackend", "ABLATION_SPACES"]

#: where an ablation happens: on the projected image tokens, or on the picture's pixels
ABLATION_SPACES: tuple[str, ...] = ("tokens", "pixels")
#: the replacement each recorded baseline source stands for
REPLACEMENTS = {
    IMAGE_TOKEN_MEAN.source: "mean", ZERO_TOKEN.source: "zero", MEAN_COLOUR.source: "pixels",
    DATASET_TOKEN_MEAN: "dataset",
}
#: how many sets' mean image tokens the backend keeps
SET_MEAN_CACHE_SIZE = 4
#: how many encoded pictures the backend keeps (a dataset run visits an image once per phrase)
IMAGE_CACHE_SIZE = 16
#: how many language-model rows (hidden states of one prompt + ablation) the backend keeps
ROW_CACHE_SIZE = 64


@dataclass
class ImageEncoding:
    """One picture, processed and encoded once, reused by every condition and phrase."""

    key: tuple  # the picture's content key (shape and hash)
    expansion: tuple[int, ...]  # the token ids the single image placeholder expands into
    features: torch.Tensor  # (P, hidden) projected image tokens, in placeholder order
    layout: ImageLayout  # the cell of each of the P tokens
    extras: dict  # per-image inputs of the language model (Qwen's image_grid_thw)


def image_key(image: np.ndarray) -> tuple:
    array = np.ascontiguousarray(image)
    return array.shape, hashlib.blake2b(array.tobytes(), digest_size=16).hexdigest()


def check_image(image, name: str) -> np.ndarray:
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[2] != 3 or array.dtype != np.uint8:
        raise ValueError(
            f"{name} takes RGB uint8 images of shape (H, W, 3); got {array.dtype} {array.shape} "
            "(vlexplore.images.load_image converts files to that)"
        )
    return array


def paint_cells(image: np.ndarray, layout: ImageLayout, ablate: np.ndarray) -> np.ndarray:
    """``image`` with the pixels of the ablated cells set to their mean colour."""
    height, width = image.shape[:2]
    region = np.zeros((height, width), dtype=bool)
    for x1, y1, x2, y2 in layout.cells[ablate & layout.visible]:
        region[int(y1) : min(int(np.ceil(y2)) + 1, height), int(x1) : min(int(np.ceil(x2)) + 1, width)] = True
    painted = image.copy()
    if region.any():
        painted[region] = np.round(image[region].reshape(-1, 3).mean(axis=0)).astype(np.uint8)
    return painted


class VLMBackend(VLModel):
    """A generative VLM behind the model protocol, read out causally (see ``prompt.py``)."""

    input_kind = "pixels"
    readout = "causal"
    region_class_names = None
    #: display name of the family, e.g. "Idefics3 / SmolVLM"
    family: str = "VLM"
    readout_note: str = READOUT_NOTE

    def __init__(
        self,
        model: torch.nn.Module,
        processor,
        name: str,
        device: torch.device,
        ablation_space: Literal["tokens", "pixels"] = "tokens",
        max_caption_tokens: int = 96,
        prompt: str = PROMPT,
    ) -> None:
        super().__init__()
        if ablation_space not in ABLATION_SPACES:
            raise ValueError(f"ablation_space must be one of {', '.join(ABLATION_SPACES)}; got {ablation_space!r}")
        self.model = model.to(device).eval()
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.name = name
        self.device = device
        self.ablation_space = ablation_space
        self.max_text_length = int(max_caption_tokens)
        self.prompt = prompt
        self.image_token_id = int(self.config_image_token_id())
        self.placeholder = self.tokenizer.convert_ids_to_tokens(self.image_token_id)
        self._images: OrderedDict[tuple, ImageEncoding] = OrderedDict()
        self._layouts: dict[tuple[int, int], ImageLayout] = {}
        self._rows: OrderedDict[tuple, torch.Tensor] = OrderedDict()
        self._set_means: OrderedDict[str, np.ndarray] = OrderedDict()
        config = model.config
        text = config.get_text_config()
        self.description = (
            f"{self.family} ({type(model).__name__}, language model {text.num_hidden_layers} layers, "
            f"hidden {text.hidden_size}) from {name[3:] if name.startswith('hf:') else name}; "
            f"prompt '{prompt}', caption = the answer, causal readout (left context only); "
            f"ablated image tokens become {self.replacement_text()}. No region head: "
            "Language-for-Vision (MRC-KL) is not available."
        )

    # Family hooks --------------------------------------------------------------------------
    @classmethod
    def load_processor(cls, directory: Path, model_type: str):
        """The processor saved beside the weights."""
        return processor_of(directory, model_type)

    def config_image_token_id(self) -> int:
        config = self.model.config
        for key in ("image_token_id", "image_token_index"):
            value = getattr(config, key, None)
            if value is not None:
                return value
        raise ModelLoadError(f"{type(self.model).__name__}'s config names no image token id")

    def layout(self, image_size: tuple[int, int], processed) -> ImageLayout:
        """The cell of every image token for a picture of ``image_size`` (width, height)."""
        raise NotImplementedError

    def vision_kwargs(self, processed) -> dict:
        """Arguments of ``get_image_features`` from the processor's output."""
        return {"pixel_values": processed["pixel_values"].to(self.device, dtype=self.model.dtype)}

    def language_kwargs(self, input_ids: torch.Tensor, encodings: list[ImageEncoding]) -> dict:
        """Extra inputs of the multimodal model's forward (Qwen: grid sizes and token types)."""
        return {}

    def replacement_text(self) -> str:
        if self.ablation_space == "pixels":
            return "the tokens of the picture with the ablated cells painted in their mean colour"
        return (
            "the picture's mean image-token vector (zeros with baseline 'zero', the set's mean "
            "image token with baseline 'dataset-mean')"
        )

    def patch_baseline(self, settings: AblationSettings, average_feature: np.ndarray | None = None) -> Baseline:
        """Image-token mean (the default), zero, the set's mean image token (baseline
        "dataset-mean" with ``average_feature`` from ``dataset_token_mean``; without it the
        picture's own mean stands in and is recorded), or the pixel-space mean colour."""
        if self.ablation_space == "pixels":
            return MEAN_COLOUR
        if settings.baseline == "zero":
            return ZERO_TOKEN
        if settings.baseline == "dataset-mean" and average_feature is not None:
            baseline = dataset_token_mean(average_feature)
            hidden = self.model.config.get_text_config().hidden_size
            if baseline.vector.shape != (hidden,):
                raise ValueError(
                    f"the dataset image-token mean has shape {baseline.vector.shape}; {self.name}'s image "
                    f"tokens have {hidden} values (compute it with this model's dataset_token_mean)"
                )
            return baseline
        return IMAGE_TOKEN_MEAN

    @torch.no_grad()
    def dataset_token_mean(self, examples, progress: bool = False) -> np.ndarray | None:
        """(hidden,) the mean projected image token over ``examples``' pictures, each picture
        weighted by its diagnosable phrases, as the paper weights its dataset-average region
        feature (every shown token of a picture counts once per phrase; CLS and row-end tokens
        are left out). Cached per set of pictures; ``progress`` shows a tqdm bar. None when
        no example has a picture to score, or in pixel space (which re-encodes painted pictures
        and replaces no token); a picture that cannot be read is left out."""
        from tqdm.auto import tqdm

        if self.ablation_space == "pixels":
            return None

        from ...images import example_picture

        examples = list(examples)  # read twice

        def pictures():
            for example in examples:
                weight = len(example.diagnosable_phrases())
                try:
                    image = example_picture(example) if weight else None
                except ValueError:  # an unreadable file: its phrases are skipped, with the reason, too
                    continue
                if image is not None:
                    yield check_image(image, self.name), weight

        # the set is named by its pictures' content and weights; a second pass encodes them
        # (pictures are read twice rather than all held in memory)
        digest, size = hashlib.blake2b(digest_size=16), 0
        for image, weight in pictures():
            digest.update(repr((image_key(image), weight)).encode())
            size += 1
        key = digest.hexdigest()
        if size == 0:
            return None
        if key in self._set_means:
            self._set_means.move_to_end(key)
            return self._set_means[key]
        total, count = None, 0
        for image, weight in tqdm(
            pictures(), total=size, desc=f"mean image token of the set ({self.name})", unit="picture",
            disable=not progress,
        ):
            encoding = self.encode_image(image)
            shown = encoding.features[torch.as_tensor(encoding.layout.visible, device=encoding.features.device)]
            summed = shown.double().sum(dim=0) * weight
            total = summed if total is None else total + summed
            count += weight * len(shown)
        mean = (total / count).float().cpu().numpy()
        self._set_means[key] = mean
        while len(self._set_means) > SET_MEAN_CACHE_SIZE:
            self._set_means.popitem(last=False)
        return mean

    # The protocol ---------------------------------------------------------------------------
    def encode_caption(self, caption: str, phrase: Phrase) -> EncodedCaption:
        return encode_prompt(
            self.processor, self.image_token_id, caption, phrase, self.max_text_length, self.prompt
        )

    def image_layout(self, image_size: tuple[int, int]) -> ImageLayout:
        """The layout for a picture of ``image_size`` (width, height), without encoding it."""
        width, height = (int(v) for v in image_size)
        if width < 1 or height < 1:
            raise ValueError(f"image_size must be positive (width, height); got {image_size}")
        if (width, height) not in self._layouts:
            # the processor's own output sizes decide the layout, so run it on a blank picture
            blank = np.zeros((height, width, 3), dtype=np.uint8)
            self._layouts[width, height] = self.layout((width, height), self.process(blank))
        return self._layouts[width, height]

    def patch_boxes(self, image_size: tuple[int, int]) -> np.ndarray:
        """(P, 4) each image token's cell in original pixels (tiles and global view alike)."""
        return self.image_layout(image_size).cells

    def patch_views(self, image_size: tuple[int, int]) -> list[str]:
        return self.image_layout(image_size).view_names()

    def patches_under_boxes(
        self, image_size: tuple[int, int], boxes, min_coverage: float = 0.5, border: int = 0
    ) -> np.ndarray:
        """(P,) bool, the image tokens ``boxes`` covers, view by view (see ``geometry.py``)."""
        return tokens_under_boxes(self.image_layout(image_size), boxes, min_coverage, border)

    # Images ----------------------------------------------------------------------------------
    def process(self, image: np.ndarray):
        """The processor's output for one picture, with the placeholder expanded."""
        try:
            return self.processor(
                text=[self.placeholder], images=[image], add_special_tokens=False, return_tensors="pt"
            )
        except Exception as error:
            raise ValueError(
                f"{self.name}'s processor failed on an image of shape {image.shape} "
                f"({type(error).__name__}: {error})"
            ) from error

    @torch.no_grad()
    def encode_image(self, image: np.ndarray) -> ImageEncoding:
        """Process, encode and project one picture (cached by its pixels)."""
        image = check_image(image, self.name)
        key = image_key(image)
        if key in self._images:
            self._images.move_to_end(key)
            return self._images[key]
        processed = self.process(image)
        output = self.model.get_image_features(**self.vision_kwargs(processed), return_dict=True)
        pooled = output.pooler_output
        features = torch.cat(list(pooled), dim=0) if isinstance(pooled, (list, tuple)) else pooled
        features = features.reshape(-1, features.shape[-1])
        expansion = tuple(int(i) for i in processed["input_ids"][0].tolist())
        layout = self.layout((image.shape[1], image.shape[0]), processed)
        self._layouts.setdefault(layout.image_size, layout)
        count = expansion.count(self.image_token_id)
        if not count == len(features) == len(layout):
            raise RuntimeError(
                f"{self.name}: the processor made {count} image tokens, the model {len(features)} "
                f"image features and the geometry {len(layout)} cells; the processor beside the "
                "weights does not belong to this model"
            )
        encoding = ImageEncoding(key, expansion, features, layout, self.image_extras(processed))
        self._images[key] = encoding
        while len(self._images) > IMAGE_CACHE_SIZE:
            self._images.popitem(last=False)
        return encoding

    def image_extras(self, processed) -> dict:
        return {}

    def ablated_features(
        self,
        image: np.ndarray,
        encoding: ImageEncoding,
        ablate: torch.Tensor,
        replacement: str = "mean",
        vector: np.ndarray | None = None,
    ) -> torch.Tensor:
        """(P, hidden) the picture's tokens with the ``ablate`` ones replaced.

        ``replacement``: "mean" (the picture's mean image token), "zero", "dataset" (``vector``,
        the set's mean image token), or "pixels" (the tokens of the picture whose ablated cells
        are painted in their mean colour).
        """
        features = encoding.features
        ablate = ablate.to(features.device, dtype=torch.bool)
        if ablate.shape[0] < len(features) or bool(ablate[len(features) :].any()):
            raise ValueError(
                f"patch_ablation has {ablate.shape[0]} entries for a picture of {len(features)} image "
                "tokens; build it from this model's patch_boxes(image_size)"
            )
        ablate = ablate[: len(features)] & torch.as_tensor(encoding.layout.visible, device=features.device)
        if not bool(ablate.any()):
            return features
        if replacement == "pixels":
            painted = paint_cells(image, encoding.layout, ablate.cpu().numpy())
            return self.encode_image(painted).features
        if replacement == "dataset":
            if vector is None:
                raise ValueError(f"{self.name}: the dataset image-token mean was not given (PixelInput.replacement)")
            token = torch.as_tensor(vector, dtype=features.dtype, device=features.device)
        elif replacement == "zero":
            token = torch.zeros_like(features[0])
        else:
            visible = torch.as_tensor(encoding.layout.visible, device=features.device)
            token = features[visible].mean(dim=0)
        return torch.where(ablate[:, None], token[None, :], features)

    # Forward ---------------------------------------------------------------------------------
    def expand_rows(self, batch: VLBatch, encodings: list[ImageEncoding]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Input ids with each row's placeholder expanded, their mask, and the shifted positions."""
        rows, shifts = [], []
        for ids, mask, encoding in zip(batch.input_ids.tolist(), batch.attention_mask.tolist(), encodings, strict=True):
            ids = ids[: int(sum(mask))]
            if ids.count(self.image_token_id) != 1:
                raise ValueError(
                    f"each row must hold exactly one image placeholder token; encode captions with "
                    f"{self.name}.encode_caption"
                )
            at = ids.index(self.image_token_id)
            rows.append(ids[:at] + list(encoding.expansion) + ids[at + 1 :])
            shifts.append((at, len(encoding.expansion) - 1))
        length = max(len(r) for r in rows)
        pad = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else 0
        input_ids = torch.full((len(rows), length), pad, dtype=torch.long)
        attention = torch.zeros((len(rows), length), dtype=torch.long)
        for i, row in enumerate(rows):
            input_ids[i, : len(row)] = torch.tensor(row)
            attention[i, : len(row)] = 1
        positions = batch.text_positions.clone().long()
        for i, (at, shift) in enumerate(shifts):
            positions[i] = torch.where(positions[i] > at, positions[i] + shift, positions[i])
        return input_ids, attention, positions

    @torch.no_grad()
    def forward(self, batch: VLBatch) -> VLOutput:
        """Logits predicting the tokens at ``text_positions`` (from position p - 1), every row."""
        if not isinstance(batch.visual, PixelInput):
            raise ValueError(f"{self.name} takes images (PixelInput), not detector regions")
        visual = batch.visual
        if len(visual.images) != batch.size or visual.patch_ablation.shape[0] != batch.size:
            raise ValueError(
                f"PixelInput has {len(visual.images)} images and {visual.patch_ablation.shape[0]} "
                f"ablation rows for a batch of {batch.size}"
            )
        by_id: dict[int, ImageEncoding] = {}
        for image in visual.images:
            if id(image) not in by_id:
                by_id[id(image)] = self.encode_image(image)
        encodings = [by_id[id(image)] for image in visual.images]
        if visual.baseline not in REPLACEMENTS:
            raise ValueError(
                f"{self.name} replaces image tokens by {', '.join(REPLACEMENTS)}; got baseline {visual.baseline!r} "
                "(build batches with the engine, which asks model.patch_baseline)"
            )
        replacement = REPLACEMENTS[visual.baseline]
        vector = None if visual.replacement is None else np.asarray(visual.replacement, dtype=np.float32)
        # the replacement vector is part of a row's identity (two sets have two means)
        replaced_by = replacement if vector is None else (replacement, hashlib.blake2b(vector.tobytes()).hexdigest())
        input_ids, attention, positions = self.expand_rows(batch, encodings)
        # A row is (picture, ablated tokens, prompt); None and All rows repeat for every phrase
        # of a caption, so each distinct row runs once and its hidden states are kept.
        keys = []
        for encoding, ablate, ids, mask in zip(encodings, visual.patch_ablation, input_ids, attention, strict=True):
            tokens = ablate[: len(encoding.features)].numpy() & encoding.layout.visible
            keys.append((encoding.key, replaced_by, np.packbits(tokens).tobytes(), tuple(ids[mask > 0].tolist())))
        found = {key: self._rows[key] for key in keys if key in self._rows}  # this call's rows
        todo = [i for i, key in enumerate(keys) if key not in found and key not in keys[:i]]
        if todo:
            features = [
                self.ablated_features(
                    np.asarray(visual.images[i]), encodings[i], visual.patch_ablation[i], replacement, vector
                )
                for i in todo
            ]
            length = int(attention[todo].sum(dim=1).max())
            hidden = self.language_hidden(
                input_ids[todo, :length], attention[todo, :length], features, [encodings[i] for i in todo]
            )
            for row, i in enumerate(todo):
                found[keys[i]] = hidden[row, : int(attention[i].sum())].clone()
        for key in found:  # most recently used last; the oldest rows are forgotten
            self._rows[key] = found[key]
            self._rows.move_to_end(key)
        while len(self._rows) > ROW_CACHE_SIZE:
            self._rows.popitem(last=False)
        # the state at p - 1 predicts the token at p (position 0, the engine's padding, is never read)
        gathered = torch.stack(
            [
                found[key][(row - 1).clamp(min=0, max=len(found[key]) - 1)]
                for key, row in zip(keys, positions, strict=True)
            ]
        )
        logits = self.model.get_output_embeddings()(gathered)
        return VLOutput(text_logits=logits.float().cpu())

    def clear_cache(self) -> None:
        """Forget encoded pictures and computed rows (after changing the weights, say)."""
        self._images.clear()
        self._rows.clear()
        self._layouts.clear()
        self._set_means.clear()

    def language_hidden(
        self,
        input_ids: torch.Tensor,
        attention: torch.Tensor,
        features: list[torch.Tensor],
        encodings: list[ImageEncoding],
    ) -> torch.Tensor:
        """(B, T, hidden) last hidden states of the language model, image tokens given."""
        from transformers.modeling_outputs import BaseModelOutputWithPooling

        input_ids = input_ids.to(self.device)
        attention = attention.to(self.device)
        output = self.model.model(
            input_ids=input_ids,
            attention_mask=attention,
            mm_encoder_outputs={"image": BaseModelOutputWithPooling(pooler_output=list(features))},
            use_cache=False,
            **self.language_kwargs(input_ids, encodings),
        )
        return output.last_hidden_state


class ImageOnlyProcessor:
    """The image half of a processor whose video half needs torchvision (Qwen2-VL, OneVision, SmolVLM2).

    transformers builds those processors with a video processor that imports torchvision; the
    diagnostic uses still pictures only, so this loads the saved tokenizer, image processor and
    chat template, and replaces each image placeholder with ``expand(image_processor,
    image_inputs, i)``, the text the full processor would put there (by default ``count(...)``
    copies of the placeholder).
    """

    def __init__(
        self,
        tokenizer,
        image_processor,
        chat_template: str | None,
        image_token: str,
        count=None,
        token_types: bool = True,
        expand=None,
        image_kwargs: dict | None = None,
    ) -> None:
        if (count is None) == (expand is None):
            raise ValueError("ImageOnlyProcessor takes either count or expand")
        self.tokenizer = tokenizer
        self.image_processor = image_processor
        self.chat_template = chat_template
        self.image_token = image_token
        # (image_processor, image_inputs, index) -> the text that replaces the placeholder
        self.expand = expand or (lambda processor, inputs, index: image_token * count(processor, inputs, index))
        self.token_types = token_types  # return mm_token_type_ids (Qwen's M-RoPE needs them)
        self.image_kwargs = image_kwargs or {}  # extra image-processor arguments (SmolVLM: row/column counts)

    @classmethod
    def from_directory(
        cls, directory: Path, image_processor_class, image_token: str, count=None, token_types: bool = True, **options
    ) -> ImageOnlyProcessor:
        import json

        from transformers import AutoTokenizer

        tokenizer = AutoTokenizer.from_pretrained(str(directory), local_files_only=True)
        image_processor = image_processor_class.from_pretrained(str(directory), local_files_only=True)
        template = getattr(tokenizer, "chat_template", None)
        if (directory / "chat_template.jinja").is_file():
            template = (directory / "chat_template.jinja").read_text(encoding="utf-8")
        elif (directory / "chat_template.json").is_file():
            template = json.loads((directory / "chat_template.json").read_text(encoding="utf-8"))["chat_template"]
        return cls(tokenizer, image_processor, template, image_token, count, token_types, **options)

    def apply_chat_template(self, messages, tokenize: bool = False, add_generation_prompt: bool = False) -> str:
        return self.tokenizer.apply_chat_template(
            messages, chat_template=self.chat_template, tokenize=tokenize, add_generation_prompt=add_generation_prompt
        )

    def __call__(self, text: list[str], images, add_special_tokens: bool = False, return_tensors: str = "pt"):
        from transformers import BatchFeature

        image_inputs = self.image_processor(images=images, return_tensors="pt", **self.image_kwargs)
        replacements = iter(self.expand(self.image_processor, image_inputs, i) for i in range(len(images)))
        expanded = []
        for line in text:
            first, *rest = line.split(self.image_token)
            expanded.append(first + "".join(next(replacements) + part for part in rest))
        text_inputs = self.tokenizer(expanded, add_special_tokens=add_special_tokens, return_tensors="pt")
        if self.token_types:
            image_token_id = self.tokenizer.convert_tokens_to_ids(self.image_token)
            text_inputs["mm_token_type_ids"] = (text_inputs["input_ids"] == image_token_id).int()  # 1 = image
        image_inputs = {key: value for key, value in image_inputs.items() if key not in ("rows", "cols")}
        return BatchFeature({**text_inputs, **image_inputs}, tensor_type=return_tensors)


def processor_of(directory: Path, model_type: str):
    """The processor saved beside the weights (tokenizer, image processor, chat template)."""
    from transformers import AutoProcessor

    if not (directory / "processor_config.json").is_file() and not (
        directory / "preprocessor_config.json"
    ).is_file():
        raise ModelLoadError(
            f"{directory} has {model_type} weights but no processor beside them (processor_config.json "
            "or preprocessor_config.json, with tokenizer files); save it with "
            "processor.save_pretrained(DIR) or download the full repository with "
            "`hf download NAME --local-dir DIR`"
        )
    processor = from_local_dir(
        AutoProcessor, directory, "processor", "it must be the processor saved with these weights"
    )
    if getattr(processor, "tokenizer", None) is None or getattr(processor, "image_processor", None) is None:
        raise ModelLoadError(
            f"{directory}: the saved processor lacks a tokenizer or an image processor; save the full "
            "processor (processor.save_pretrained(DIR))"
        )
    return processor


def processor_or_image_half(directory: Path, model_type: str, image_half) -> object:
    """transformers' processor where it loads, else ``image_half()`` (an ``ImageOnlyProcessor``):
    the Qwen2-VL, LLaVA-OneVision and SmolVLM2 processors need torchvision for their video half."""
    try:
        return processor_of(directory, model_type)
    except ModelLoadError as error:
        if not (directory / "preprocessor_config.json").is_file():
            raise
        try:
            return image_half()
        except Exception as fallback_error:
            raise ModelLoadError(
                f"{error}; loading its tokenizer and image processor alone failed too "
                f"({type(fallback_error).__name__}: {fallback_error})"
            ) from fallback_error
