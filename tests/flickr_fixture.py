"""Small files in the real formats (Flickr30k Entities, bottom-up-attention TSV, VOLTA LMDB,
.npz), written by the tests themselves."""

from __future__ import annotations

import base64
import pickle
from pathlib import Path

import numpy as np

IMAGES = {
    # image id: (width, height, sentences, xml objects)
    "1000": (
        120,
        80,
        [
            "[/EN#1/people A man] in [/EN#2/clothing a red shirt] holds [/EN#3/other a cup] .",
            "[/EN#1/people The young man] drinks outside in [/EN#4/scene the park] .",
        ],
        [
            ("1", (11, 6, 60, 75)),
            ("2", (21, 21, 55, 50)),
            ("3", (61, 31, 80, 45)),
            ("3", (90, 10, 100, 20)),  # a second box of the same entity
            ("4", None),  # scene, no box
        ],
    ),
    "2000": (
        100,
        100,
        ["[/EN#7/animals Two dogs] run across [/EN#0/notvisual the] [/EN#8/scene grass] ."],
        [("7", (1, 1, 50, 50)), ("7", (51, 40, 100, 100)), ("8", None)],
    ),
}
NUM_REGIONS = 6
DIM = 2048


def write_entities(root: Path, split: str = "val") -> Path:
    (root / "Sentences").mkdir(parents=True, exist_ok=True)
    (root / "Annotations").mkdir(parents=True, exist_ok=True)
    (root / f"{split}.txt").write_text("\n".join(IMAGES) + "\n")
    for image_id, (width, height, sentences, objects) in IMAGES.items():
        (root / "Sentences" / f"{image_id}.txt").write_text("\n".join(sentences) + "\n")
        parts = [f"<annotation><filename>{image_id}.jpg</filename>"]
        parts.append(
            f"<size><width>{width}</width><height>{height}</height><depth>3</depth></size>"
        )
        for name, box in objects:
            if box is None:
                parts.append(
                    f"<object><name>{name}</name><nobndbox>0</nobndbox><scene>1</scene></object>"
                )
            else:
                x1, y1, x2, y2 = box
                parts.append(
                    f"<object><name>{name}</name><bndbox><xmin>{x1}</xmin><ymin>{y1}</ymin>"
                    f"<xmax>{x2}</xmax><ymax>{y2}</ymax></bndbox></object>"
                )
        parts.append("</annotation>")
        (root / "Annotations" / f"{image_id}.xml").write_text("".join(parts))
    return root


def region_arrays(image_id: str, dim: int = DIM) -> dict[str, np.ndarray]:
    """Deterministic detector output for one image: boxes inside it, features, cls_prob."""
    width, height = IMAGES[image_id][:2]
    rng = np.random.default_rng(int(image_id))
    x1 = rng.uniform(0, width * 0.5, NUM_REGIONS)
    y1 = rng.uniform(0, height * 0.5, NUM_REGIONS)
    x2 = np.minimum(x1 + rng.uniform(5, width * 0.5, NUM_REGIONS), width - 1)
    y2 = np.minimum(y1 + rng.uniform(5, height * 0.5, NUM_REGIONS), height - 1)
    boxes = np.stack([x1, y1, x2, y2], 1).astype(np.float32)
    boxes[0] = [10, 5, 61, 74]  # overlaps the man / the first dog
    features = rng.gamma(1.0, 1.0, (NUM_REGIONS, dim)).astype(np.float32)
    logits = rng.normal(0, 3, (NUM_REGIONS, 1601))
    prob = np.exp(logits - logits.max(1, keepdims=True))
    cls_prob = (prob / prob.sum(1, keepdims=True)).astype(np.float32)
    return {
        "boxes": boxes,
        "features": features,
        "cls_prob": cls_prob,
        "image_w": width,
        "image_h": height,
    }


def _b64(array: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(array).tobytes()).decode()


def tsv_row(image_id: str, fields: int, dim: int = DIM) -> str:
    a = region_arrays(image_id, dim)
    if fields == 6:
        values = [
            image_id,
            a["image_w"],
            a["image_h"],
            NUM_REGIONS,
            _b64(a["boxes"]),
            _b64(a["features"]),
        ]
    else:
        values = [
            image_id, a["image_h"], a["image_w"], _b64(np.zeros(NUM_REGIONS, np.int64)),
            _b64(np.ones(NUM_REGIONS, np.float32)), _b64(np.zeros(NUM_REGIONS, np.int64)),
            _b64(np.ones(NUM_REGIONS, np.float32)), NUM_REGIONS, _b64(a["boxes"]), _b64(a["features"]),
            _b64(a["cls_prob"]), "", "",
        ]  # fmt: skip
    return "\t".join(str(v) for v in values)


def write_tsv(path: Path, fields: int = 13, dim: int = DIM, extra_ids=("3000",)) -> Path:
    """A TSV with the fixture images plus unrelated ones (which the reader must skip)."""
    lines = [tsv_row(i, fields, dim) for i in IMAGES]
    for other in extra_ids:  # an image outside the split, with a broken feature field
        lines.append(
            f"{other}\t10\t10\t1\tnot-base64\tnot-base64" + ("\t" * 7 if fields == 13 else "")
        )
    path.write_text("\n".join(lines) + "\n")
    return path


def write_lmdb(path: Path, rows: dict[str, bytes] | None = None) -> Path:
    import lmdb

    env = lmdb.open(str(path), map_size=1 << 28)
    with env.begin(write=True) as txn:
        keys = []
        for image_id in IMAGES:
            fields = tsv_row(image_id, 13).split("\t")
            names = [
                "img_id", "img_h", "img_w", "objects_id", "objects_conf", "attrs_id", "attrs_conf",
                "num_boxes", "boxes", "features", "cls_prob", "attrs", "classes",
            ]  # fmt: skip
            txn.put(image_id.encode(), pickle.dumps(dict(zip(names, fields, strict=True))))
            keys.append(image_id.encode())
        for key, value in (rows or {}).items():
            txn.put(key.encode(), value)
        txn.put(b"keys", pickle.dumps(keys))
    env.close()
    return path


def write_npz(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for image_id in IMAGES:
        np.savez(folder / f"{image_id}.npz", **region_arrays(image_id))
    return folder
