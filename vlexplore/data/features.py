"""Detector region features in the three formats the paper's data comes in.

1. The bottom-up-attention TSV (one image per line, arrays base64-encoded float32):
   - the classic 6 fields ``image_id, image_w, image_h, num_boxes, boxes, features``
     (Anderson et al.'s ``generate_tsv.py``), without class distributions;
   - the 13 fields of ``airsplay/bottom-up-attention`` that VOLTA uses for Flickr30k
     ``img_id, img_h, img_w, objects_id, objects_conf, attrs_id, attrs_conf, num_boxes,
     boxes, features, cls_prob, attrs, classes`` (note: height before width).
2. VOLTA's LMDB (``flickr30k_feat.lmdb``): each image id maps to a pickled row of the
   13-field TSV, plus a ``keys`` entry. The file is read by ``lmdb_pages`` (plain Python,
   every page number and size checked, so a damaged file is an error, not a SIGBUS) and
   each row by ``pickled_rows`` (a strict interpreter of the few pickle opcodes such rows
   use; no ``pickle.Unpickler``, so no code runs and no record allocates more than its
   own size).
3. A folder of ``IMAGE_ID.npz`` files with ``boxes`` (N, 4), ``features`` (N, D) and
   optionally ``cls_prob`` (N, 1601), ``image_w``, ``image_h``.

Every format yields ``ImageFeatures`` per image; bad input is an ``InputError`` naming the
file, the line or entry and the image; numbers are range-checked, sizes are checked before
anything is allocated, and features must be finite.
Writing (``row_13``, ``FeatureWriter``, for ``vlexplore extract-features``) produces the
13-field TSV and VOLTA's LMDB; the LMDB writer needs the ``lmdb`` package, the reader does not.
May import: assets, errors, records, data.lmdb_pages, data.pickled_rows.
"""

from __future__ import annotations

import base64
import binascii
import csv
import io
import json
import pickle
import sys
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..assets import vg_classes
from ..errors import InputError, parse_number
from ..records import Regions, check_image_size
from .lmdb_pages import LmdbFile
from .pickled_rows import load_row

__all__ = [
    "ImageFeatures",
    "read_features",
    "iter_tsv",
    "read_lmdb",
    "read_npz_dir",
    "detect_format",
    "row_13",
    "FeatureWriter",
    "provenance_path",
    "read_provenance",
    "provenance_text",
    "MAX_TSV_LINE",
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
#: the longest image side or box count a row may claim (Flickr30k images are at most 500 px)
MAX_SIDE = 100_000
#: the longest TSV line read (a 100-region row of 2048-d features with cls_prob is ~2 MB)
MAX_TSV_LINE = 256 * 2**20
#: the most an image's .npz may unpack to (same bound as a TSV line)
MAX_NPZ_BYTES = MAX_TSV_LINE
NPZ_ARRAYS = ("boxes", "features", "cls_prob", "image_w", "image_h")


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
            raise InputError(
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
            raise InputError(f"{where}: {error}") from error


def _decode(value, dtype, where: str, field: str) -> np.ndarray:
    """A base64 (str or bytes) or already-decoded numeric array field as a flat numpy array."""
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "biuf":
            raise InputError(
                f"{where}: field {field} is an array of {value.dtype}, expected numbers"
            )
        return value.astype(dtype, copy=False).reshape(-1)
    if isinstance(value, str):
        if not value.isascii():
            raise InputError(f"{where}: field {field} is not base64 text (non-ASCII characters)")
        value = value.encode("ascii")
    if not isinstance(value, bytes | bytearray):
        raise InputError(
            f"{where}: field {field} is a {type(value).__name__}, expected base64 text or an array"
        )
    try:
        raw = base64.b64decode(value, validate=False)
    except (binascii.Error, ValueError) as error:
        raise InputError(f"{where}: field {field} is not valid base64 ({error})") from error
    itemsize = np.dtype(dtype).itemsize
    if len(raw) % itemsize:
        raise InputError(
            f"{where}: field {field} has {len(raw)} bytes, not a whole number of {np.dtype(dtype).name}"
        )
    return np.frombuffer(raw, dtype=dtype)


def _blank(value) -> bool:
    """An absent field: None or an empty TSV cell."""
    return value is None or (isinstance(value, str | bytes) and not value)


def _as_int(value, where: str, field: str, high: int = MAX_SIDE) -> int:
    return parse_number(value, f"{where}: field {field}", 0, high)


def _from_row(row: dict, where: str, feature_dim: int | None, source: str) -> ImageFeatures:
    """Decode one row (TSV or LMDB, 6- or 13-field names) and check its shapes."""
    image_id = row.get("img_id", row.get("image_id"))
    if isinstance(image_id, bytes):
        image_id = image_id.decode(errors="replace")
    image_id = str(image_id)
    where = f"{where}, image {image_id}"
    missing = [
        name
        for name, *aliases in (("img_w", "image_w"), ("img_h", "image_h"), ("boxes",), ("features",))
        if all(row.get(n) is None for n in (name, *aliases))
    ]
    if missing:
        raise InputError(
            f"{where}: the row has no {', '.join(missing)} field(s); a features row needs "
            "the image size (img_w, img_h), boxes and features, as bottom-up-attention writes them"
        )
    width = _as_int(row.get("img_w", row.get("image_w")), where, "image_w")
    height = _as_int(row.get("img_h", row.get("image_h")), where, "image_h")
    check_image_size((width, height), where)
    features = _decode(row["features"], np.float32, where, "features")
    boxes = _decode(row["boxes"], np.float32, where, "boxes")
    if len(boxes) % 4:
        raise InputError(
            f"{where}: boxes hold {len(boxes)} numbers, not a multiple of 4 (x1, y1, x2, y2)"
        )
    num_boxes = len(boxes) // 4
    if not _blank(row.get("num_boxes")):
        declared = _as_int(row["num_boxes"], where, "num_boxes")
        if declared != num_boxes:
            raise InputError(f"{where}: num_boxes says {declared} but there are {num_boxes} boxes")
    if num_boxes == 0:
        raise InputError(f"{where}: no detector regions")
    if len(features) % num_boxes:
        raise InputError(
            f"{where}: {len(features)} feature values do not split into {num_boxes} regions"
        )
    dim = len(features) // num_boxes
    if feature_dim is not None and dim != feature_dim:
        raise InputError(
            f"{where}: region features have {dim} columns, expected {feature_dim} "
            "(bottom-up-attention ResNet-101 features are 2048-d); use the features the model was trained with"
        )
    cls_prob = None
    if not _blank(row.get("cls_prob")):
        prob = _decode(row["cls_prob"], np.float32, where, "cls_prob")
        if len(prob) != num_boxes * NUM_CLASSES:
            classes = len(prob) / num_boxes
            raise InputError(
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
    for line_number, raw in _tsv_lines(path):
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
            raise InputError(
                f"{where}: not UTF-8 text ({error}); is this a features TSV?"
            ) from None
        try:
            fields = next(csv.reader(io.StringIO(line.rstrip("\r\n")), delimiter="\t"))
        except csv.Error as error:
            raise InputError(
                f"{where}: not a tab-separated row ({error}); a stray carriage return or quote?"
            ) from None
        if len(fields) == len(TSV_FIELDS_6):
            row = dict(zip(TSV_FIELDS_6, fields, strict=True))
        elif len(fields) == len(TSV_FIELDS_13):
            row = dict(zip(TSV_FIELDS_13, fields, strict=True))
        else:
            raise InputError(
                f"{where}: {len(fields)} tab-separated fields; a bottom-up-attention TSV has 6 "
                f"({', '.join(TSV_FIELDS_6)}) or 13 ({', '.join(TSV_FIELDS_13)})"
            )
        yield _from_row(row, where, feature_dim, str(path))


def _tsv_lines(path: Path) -> Iterator[tuple[int, bytes]]:
    """(line number, bytes) of a file, each line at most ``MAX_TSV_LINE`` bytes."""
    try:
        with open(path, "rb") as handle:  # bytes: an unwanted line is never decoded
            line_number = 0
            while raw := handle.readline(MAX_TSV_LINE + 1):
                line_number += 1
                if len(raw) > MAX_TSV_LINE:
                    raise InputError(
                        f"{path} line {line_number} is longer than {MAX_TSV_LINE // 2**20} MB; "
                        "is this a features TSV (one image per line)?"
                    )
                yield line_number, raw
    except OSError as error:
        raise InputError(f"features file {path} cannot be read ({error.strerror})") from None


# ==================================================================================== #
#                                         LMDB                                         #
# ==================================================================================== #
def read_lmdb(
    path: str | Path, image_ids: Iterable[str] | None = None, feature_dim: int | None = 2048
) -> Iterator[ImageFeatures]:
    """Images of VOLTA's LMDB; all of them (its ``keys`` entry) when ``image_ids`` is None."""
    path = Path(path)
    with LmdbFile(path) as store:
        if image_ids is None:
            raw_keys = store.get(b"keys")
            if raw_keys is None:
                raise InputError(
                    f"{path}: no 'keys' entry, so the image ids are unknown; pass the ids to read"
                )
            keys = load_row(raw_keys, f"{path}, entry keys")
            if not isinstance(keys, list | tuple) or not all(isinstance(k, str | bytes) for k in keys):
                raise InputError(f"{path}, entry keys: expected a list of image ids")
            image_ids = [k.decode(errors="replace") if isinstance(k, bytes) else k for k in keys]
        for image_id in image_ids:
            raw = store.get(str(image_id).encode())
            if raw is None:
                continue
            where = f"{path}, image {image_id}"
            row = load_row(raw, where)
            if not isinstance(row, dict):
                raise InputError(f"{where}: the row is a {type(row).__name__}, expected a dict")
            row = {k.decode(errors="replace") if isinstance(k, bytes) else str(k): v for k, v in row.items()}
            row.setdefault("img_id", str(image_id))
            yield _from_row(row, str(path), feature_dim, str(path))


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
            with zipfile.ZipFile(file) as archive:  # sizes first: a compressed bomb stays packed
                declared = sum(info.file_size for info in archive.infolist())
            if declared > MAX_NPZ_BYTES:
                raise InputError(
                    f"{file}: its arrays unpack to {declared / 2**20:.0f} MB, more than the "
                    f"{MAX_NPZ_BYTES // 2**20} MB one image's regions can need"
                )
            with np.load(file, allow_pickle=False) as data:
                arrays = {k: data[k] for k in NPZ_ARRAYS if k in data.files}
        except InputError:
            raise
        except Exception as error:
            raise InputError(
                f"{file}: not a readable .npz file ({type(error).__name__}: {error})"
            ) from None
        missing = [k for k in ("boxes", "features", "image_w", "image_h") if k not in arrays]
        if missing:
            raise InputError(
                f"{file}: missing array(s) {', '.join(missing)}; an .npz needs boxes (N, 4), features (N, D), "
                "image_w, image_h and optionally cls_prob (N, 1601)"
            )
        features = np.asarray(arrays["features"])
        boxes = np.asarray(arrays["boxes"])
        if features.ndim != 2:
            raise InputError(f"{file}: features have shape {features.shape}, expected (N, D)")
        if boxes.ndim != 2 or boxes.shape[1] != 4 or len(boxes) != len(features):
            raise InputError(
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
            raise InputError(
                f"{file}: cls_prob has {np.asarray(row['cls_prob']).shape[-1]} classes per region, expected 1,601"
            )
        if features.shape[1] != (feature_dim or features.shape[1]):
            raise InputError(
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
        raise InputError(
            f"features folder {path} has neither data.mdb (an LMDB) nor IMAGE_ID.npz files"
        )
    if not path.is_file():
        raise InputError(f"features file {path} does not exist")
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
            raise InputError(
                f"{path} has no features for {len(absent)} of the {len(set(wanted))} images asked for "
                f"(e.g. {', '.join(absent[:3])}); extract features for every image of the split"
            )
    return found


# ==================================================================================== #
#                                      Writing                                         #
# ==================================================================================== #
def _b64(array: np.ndarray, dtype) -> str:
    return base64.b64encode(np.ascontiguousarray(array, dtype=dtype).tobytes()).decode("ascii")


def row_13(
    image_id: str,
    width: int,
    height: int,
    boxes: np.ndarray,
    features: np.ndarray,
    cls_prob: np.ndarray,
    attr_prob: np.ndarray | None = None,
) -> dict[str, str | int]:
    """One image as the 13 fields of airsplay/bottom-up-attention (arrays as base64 text).

    ``cls_prob`` (N, 1601) has background in column 0; ``objects_id`` is the best foreground
    class as a row of that vocabulary. ``attr_prob`` (N, 401), "no attribute" in column 0,
    fills ``attrs_id``/``attrs_conf`` and, whole, ``attrs``; ``classes`` stays empty.
    """
    num_boxes = len(boxes)
    if cls_prob.shape != (num_boxes, NUM_CLASSES):
        raise InputError(
            f"image {image_id}: cls_prob has shape {cls_prob.shape}; the bottom-up-attention formats "
            f"need ({num_boxes}, 1601) (1,600 Visual Genome classes + background in column 0)"
        )
    attrs = np.zeros((num_boxes, 1), np.float32) if attr_prob is None else attr_prob
    return {
        "img_id": str(image_id),
        "img_h": int(height),
        "img_w": int(width),
        "objects_id": _b64(cls_prob[:, 1:].argmax(1) + 1, np.int64),
        "objects_conf": _b64(cls_prob[:, 1:].max(1), np.float32),
        "attrs_id": _b64(attrs[:, 1:].argmax(1) + 1 if attrs.shape[1] > 1 else np.zeros(num_boxes), np.int64),
        "attrs_conf": _b64(attrs[:, 1:].max(1) if attrs.shape[1] > 1 else np.zeros(num_boxes), np.float32),
        "num_boxes": num_boxes,
        "boxes": _b64(boxes, np.float32),
        "features": _b64(features, np.float32),
        "cls_prob": _b64(cls_prob, np.float32),
        "attrs": "" if attr_prob is None else _b64(attr_prob, np.float32),
        "classes": "",
    }


class FeatureWriter:
    """Appends images to a 13-field TSV (``.tsv``) or a VOLTA LMDB (``.lmdb``), resumably.

    ``done`` holds the image ids already in the file, so an interrupted extraction picks up
    where it stopped. The TSV gets one flushed line per image (a half-written last line from
    a crash is cut off on reopening); the LMDB gets one transaction per image and its
    ``keys`` entry (the pickled list of ids VOLTA reads) rewritten on ``close``. LMDB rows
    are pickled dicts of strings and integers only, the layout VOLTA's loader reads.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        if self.path.suffix == ".tsv":
            self.kind = "tsv"
            self.done = self._open_tsv()
        elif self.path.suffix == ".lmdb":
            self.kind = "lmdb"
            self.done = self._open_lmdb()
        else:
            raise InputError(
                f"{self.path}: write features to a .tsv (13-field bottom-up-attention TSV) or a "
                ".lmdb (VOLTA's LMDB folder)"
            )

    def _open_tsv(self) -> set[str]:
        done: set[str] = set()
        if self.path.exists():
            data = self.path.read_bytes()
            end = data.rfind(b"\n") + 1
            if end < len(data):  # a line cut short by an interruption
                with open(self.path, "r+b") as handle:
                    handle.truncate(end)
            done = {line.split(b"\t", 1)[0].decode() for line in data[:end].splitlines() if line.strip()}
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self.handle = open(self.path, "a", encoding="utf-8", newline="")  # noqa: SIM115 (closed by close())
        return done

    def _open_lmdb(self) -> set[str]:
        try:
            import lmdb
        except ImportError:
            raise InputError(
                f"{self.path}: writing VOLTA's LMDB needs the lmdb package (pip install lmdb); "
                "or write a .tsv, which every reader here takes too"
            ) from None
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:  # map_size is an upper bound on a sparse file, not an allocation
            self.env = lmdb.open(str(self.path), map_size=1 << 40, subdir=True, meminit=False)
        except lmdb.Error as error:
            raise InputError(f"{self.path}: cannot open or create an LMDB there ({error})") from error
        with self.env.begin() as txn:
            return {key.decode() for key, _ in txn.cursor() if key != b"keys"}

    def add(self, row: dict) -> None:
        image_id = str(row["img_id"])
        if self.kind == "tsv":
            self.handle.write("\t".join(str(row[name]) for name in TSV_FIELDS_13) + "\n")
            self.handle.flush()
        else:
            with self.env.begin(write=True) as txn:
                txn.put(image_id.encode(), pickle.dumps(dict(row), protocol=4))
        self.done.add(image_id)

    def close(self) -> None:
        if self.kind == "tsv":
            self.handle.close()
        else:
            with self.env.begin(write=True) as txn:
                txn.put(b"keys", pickle.dumps(sorted(i.encode() for i in self.done), protocol=4))
            self.env.close()

    def __enter__(self) -> FeatureWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def provenance_path(path: str | Path) -> Path:
    """Where the note on who made a features file lives: inside an LMDB folder, beside a file."""
    path = Path(path)
    return path / "detector.json" if path.is_dir() or path.suffix == ".lmdb" else path.with_name(path.name + ".detector.json")


def read_provenance(path: str | Path) -> dict | None:
    """The detector and mode that wrote ``path`` (``vlexplore extract-features``), if it says."""
    note = provenance_path(Path(path).expanduser())
    try:
        data = json.loads(note.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and "detector" in data else None


def provenance_text(made_by: dict) -> str:
    """"DETECTOR (MODE mode)", with the precision when it is not fp32 (notes before it existed were fp32)."""
    precision = made_by.get("precision", "fp32")
    arithmetic = "" if precision == "fp32" else f", {precision}"
    return f"{made_by['detector']} ({made_by.get('mode', '?')} mode{arithmetic})"
