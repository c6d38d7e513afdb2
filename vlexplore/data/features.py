"""Detector region features in the three formats the paper's data comes in.

1. The bottom-up-attention TSV (one image per line, arrays base64-encoded float32):
   - the classic 6 fields ``image_id, image_w, image_h, num_boxes, boxes, features``
     (Anderson et al.'s ``generate_tsv.py``), without class distributions;
   - the 13 fields of ``airsplay/bottom-up-attention`` that VOLTA uses for Flickr30k
     ``img_id, img_h, img_w, objects_id, objects_conf, attrs_id, attrs_conf, num_boxes,
     boxes, features, cls_prob, attrs, classes`` (note: height before width).
2. VOLTA's LMDB (``flickr30k_feat.lmdb``): each image id maps to a pickled row of the
   13-field TSV, plus a ``keys`` entry. Rows are read with a restricted unpickler that
   rebuilds only plain containers, strings, numbers and numpy arrays.
3. A folder of ``IMAGE_ID.npz`` files with ``boxes`` (N, 4), ``features`` (N, D) and
   optionally ``cls_prob`` (N, 1601), ``image_w``, ``image_h``.

Every format yields ``ImageFeatures`` per image; errors name the file and the image.
May import: assets, records.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import pickle
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..assets import vg_classes
from ..records import Regions

__all__ = [
    "ImageFeatures",
    "read_features",
    "iter_tsv",
    "read_lmdb",
    "read_npz_dir",
    "detect_format",
    "restricted_loads",
]

TSV_FIELDS_6 = ("image_id", "image_w", "image_h", "num_boxes", "boxes", "features")
TSV_FIELDS_13 = (
    "img_id", "img_h", "img_w", "objects_id", "objects_conf", "attrs_id", "attrs_conf",
    "num_boxes", "boxes", "features", "cls_prob", "attrs", "classes",
)  # fmt: skip
NUM_CLASSES = 1601
#: how far (pixels) a detector box may poke out of the image before we call it an error;
#: boxes rescaled from the detector's input size land a fraction of a pixel outside
BOX_SLACK = 2.0


@dataclass
class ImageFeatures:
    """One image's detector output as read from a file (not yet validated as ``Regions``)."""

    image_id: str
    image_size: tuple[int, int]  # width, height
    boxes: np.ndarray  # (N, 4) pixel x1, y1, x2, y2
    features: np.ndarray  # (N, D) float32
    cls_prob: np.ndarray | None  # (N, 1601) or None
    source: str  # file it came from, for messages

    def to_regions(self) -> Regions:
        """Validated ``Regions`` (boxes clipped into the image when within ``BOX_SLACK``)."""
        where = f"{self.source}, image {self.image_id}"
        width, height = self.image_size
        boxes = np.asarray(self.boxes, dtype=np.float64)
        limits = np.array([width - 1, height - 1, width - 1, height - 1], dtype=np.float64)
        outside = (boxes < -BOX_SLACK) | (boxes > limits + BOX_SLACK)
        if outside.any():
            row = int(np.flatnonzero(outside.any(axis=1))[0])
            raise ValueError(
                f"{where}: box {row} {boxes[row].tolist()} lies outside the {width}x{height} image; "
                "the features do not belong to this image (or its size is wrong)"
            )
        boxes = np.clip(boxes, 0, limits)
        try:
            return Regions(
                boxes=boxes,
                features=self.features,
                image_size=self.image_size,
                cls_prob=self.cls_prob,
                class_names=vg_classes() if self.cls_prob is not None else None,
            )
        except ValueError as error:
            raise ValueError(f"{where}: {error}") from error


def _decode(value, dtype, where: str, field: str) -> np.ndarray:
    """A base64 (str or bytes) or already-decoded array field as a flat numpy array."""
    if isinstance(value, np.ndarray):
        return value.astype(dtype, copy=False).reshape(-1)
    if isinstance(value, str):
        value = value.encode("ascii", errors="strict")
    if not isinstance(value, (bytes, bytearray)):
        raise ValueError(
            f"{where}: field {field} is a {type(value).__name__}, expected base64 text or an array"
        )
    try:
        raw = base64.b64decode(value, validate=False)
    except (binascii.Error, ValueError) as error:
        raise ValueError(f"{where}: field {field} is not valid base64 ({error})") from error
    itemsize = np.dtype(dtype).itemsize
    if len(raw) % itemsize:
        raise ValueError(
            f"{where}: field {field} has {len(raw)} bytes, not a whole number of {np.dtype(dtype).name}"
        )
    return np.frombuffer(raw, dtype=dtype)


def _as_int(value, where: str, field: str) -> int:
    try:
        if isinstance(value, np.ndarray):
            value = value.item()
        if isinstance(value, bytes):
            value = value.decode()
        return int(float(value))
    except (TypeError, ValueError):
        raise ValueError(f"{where}: field {field} is {value!r}, not a number") from None


def _from_row(row: dict, where: str, feature_dim: int | None, source: str) -> ImageFeatures:
    """Decode one row (TSV or LMDB, 6- or 13-field names) and check its shapes."""
    image_id = row.get("img_id", row.get("image_id"))
    if isinstance(image_id, bytes):
        image_id = image_id.decode()
    image_id = str(image_id)
    where = f"{where}, image {image_id}"
    width = _as_int(row.get("img_w", row.get("image_w")), where, "image_w")
    height = _as_int(row.get("img_h", row.get("image_h")), where, "image_h")
    features = _decode(row["features"], np.float32, where, "features")
    boxes = _decode(row["boxes"], np.float32, where, "boxes")
    if len(boxes) % 4:
        raise ValueError(
            f"{where}: boxes hold {len(boxes)} numbers, not a multiple of 4 (x1, y1, x2, y2)"
        )
    num_boxes = len(boxes) // 4
    if "num_boxes" in row and row["num_boxes"] not in (None, ""):
        declared = _as_int(row["num_boxes"], where, "num_boxes")
        if declared != num_boxes:
            raise ValueError(f"{where}: num_boxes says {declared} but there are {num_boxes} boxes")
    if num_boxes == 0:
        raise ValueError(f"{where}: no detector regions")
    if len(features) % num_boxes:
        raise ValueError(
            f"{where}: {len(features)} feature values do not split into {num_boxes} regions"
        )
    dim = len(features) // num_boxes
    if feature_dim is not None and dim != feature_dim:
        raise ValueError(
            f"{where}: region features have {dim} columns, expected {feature_dim} "
            "(bottom-up-attention ResNet-101 features are 2048-d); use the features the model was trained with"
        )
    cls_prob = None
    if row.get("cls_prob") is not None and not (
        isinstance(row["cls_prob"], str) and not row["cls_prob"]
    ):
        prob = _decode(row["cls_prob"], np.float32, where, "cls_prob")
        if len(prob) != num_boxes * NUM_CLASSES:
            classes = len(prob) / num_boxes
            raise ValueError(
                f"{where}: cls_prob has {classes:g} classes per region, expected 1,601 Visual Genome classes "
                "(index 0 = background)"
            )
        cls_prob = prob.reshape(num_boxes, NUM_CLASSES)
    return ImageFeatures(
        image_id=image_id,
        image_size=(width, height),
        boxes=boxes.reshape(num_boxes, 4).astype(np.float64),
        features=features.reshape(num_boxes, dim),
        cls_prob=cls_prob,
        source=source,
    )


# ==================================================================================== #
#                                         TSV                                          #
# ==================================================================================== #
def iter_tsv(
    path: str | Path, image_ids: Iterable[str] | None = None, feature_dim: int | None = 2048
) -> Iterator[ImageFeatures]:
    """Images of a bottom-up-attention TSV (6 or 13 fields), only ``image_ids`` if given.

    Unwanted lines are skipped before any base64 is decoded, so reading 1,000 images out
    of the 31,783 of Flickr30k costs one pass over the file.
    """
    path = Path(path)
    wanted = None if image_ids is None else {str(i) for i in image_ids}
    csv.field_size_limit(sys.maxsize)
    with open(path, "rb") as handle:  # bytes: an unwanted line is never decoded
        for line_number, raw in enumerate(handle, start=1):
            if not raw.strip():
                continue
            first = raw.split(b"\t", 1)[0].decode("utf-8", errors="replace")
            if line_number == 1 and first in ("image_id", "img_id"):
                continue  # a header line
            if wanted is not None and first not in wanted:
                continue
            where = f"{path} line {line_number}"
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise ValueError(
                    f"{where}: not UTF-8 text ({error}); is this a features TSV?"
                ) from None
            fields = next(csv.reader(io.StringIO(line.rstrip("\r\n")), delimiter="\t"))
            if len(fields) == len(TSV_FIELDS_6):
                row = dict(zip(TSV_FIELDS_6, fields, strict=True))
            elif len(fields) == len(TSV_FIELDS_13):
                row = dict(zip(TSV_FIELDS_13, fields, strict=True))
            else:
                raise ValueError(
                    f"{where}: {len(fields)} tab-separated fields; a bottom-up-attention TSV has 6 "
                    f"({', '.join(TSV_FIELDS_6)}) or 13 ({', '.join(TSV_FIELDS_13)})"
                )
            yield _from_row(row, where, feature_dim, str(path))


# ==================================================================================== #
#                                         LMDB                                         #
# ==================================================================================== #
_SAFE_GLOBALS = {
    ("builtins", name)
    for name in (
        "dict",
        "list",
        "tuple",
        "set",
        "frozenset",
        "str",
        "bytes",
        "bytearray",
        "int",
        "float",
        "complex",
        "bool",
    )
} | {
    ("collections", "OrderedDict"),
    ("_codecs", "encode"),  # how protocol-2 pickles spell bytes
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) in _SAFE_GLOBALS:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(
            f"refusing to unpickle {module}.{name}: feature rows may hold only containers, strings, "
            "numbers and numpy arrays"
        )


def restricted_loads(data: bytes):
    """``pickle.loads`` that rebuilds only containers, strings, numbers and numpy arrays."""
    return _RestrictedUnpickler(io.BytesIO(data)).load()


def _open_lmdb(path: Path):
    try:
        import lmdb
    except ImportError:
        raise ImportError(
            f"{path} is an LMDB feature store and reading it needs the lmdb package: pip install lmdb "
            "(or convert the features to the TSV or .npz formats)"
        ) from None
    try:
        return lmdb.open(
            str(path),
            readonly=True,
            lock=False,
            readahead=False,
            meminit=False,
            subdir=path.is_dir(),
            max_readers=8,
        )
    except lmdb.Error as error:
        raise ValueError(f"{path}: not a readable LMDB database ({error})") from error


def read_lmdb(
    path: str | Path, image_ids: Iterable[str] | None = None, feature_dim: int | None = 2048
) -> Iterator[ImageFeatures]:
    """Images of VOLTA's LMDB; all of them (its ``keys`` entry) when ``image_ids`` is None."""
    path = Path(path)
    env = _open_lmdb(path)
    try:
        with env.begin(write=False) as txn:
            if image_ids is None:
                raw_keys = txn.get(b"keys")
                if raw_keys is None:
                    raise ValueError(
                        f"{path}: no 'keys' entry, so the image ids are unknown; pass the ids to read"
                    )
                image_ids = [
                    k.decode() if isinstance(k, bytes) else str(k)
                    for k in _unpickle(raw_keys, path, "keys")
                ]
            for image_id in image_ids:
                raw = txn.get(str(image_id).encode())
                if raw is None:
                    continue
                row = _unpickle(raw, path, image_id)
                if not isinstance(row, dict):
                    raise ValueError(
                        f"{path}, image {image_id}: the row is a {type(row).__name__}, expected a dict"
                    )
                row = {k.decode() if isinstance(k, bytes) else k: v for k, v in row.items()}
                row.setdefault("img_id", str(image_id))
                yield _from_row(row, str(path), feature_dim, str(path))
    finally:
        env.close()


def _unpickle(raw: bytes, path: Path, what) -> object:
    try:
        return restricted_loads(raw)
    except pickle.UnpicklingError as error:
        raise ValueError(f"{path}, entry {what}: {error}") from error
    except Exception as error:  # truncated or not a pickle
        raise ValueError(
            f"{path}, entry {what}: not a readable pickled row ({type(error).__name__}: {error})"
        ) from error


# ==================================================================================== #
#                                         NPZ                                          #
# ==================================================================================== #
def read_npz_dir(
    path: str | Path, image_ids: Iterable[str] | None = None, feature_dim: int | None = 2048
) -> Iterator[ImageFeatures]:
    """``IMAGE_ID.npz`` files of a folder (all of them when ``image_ids`` is None)."""
    path = Path(path)
    files = (
        sorted(path.glob("*.npz")) if image_ids is None else [path / f"{i}.npz" for i in image_ids]
    )
    for file in files:
        if not file.is_file():
            continue
        try:
            with np.load(file, allow_pickle=False) as data:
                arrays = {k: data[k] for k in data.files}
        except Exception as error:
            raise ValueError(
                f"{file}: not a readable .npz file ({type(error).__name__}: {error})"
            ) from error
        missing = [k for k in ("boxes", "features", "image_w", "image_h") if k not in arrays]
        if missing:
            raise ValueError(
                f"{file}: missing array(s) {', '.join(missing)}; an .npz needs boxes (N, 4), features (N, D), "
                "image_w, image_h and optionally cls_prob (N, 1601)"
            )
        features = np.asarray(arrays["features"])
        boxes = np.asarray(arrays["boxes"])
        if features.ndim != 2:
            raise ValueError(f"{file}: features have shape {features.shape}, expected (N, D)")
        if boxes.ndim != 2 or boxes.shape[1] != 4 or len(boxes) != len(features):
            raise ValueError(
                f"{file}: boxes have shape {boxes.shape}, expected ({len(features)}, 4)"
            )
        row = {
            "img_id": file.stem,
            "img_w": arrays["image_w"],
            "img_h": arrays["image_h"],
            "boxes": boxes,
            "features": features,
            "cls_prob": arrays.get("cls_prob"),
        }
        if row["cls_prob"] is not None and np.asarray(row["cls_prob"]).shape[-1] != NUM_CLASSES:
            raise ValueError(
                f"{file}: cls_prob has {np.asarray(row['cls_prob']).shape[-1]} classes per region, expected 1,601"
            )
        if features.shape[1] != (feature_dim or features.shape[1]):
            raise ValueError(
                f"{file}: region features have {features.shape[1]} columns, expected {feature_dim}; use the "
                "features the model was trained with"
            )
        yield _from_row(row, str(file), feature_dim, str(file))


# ==================================================================================== #
#                                      Dispatch                                        #
# ==================================================================================== #
def detect_format(path: str | Path) -> str:
    """ "tsv", "lmdb" or "npz" for a features path, or a ``ValueError`` saying what is accepted."""
    path = Path(path)
    if path.is_dir():
        if (path / "data.mdb").is_file():
            return "lmdb"
        if any(path.glob("*.npz")):
            return "npz"
        raise ValueError(
            f"features folder {path} has neither data.mdb (an LMDB) nor IMAGE_ID.npz files"
        )
    if not path.is_file():
        raise ValueError(f"features file {path} does not exist")
    if path.suffix in {".mdb", ".lmdb"}:
        return "lmdb"
    return "tsv"


READERS = {"tsv": iter_tsv, "lmdb": read_lmdb, "npz": read_npz_dir}


def read_features(
    path: str | Path,
    image_ids: Iterable[str] | None = None,
    feature_dim: int | None = 2048,
    progress: bool = False,
) -> dict[str, ImageFeatures]:
    """Features of ``image_ids`` (or every image) from a TSV, an LMDB or a folder of .npz."""
    path = Path(path).expanduser()
    wanted = None if image_ids is None else [str(i) for i in image_ids]
    reader = READERS[detect_format(path)]
    items = reader(path, wanted, feature_dim)
    if progress:
        from tqdm import tqdm

        items = tqdm(
            items,
            total=None if wanted is None else len(wanted),
            desc=f"features {path.name}",
            unit="img",
        )
    found: dict[str, ImageFeatures] = {}
    for item in items:
        found[item.image_id] = item
        if wanted is not None and len(found) == len(set(wanted)):
            break
    if wanted is not None:
        absent = [i for i in wanted if i not in found]
        if absent:
            raise ValueError(
                f"{path} has no features for {len(absent)} of the {len(set(wanted))} images asked for "
                f"(e.g. {', '.join(absent[:3])}); extract features for every image of the split"
            )
    return found
