"""Pretraining of the built-in model on the procedural world (``vlexplore train-demo``).

The recipe is VOLTA's, scaled down: masked language modelling (15% of caption tokens;
80% [MASK], 10% random token, 10% kept), masked region classification with a KL loss
(15% of regions; 90% of them zeroed, 10% kept) against the detector's class distribution
(silver) or the region's gold class (gold), and image-text matching against captions of
other scenes. Runs on CPU, deterministic for a seed and a thread count.
May import: models.builtin, world, and (for its report) engine and diagnostics.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from torch.nn import functional as F

from . import geometry
from .models.builtin import (
    BuiltinConfig,
    BuiltinVLModel,
    SingleStreamVL,
    builtin_tokenizer,
    save_builtin,
)
from .models.common import WHOLE_IMAGE_BOX, encode_boxes_torch
from .world.demo import WORLDS
from .world.detector import FEATURE_DIM, DetectorConfig, detect
from .world.scenes import CLASS_NAMES, WorldConfig, make_scene, world_words

__all__ = [
    "TrainConfig",
    "Pool",
    "write_vocab",
    "build_pool",
    "mask_tokens",
    "mask_regions",
    "train",
    "evaluate",
    "add_train_demo_arguments",
    "run_train_demo",
]

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
#: the positive control's recipe ('demo-lang'): gold targets, the world where only words tell a
#: shape, and whole-object region masking so that zeroed objects must be classified from the words
POSITIVE_CONTROL = {"labels": "gold", "world": "demo-lang", "object_mask_prob": 0.5}


@dataclass
class TrainConfig:
    labels: str = "silver"  # region targets: "silver" (detector cls_prob) or "gold"
    world: str = "demo"  # the scenes: "demo" (shapes) or "demo-lang" (positive control: shapes only in words)
    steps: int = 2000
    batch_size: int = 32
    learning_rate: float = 1e-3
    warmup_steps: int = 100
    weight_decay: float = 0.01
    num_scenes: int = 6000  # training scenes (seeds 0 .. num_scenes - 1)
    seed: int = 0
    threads: int = 1
    token_mask_prob: float = 0.15
    region_mask_prob: float = 0.15
    #: share of rows in which every region aligned with one object (IoT > 0.5) is zeroed and
    #: scored, as the diagnostic ablates an object; 0 in VOLTA's recipe (the shipped demo models)
    object_mask_prob: float = 0.0
    itm_negative_prob: float = 0.25  # share of rows whose caption comes from another scene
    gold_smoothing: float = 0.1  # label smoothing of gold region targets
    hidden: int = 128
    layers: int = 4
    heads: int = 4
    intermediate: int = 256
    dropout: float = 0.1

    def __post_init__(self) -> None:
        if self.labels not in ("silver", "gold"):
            raise ValueError(f"labels: expected 'silver' or 'gold'; got {self.labels!r}")
        if self.world not in WORLDS:
            raise ValueError(f"world: expected one of {', '.join(WORLDS)}; got {self.world!r}")
        for name in ("steps", "batch_size", "num_scenes", "threads"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name}: must be at least 1; got {getattr(self, name)}")
        if not 0.0 <= self.object_mask_prob <= 1.0:
            raise ValueError(f"object_mask_prob: must be in [0, 1]; got {self.object_mask_prob}")
        for name in ("token_mask_prob", "region_mask_prob", "itm_negative_prob", "gold_smoothing"):
            if not 0.0 <= getattr(self, name) < 1.0:
                raise ValueError(f"{name}: must be in [0, 1); got {getattr(self, name)}")


def write_vocab(path: str | Path) -> Path:
    """The world's WordPiece vocabulary: BERT's special tokens, then every grammar word."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([*SPECIAL_TOKENS, *world_words()]) + "\n", encoding="utf-8")
    return path


@dataclass
class Pool:
    """Pre-computed training scenes as tensors (S scenes, N regions, K captions, L tokens)."""

    features: torch.Tensor  # (S, N, D)
    boxes: torch.Tensor  # (S, N, 5) encoded
    cls_prob: torch.Tensor  # (S, N, C) detector distribution
    gold: torch.Tensor  # (S, N) gold class of each region
    caption_ids: torch.Tensor  # (S, K, L)
    caption_mask: torch.Tensor  # (S, K, L)
    object_regions: torch.Tensor  # (S, M, N) bool: regions aligned (IoT > 0.5) with object m
    num_objects: torch.Tensor  # (S,)

    def __len__(self) -> int:
        return int(self.features.shape[0])


def build_pool(seeds, tokenizer, max_length: int, world: WorldConfig | None = None,
               detector: DetectorConfig | None = None, progress: bool = True) -> Pool:
    """Render, detect and tokenise the scenes of ``seeds``."""
    seeds = list(seeds)
    iterator = seeds
    if progress:
        from tqdm.auto import tqdm

        iterator = tqdm(seeds, desc="rendering training scenes", unit="scene")
    features, boxes, cls_prob, gold, ids, masks, objects = [], [], [], [], [], [], []
    for seed in iterator:
        scene = make_scene(seed, world)
        regions, gold_classes = detect(scene, detector)
        objects.append(geometry.iot(regions.boxes, scene.object_boxes).T > 0.5)  # (M, N)
        features.append(regions.features)
        size = torch.tensor([scene.image_size], dtype=torch.float32)
        boxes.append(encode_boxes_torch(torch.from_numpy(regions.boxes).float()[None], size)[0])
        cls_prob.append(regions.cls_prob.astype(np.float32))
        gold.append(gold_classes)
        encoded = tokenizer(
            [c.text.split() for c in scene.captions], is_split_into_words=True, padding="max_length",
            truncation=True, max_length=max_length,
        )
        ids.append(encoded["input_ids"])
        masks.append(encoded["attention_mask"])
    caption_mask = torch.tensor(np.array(masks), dtype=torch.long)
    length = int(caption_mask.sum(-1).max())  # drop padding no caption reaches
    object_regions = np.zeros((len(objects), max(len(o) for o in objects), len(objects[0][0])), dtype=bool)
    for k, aligned in enumerate(objects):
        object_regions[k, : len(aligned)] = aligned
    return Pool(
        features=torch.from_numpy(np.stack(features)),
        boxes=torch.stack(boxes),
        cls_prob=torch.from_numpy(np.stack(cls_prob)),
        gold=torch.from_numpy(np.stack(gold)),
        caption_ids=torch.tensor(np.array(ids), dtype=torch.long)[..., :length],
        caption_mask=caption_mask[..., :length],
        object_regions=torch.from_numpy(object_regions),
        num_objects=torch.tensor([len(o) for o in objects]),
    )


def mask_tokens(input_ids: torch.Tensor, attention_mask: torch.Tensor, tokenizer, prob: float,
                generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT masking: (masked ids, labels with -100 where not masked); at least one per row."""
    special = torch.tensor(sorted(tokenizer.all_special_ids))
    candidate = (attention_mask == 1) & ~torch.isin(input_ids, special)
    chosen = (torch.rand(input_ids.shape, generator=generator) < prob) & candidate
    # Every row predicts something: rows that drew nothing mask one random candidate.
    empty = ~chosen.any(dim=1)
    if empty.any():
        scores = torch.rand(input_ids.shape, generator=generator) * candidate
        pick = scores.argmax(dim=1)
        chosen[empty, pick[empty]] = True
    labels = torch.where(chosen, input_ids, torch.full_like(input_ids, -100))
    roll = torch.rand(input_ids.shape, generator=generator)
    masked = input_ids.clone()
    masked[chosen & (roll < 0.8)] = tokenizer.mask_token_id
    random_tokens = torch.randint(len(special), len(tokenizer), input_ids.shape, generator=generator)
    replace = chosen & (roll >= 0.8) & (roll < 0.9)
    masked[replace] = random_tokens[replace]
    return masked, labels


def mask_regions(features: torch.Tensor, prob: float, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """(features with 90% of the chosen regions zeroed, chosen mask (B, N))."""
    chosen = torch.rand(features.shape[:2], generator=generator) < prob
    zero = chosen & (torch.rand(features.shape[:2], generator=generator) < 0.9)
    return features.masked_fill(zero[..., None], 0.0), chosen


def region_targets(pool: Pool, scenes: torch.Tensor, labels: str, smoothing: float) -> torch.Tensor:
    if labels == "silver":
        return pool.cls_prob[scenes]
    classes = pool.cls_prob.shape[-1]
    onehot = F.one_hot(pool.gold[scenes], classes).float()
    return onehot * (1 - smoothing) + smoothing / classes


def _batch(pool: Pool, config: TrainConfig, tokenizer, rng: np.random.Generator, generator: torch.Generator):
    b = config.batch_size
    scenes = torch.from_numpy(rng.integers(len(pool), size=b))
    captions = torch.from_numpy(rng.integers(pool.caption_ids.shape[1], size=b))
    negative = torch.from_numpy(rng.random(b) < config.itm_negative_prob)
    other = (scenes + torch.from_numpy(rng.integers(1, len(pool), size=b))) % len(pool)
    text_scenes = torch.where(negative, other, scenes)
    input_ids = pool.caption_ids[text_scenes, captions]
    attention = pool.caption_mask[text_scenes, captions]
    masked_ids, mlm_labels = mask_tokens(input_ids, attention, tokenizer, config.token_mask_prob, generator)
    original = pool.features[scenes]
    features, region_chosen = mask_regions(original, config.region_mask_prob, generator)
    if config.object_mask_prob > 0:  # drawn only when asked: the shipped recipe's stream is unchanged
        rows = torch.from_numpy(rng.random(b) < config.object_mask_prob)
        pick = torch.from_numpy((rng.random(b) * pool.num_objects[scenes].numpy()).astype(np.int64))
        ablated = pool.object_regions[scenes, pick] & rows[:, None]
        features = features.masked_fill(ablated[..., None], 0.0)
        region_chosen = region_chosen | ablated
    global_feature = original.mean(dim=1, keepdim=True)  # VOLTA: the mean of the unmasked regions
    whole = torch.tensor(WHOLE_IMAGE_BOX).expand(b, 1, 5)
    return {
        "input_ids": masked_ids,
        "attention_mask": attention,
        "features": torch.cat([global_feature, features], dim=1),
        "boxes": torch.cat([whole, pool.boxes[scenes]], dim=1),
        "visual_mask": torch.ones(b, original.shape[1] + 1, dtype=torch.long),
        "mlm_labels": mlm_labels.masked_fill(negative[:, None], -100),
        "region_chosen": region_chosen & ~negative[:, None],
        "region_targets": region_targets(pool, scenes, config.labels, config.gold_smoothing),
        "itm_labels": (~negative).long(),
    }


def losses(network: SingleStreamVL, batch: dict) -> dict[str, torch.Tensor]:
    """MLM cross-entropy, MRC KL(target || model) on masked regions, ITM cross-entropy (nats)."""
    text, vision = network.encode(
        batch["input_ids"], batch["attention_mask"], batch["features"], batch["boxes"], batch["visual_mask"]
    )
    mlm_positions = batch["mlm_labels"] != -100
    mlm = F.cross_entropy(network.mlm_logits(text[mlm_positions]), batch["mlm_labels"][mlm_positions])
    chosen = batch["region_chosen"]
    region_log_q = F.log_softmax(network.region_logits(vision[:, 1:][chosen]), dim=-1)
    target = batch["region_targets"][chosen]
    mrc = (target * (target.clamp_min(1e-12).log() - region_log_q)).sum(-1).mean() if chosen.any() else text.sum() * 0
    itm = F.cross_entropy(network.itm_logits(text), batch["itm_labels"])
    return {"mlm": mlm, "mrc": mrc, "itm": itm, "total": mlm + mrc + itm}


def model_config(config: TrainConfig, tokenizer) -> BuiltinConfig:
    return BuiltinConfig(
        vocab_size=len(tokenizer), class_names=CLASS_NAMES, feature_dim=FEATURE_DIM, hidden=config.hidden,
        layers=config.layers, heads=config.heads, intermediate=config.intermediate, dropout=config.dropout,
        labels=config.labels,
    )


def train(config: TrainConfig, tokenizer=None, pool: Pool | None = None, progress: bool = True) -> tuple[SingleStreamVL, list[dict]]:
    """Pretrain a fresh model; returns it (in eval mode) and the per-step loss history."""
    torch.set_num_threads(config.threads)
    tokenizer = tokenizer or builtin_tokenizer()
    torch.manual_seed(config.seed)
    network = SingleStreamVL(model_config(config, tokenizer))
    if pool is None:
        pool = build_pool(range(config.num_scenes), tokenizer, network.config.max_text_length,
                          world=WORLDS[config.world], progress=progress)
    flat = pool.features.reshape(-1, pool.features.shape[-1]).double()
    network.feature_mean.copy_(flat.mean(0).float())
    network.feature_std.copy_(flat.std(0).clamp_min(1e-3).float())
    rng = np.random.default_rng([config.seed, 1])
    generator = torch.Generator().manual_seed(config.seed)
    decay = [p for n, p in network.named_parameters() if p.ndim >= 2 and "embeddings" not in n]
    no_decay = [p for n, p in network.named_parameters() if not (p.ndim >= 2 and "embeddings" not in n)]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
        lr=config.learning_rate,
    )

    def schedule(step: int) -> float:
        if step < config.warmup_steps:
            return (step + 1) / config.warmup_steps
        remaining = (config.steps - step) / max(1, config.steps - config.warmup_steps)
        return max(0.0, remaining)

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    history: list[dict] = []
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=config.steps, desc=f"pretraining ({config.labels} labels)", unit="step")
    network.train()
    for step in range(config.steps):
        batch = _batch(pool, config, tokenizer, rng, generator)
        parts = losses(network, batch)
        optimizer.zero_grad(set_to_none=True)
        parts["total"].backward()
        torch.nn.utils.clip_grad_norm_(network.parameters(), 1.0)
        optimizer.step()
        scheduler.step()
        history.append({k: float(v.detach()) for k, v in parts.items()})
        if bar is not None:
            bar.update(1)
            if step % 25 == 0 or step == config.steps - 1:
                recent = history[-50:]
                bar.set_postfix({k: f"{np.mean([h[k] for h in recent]):.3f}" for k in ("mlm", "mrc", "itm")})
    if bar is not None:
        bar.close()
    return network.eval(), history


@torch.no_grad()
def evaluate(network: SingleStreamVL, pool: Pool, tokenizer, config: TrainConfig, repeats: int = 4) -> dict:
    """Held-out pretraining losses (nats) and ITM accuracy, with seeded masks."""
    network.eval()
    eval_config = TrainConfig(**{**asdict(config), "batch_size": len(pool)})
    rng = np.random.default_rng([config.seed, 2])
    generator = torch.Generator().manual_seed(config.seed + 1)
    totals = {"mlm": 0.0, "mrc": 0.0, "itm": 0.0, "itm_accuracy": 0.0, "itm_positive_share": 0.0}
    for _ in range(repeats):
        batch = _batch(pool, eval_config, tokenizer, rng, generator)
        for key, value in losses(network, batch).items():
            if key in totals:
                totals[key] += float(value) / repeats
        text, _ = network.encode(batch["input_ids"], batch["attention_mask"], batch["features"], batch["boxes"], batch["visual_mask"])
        predicted = network.itm_logits(text).argmax(-1)
        totals["itm_accuracy"] += float((predicted == batch["itm_labels"]).float().mean()) / repeats
        totals["itm_positive_share"] += float(batch["itm_labels"].float().mean()) / repeats
    return totals


def diagnostic_findings(model: BuiltinVLModel, example_set, gold_set=None) -> dict:
    """The aggregate diagnostic (paper settings) and silver-label agreement on a set; with
    ``gold_set`` (the same scenes with gold region labels) also MRC-KL against gold."""
    import warnings

    from .diagnostics import label_agreement, summarize
    from .engine import diagnose_dataset

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = list(diagnose_dataset(model, example_set, progress=False))
    summary = summarize(results)
    summary["label_agreement"] = label_agreement(results)
    if gold_set is not None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            summary["lang4vis_gold"] = summarize(diagnose_dataset(model, gold_set, progress=False))["lang4vis"]
    return summary


def _fmt(value: float) -> str:
    return "n/a" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.3f}"


def model_card(name: str, config: TrainConfig, metrics: dict, findings: dict, seconds: float, params: int,
               heldout_scenes: int) -> str:
    """The MODEL_CARD.md text: data, recipe, held-out metrics, diagnostic."""
    v, lang = findings["vis4lang"], findings["lang4vis"]
    agreement = findings["label_agreement"]
    target = (
        "the detector's class distribution (silver labels, like the paper's models)"
        if config.labels == "silver"
        else f"the gold class of the region's best-matching object (IoU >= 0.5; background otherwise), smoothed by {config.gold_smoothing}"
    )
    control = config.world == "demo-lang"
    reproduce = "--positive-control" if control else f"--labels {config.labels}"
    scenes = (
        "1 shape per image, drawn as a blurred disc of its colour (6 shapes, 7 colours, 2 sizes): "
        "the pixels do not tell the shape, the caption does. Captions from the same grammar (counts, "
        "'the picture shows ...')" if control else
        "2-4 shapes per image (6 shapes, 7 colours, 2 sizes, some overlapping), captions from\n"
        "  a grammar with attributes, relations and counts"
    )
    objects = (
        f", and in {config.object_mask_prob:.0%} of rows every region aligned with the object (IoT > 0.5) zeroed "
        "and scored, as the diagnostic ablates it" if config.object_mask_prob else ""
    )
    purpose = (
        "It is the **positive control**: trained where the words are needed for vision, it shows what the "
        "diagnostic reports for a model that does use language to classify a region."
        if control else
        "It exists so that the cross-modal ablation diagnostic can be run offline on any laptop; it is "
        "not a model of natural images."
    )
    dataset = config.world
    return f"""# Model card: `{name}` (built-in vlexplore model, {config.labels} region labels)

A compact single-stream vision-and-language transformer (BERT-style, {config.layers} layers,
{config.hidden}-d, {config.heads} heads, {params / 1e6:.2f} M parameters) pretrained from scratch on
vlexplore's procedural world of coloured shapes (`{dataset}`). {purpose}

## Data
- {config.num_scenes} training scenes (seeds 0..{config.num_scenes - 1}), 3 captions each, rendered with
  OpenCV: {scenes}.
- Regions: a simulated detector, 36 boxes per image (jittered object boxes, part boxes,
  background boxes), a 128-d descriptor of each crop's pixels, and a noisy class distribution
  over {len(CLASS_NAMES)} classes (index 0 = background; label noise 1.1, tuned so that the top
  class agrees with gold about 38% of the time, as the paper found for its detector).

## Training (reproduce with `vlexplore train-demo {reproduce} --seed {config.seed}`)
- Objectives: MLM (15% of tokens; 80% [MASK], 10% random, 10% kept), MRC-KL (15% of regions,
  90% of them zeroed{objects}) against {target}, image-text matching ({config.itm_negative_prob:.0%} of rows get
  another scene's caption).
- {config.steps} steps, batch {config.batch_size}, AdamW lr {config.learning_rate} (warm-up {config.warmup_steps},
  linear decay), seed {config.seed}, {config.threads} CPU threads: {seconds / 60:.1f} minutes on the build machine.

## Held-out metrics ({heldout_scenes} held-out scenes, seeds from 1,000,000; pretraining masks, seeded)
| metric | value |
| --- | --- |
| MLM loss (nats) | {metrics['mlm']:.3f} |
| MRC loss against the training target (nats) | {metrics['mrc']:.3f} |
| ITM loss (nats) | {metrics['itm']:.3f} |
| ITM accuracy | {metrics['itm_accuracy']:.3f} (always answering "match" scores {metrics.get('itm_positive_share', math.nan):.3f}) |

## Cross-modal ablation diagnostic (paper settings, `vlexplore diagnose --model {name} --dataset {dataset}`)
| | None | Object/Phrase | All |
| --- | --- | --- | --- |
| MLM bits (vision for language) | {_fmt(v['none'])} | {_fmt(v['object'])} | {_fmt(v['all'])} |
| MRC-KL bits (language for vision) | {_fmt(lang['none'])} | {_fmt(lang['phrase'])} | {_fmt(lang['all'])} |
{_gold_row(findings, name, dataset)}
{findings['n']} phrases (MRC-KL over the {findings['n_lang4vis']} with an aligned target region).
Silver-label agreement with the gold shape at the target region: top-1 {_fmt(agreement['top1'])},
top-3 {_fmt(agreement['top3'])}, top-5 {_fmt(agreement['top5'])} (n={agreement['n']}).
MRC-KL is measured against the detector's (silver) distribution, as in the paper{_gold_note(findings)}.

## Findings
{_findings_text(findings)}
"""


def _gold_row(findings: dict, name: str, dataset: str) -> str:
    gold = findings.get("lang4vis_gold")
    if not gold:
        return ""
    return (f"| MRC-KL bits against gold classes (`vlexplore diagnose --model {name} --dataset {dataset} "
            f"--region-labels gold`) | {_fmt(gold['none'])} | {_fmt(gold['phrase'])} | {_fmt(gold['all'])} |\n")


def _gold_note(findings: dict) -> str:
    return "; the last row scores the same regions against their gold classes" if findings.get("lang4vis_gold") else ""


def _findings_text(findings: dict) -> str:
    """Plain sentences for the card, whatever direction the numbers go."""
    v, lang = findings["vis4lang"], findings["lang4vis"]
    order = "None < Object < All" if v["none"] < v["object"] < v["all"] else "not ordered None < Object < All"
    vis = (
        f"- Vision for language: masking a phrase costs {v['none']:.3f} bits per sub-token with the whole "
        f"picture; removing the phrase's regions adds {v['object'] - v['none']:+.3f} bits and removing every "
        f"region adds {v['all'] - v['none']:+.3f} bits ({order})."
        + (" The model reads the masked words off the image." if v["all"] - v["none"] >= 0.1 else
           " The picture hardly changes what the model predicts.")
    )
    if math.isnan(lang["none"]):
        return vis + "\n- Language for vision: not measured (no target region)."
    phrase, everything = lang["phrase"] - lang["none"], lang["all"] - lang["none"]
    uses = "barely uses" if max(abs(phrase), abs(everything)) < 0.05 else "uses"
    lang_text = (
        f"- Language for vision: with the phrase's regions zeroed, MRC-KL is {lang['none']:.3f} bits with the "
        f"caption, {phrase:+.3f} bits when the phrase is masked and {everything:+.3f} bits when the whole caption "
        f"is masked: the model {uses} the words to classify the region."
    )
    gold = findings.get("lang4vis_gold")
    if gold and not math.isnan(gold["none"]):
        phrase, everything = gold["phrase"] - gold["none"], gold["all"] - gold["none"]
        lang_text += (
            f"\n- Against gold classes, MRC-KL is {gold['none']:.3f} bits with the caption, {phrase:+.3f} bits when "
            f"the phrase is masked and {everything:+.3f} bits when the caption is masked"
            + (": the diagnostic detects that the model reads the region's class from the words."
               if min(phrase, everything) >= 0.3 else ".")
        )
        silver_phrase = lang["phrase"] - lang["none"]
        if min(phrase, everything) >= 0.3 and silver_phrase < 0:
            lang_text += (
                "\n- Against the detector's silver distribution the words *lower* MRC-KL instead: with the caption "
                "the model is sure of the true class, which the noisy detector spreads over other classes; without "
                "it, the model's spread guess is closer to the detector's. A silver-label readout can hide, even "
                "invert, a model's use of language."
            )
    return vis + "\n" + lang_text


def add_train_demo_arguments(parser) -> None:
    parser.add_argument("--labels", choices=["silver", "gold", "both"], default="both",
                        help="region targets: silver (detector, the 'demo' model), gold ('demo-gold') or both")
    parser.add_argument("--steps", type=int, default=TrainConfig.steps, help=f"training steps (default {TrainConfig.steps})")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0, the shipped weights)")
    parser.add_argument("--scenes", type=int, default=TrainConfig.num_scenes,
                        help=f"training scenes (default {TrainConfig.num_scenes})")
    parser.add_argument("--out", default=None, help="output folder (default: assets/demo)")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch CPU threads (default 1: the matrices are small, a second thread gains "
                        "little on a busy machine, and results depend slightly on the thread count)")
    parser.add_argument("--heldout-scenes", type=int, default=None,
                        help="held-out scenes to write and evaluate on (default 48, the shipped set)")
    parser.add_argument("--positive-control", action="store_true",
                        help="train the positive control 'demo-lang' instead (gold labels, in the demo-lang world "
                        "where each object is a disc whose shape only the caption names, with whole-object region "
                        "masking), and its held-out set")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def run_train_demo(args) -> int:
    """Train the built-in checkpoint(s), write weights, config, model card and held-out set."""
    from .assets import DEMO_DIR
    from .world.demo import load_demo_set, write_demo_set

    out = Path(args.out) if args.out else DEMO_DIR
    progress = not getattr(args, "quiet", False)
    labels = ["silver", "gold"] if args.labels == "both" else [args.labels]
    torch.set_num_threads(args.threads)
    vocab_path = write_vocab(out / "vocab.txt")
    tokenizer = builtin_tokenizer(vocab_path)
    from .world.demo import HELDOUT_SCENES, heldout_seeds

    heldout_scenes = getattr(args, "heldout_scenes", None) or HELDOUT_SCENES
    first = TrainConfig(steps=args.steps, seed=args.seed, num_scenes=args.scenes, threads=args.threads)
    if getattr(args, "positive_control", False):
        runs = [("demo-lang", TrainConfig(**{**asdict(first), **POSITIVE_CONTROL}))]
    else:
        runs = [("demo" if label == "silver" else "demo-gold", TrainConfig(**{**asdict(first), "labels": label}))
                for label in labels]
    world = runs[0][1].world
    write_demo_set(out, num_scenes=heldout_scenes, progress=progress, name=world)
    heldout = load_demo_set(world, directory=out)
    heldout_gold = load_demo_set(world, directory=out, region_labels="gold")
    max_length = BuiltinConfig(vocab_size=len(tokenizer), class_names=CLASS_NAMES).max_text_length
    pool = build_pool(range(first.num_scenes), tokenizer, max_length, world=WORLDS[world], progress=progress)
    heldout_pool = build_pool(heldout_seeds(heldout_scenes), tokenizer, max_length, world=WORLDS[world], progress=False)
    for name, config in runs:
        start = time.perf_counter()
        network, history = train(config, tokenizer, pool, progress=progress)
        seconds = time.perf_counter() - start
        metrics = evaluate(network, heldout_pool, tokenizer, config)
        model = BuiltinVLModel(network, tokenizer, name)
        findings = diagnostic_findings(model, heldout, heldout_gold)
        params = sum(p.numel() for p in network.parameters())
        network.config.extra = {
            "training": {**asdict(config), "seconds": round(seconds, 1),
                         "final_losses": {k: float(np.mean([h[k] for h in history[-100:]])) for k in ("mlm", "mrc", "itm")}},
            "held_out": metrics,
            "diagnostic": findings,
        }
        weights, config_path = save_builtin(network, out / f"{name}.safetensors")
        card = model_card(name, config, metrics, findings, seconds, params, heldout_scenes)
        (out / f"MODEL_CARD-{name}.md").write_text(card)
        print(f"{name}: wrote {weights} and {config_path.name} ({seconds / 60:.1f} min); "
              f"MLM bits none/object/all = {findings['vis4lang']['none']:.3f}/"
              f"{findings['vis4lang']['object']:.3f}/{findings['vis4lang']['all']:.3f}; "
              f"MRC-KL bits none/phrase/all = {_fmt(findings['lang4vis']['none'])}/"
              f"{_fmt(findings['lang4vis']['phrase'])}/{_fmt(findings['lang4vis']['all'])} "
              f"(against gold: {'/'.join(_fmt(findings['lang4vis_gold'][c]) for c in ('none', 'phrase', 'all'))})")
    return 0
