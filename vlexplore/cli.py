"""The ``vlexplore`` command: the same library calls the app makes, over a whole dataset.

May import anything in vlexplore (lazily, so ``--help`` stays fast); nothing imports it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import traceback
import warnings
from pathlib import Path

from . import __version__
from .errors import InputError, internal_error_message, log_internal_error, one_line

EPILOG = """examples:
  vlexplore diagnose --model demo --dataset demo
  vlexplore diagnose --model demo-gold --dataset demo --json
  vlexplore diagnose --model volta:uniter --checkpoint ctrl_uniter/pytorch_model_9.bin \\
      --dataset flickr30k:/data/flickr30k_entities --features /data/flickr30k_val.tsv
  vlexplore diagnose --model hf:/models/vilt-b32-mlm --dataset demo --limit 50
  vlexplore diagnose --model hf:/models/SmolVLM-256M-Instruct --dataset demo --limit 20
  vlexplore diagnose --model demo --dataset demo --sweep 0.9:0.0:0.1
  vlexplore extract-features my_photos/ --out my_photos.lmdb --detector /models/frcnn-vg-finetuned
  vlexplore diagnose --model demo-lang --dataset demo-lang --region-labels gold
  vlexplore diagnose --model demo --dataset demo --out runs/demo
  vlexplore figures --out figures --runs runs/demo
  vlexplore diagnose --model volta:lxmert --checkpoint ... --device cuda --precision tf32 ...
  torchrun --nproc-per-node 2 -m vlexplore diagnose --model demo --dataset demo --out results/
"""


def _settings(args):
    from .protocol import AblationSettings

    return AblationSettings(
        threshold=args.threshold,
        alignment=args.alignment,
        baseline=args.baseline,
        recompute_global_lang4vis=args.recompute_global_lang4vis,
        patch_border=args.patch_border,
    )


def _json_safe(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    return value


def cmd_diagnose(args) -> int:
    from . import distributed

    device = distributed.init_from_environment(args.device)  # under torchrun: join the group first
    try:
        return _diagnose(args, device, is_writer=distributed.rank() == 0)
    finally:
        distributed.shutdown()


def _diagnose(args, device, is_writer: bool) -> int:
    """One process's share of ``vlexplore diagnose``; only the writer (rank 0) reports."""
    from . import distributed, registry
    from .diagnostics import RunningSummary, format_table, write_results_csv
    from .engine import diagnose_dataset

    settings = _settings(args)
    if args.out and Path(args.out).exists() and not Path(args.out).is_dir():
        raise InputError(f"--out {args.out} is an existing file; --out names a folder for the results")
    model_options = {"checkpoint": args.checkpoint} if args.checkpoint else {}
    dataset_options = {
        option: value
        for option, value in (("features", args.features), ("images", args.images), ("split", args.split))
        if value
    }
    if registry.accepts_option(args.dataset, "dataset", "progress"):
        dataset_options["progress"] = not args.quiet
    if args.region_labels:
        if args.dataset not in ("demo", "demo-lang"):
            raise InputError("--region-labels applies to the built-in datasets (demo, demo-lang) only; "
                             "other datasets carry their detector's class distributions")
        dataset_options["region_labels"] = args.region_labels
    if args.ablation_space:
        if not args.model.startswith("hf:"):
            raise InputError("--ablation-space applies to generative VLMs (hf:DIR with SmolVLM, LLaVA or Qwen2-VL)")
        model_options["ablation_space"] = args.ablation_space
    thresholds = None
    if args.sweep:
        from .sweep import parse_thresholds

        thresholds = parse_thresholds(args.sweep)  # before loading anything: a typo fails at once
    family = bool(args.checkpoint) and Path(args.checkpoint).expanduser().is_dir()
    if (thresholds is not None or family) and distributed.is_sharded():
        raise InputError("--sweep and a --checkpoint folder of seeds run in one process; run them without torchrun")
    if family:
        if thresholds is not None:
            raise InputError("--sweep runs one checkpoint; give --checkpoint a file, not a folder of seeds")
        return _family(args, settings, registry.load_dataset(args.dataset, **dataset_options))
    model = registry.load_model(args.model, **model_options)
    dataset = registry.load_dataset(args.dataset, **dataset_options)
    if thresholds is not None:
        return _sweep(args, model, dataset, settings, thresholds)
    skipped: list[str] = list(getattr(dataset, "skipped", ()))  # images a reader left out, then phrases
    out = Path(args.out) if args.out and is_writer else None
    if out is not None:
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise InputError(f"--out {out}: cannot create the folder ({error.strerror})") from None
    running = RunningSummary()  # rows stream to phrases.csv and into the summary: memory stays flat
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = diagnose_dataset(
            model, dataset, settings, limit=args.limit, batch_size=args.batch_size,
            progress=not args.quiet, skipped=skipped, device=device, precision=args.precision,
            vlbert_positions=args.vlbert_positions,
        )
        if out is not None:
            results = write_results_csv(results, out / "phrases.csv")
        for result in results:  # on other ranks: their windows run, rank 0 gets the rows
            running.add(result)
    if not is_writer:
        return 0
    if not running.n:
        if not skipped:
            raise InputError(
                f"dataset {args.dataset!r} has no phrase with a gold box, so there is nothing to diagnose"
            )
        reasons = "; ".join(skipped[:5])
        raise InputError(
            f"no phrase of {args.dataset!r} could be diagnosed: all {len(skipped)} were skipped, e.g. {reasons}"
        )
    summary, agreement = running.summary(), running.label_agreement()
    regions_from = None
    if args.features:
        from .data.features import provenance_text, read_provenance

        made_by = read_provenance(args.features)
        if made_by:
            regions_from = provenance_text(made_by)
    if out is not None:
        meta = {**summary, "model": args.model, "dataset": args.dataset, "settings": settings.as_dict(),
                "vlbert_positions": args.vlbert_positions, "label_agreement": agreement, "skipped": skipped,
                "regions_from": regions_from}
        (out / "summary.json").write_text(json.dumps(_json_safe(meta), indent=2) + "\n")
    if args.json:
        print(json.dumps(_json_safe({**summary, "skipped": skipped})))
    else:
        print(format_table(summary, args.model))
        if agreement["n"]:
            print(
                f"silver-label agreement with gold at the target region: top-1 {agreement['top1']:.1%}, "
                f"top-5 {agreement['top5']:.1%} (n={agreement['n']})"
            )
        if regions_from:
            print(f"regions: {args.features} was extracted by the detector {regions_from}")
        if skipped:
            print(f"skipped {len(skipped)} phrase(s), e.g. {skipped[0]}")
        if args.out:
            print(f"wrote {Path(args.out) / 'phrases.csv'} and summary.json")
    return 0


def _write_csvs(folder: str | None, frames: dict) -> Path | None:
    """``--out``: each frame as FOLDER/NAME (the folder made if needed); None without --out."""
    if not folder:
        return None
    out = Path(folder)
    out.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        frame.to_csv(out / name, index=False)
    return out


def _family(args, settings, dataset) -> int:
    """``diagnose --checkpoint FOLDER``: one run per seed, rows with a ``seed`` column."""
    from .seeds import family_spread, family_summary, run_family

    skipped: dict[str, list[str]] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        frame = run_family(args.model, args.checkpoint, dataset, settings, limit=args.limit,
                           batch_size=args.batch_size, progress=not args.quiet, skipped=skipped)  # fmt: skip
    summary = family_summary(frame)
    spread = family_spread(summary)
    out = _write_csvs(args.out, {"phrases.csv": frame, "seeds.csv": summary})
    if out is not None:
        meta = {"model": args.model, "dataset": args.dataset, "checkpoints": args.checkpoint,
                "settings": settings.as_dict(), "spread": spread.to_dict(orient="records"),
                "skipped": {seed: len(reasons) for seed, reasons in skipped.items()}}  # fmt: skip
        (out / "summary.json").write_text(json.dumps(_json_safe(meta), indent=2) + "\n")
    if args.json:
        print(json.dumps({"model": args.model, "seeds": summary.to_dict(orient="records"),
                          "spread": spread.to_dict(orient="records")}))  # fmt: skip
        return 0
    table = summary.pivot_table(index="seed", columns=["metric", "condition"], values="bits", sort=False)
    columns = [("MLM", c) for c in ("none", "object", "all")] + [("MRC-KL", c) for c in ("none", "phrase", "all")]
    print(f"{args.model}, {len(table)} seeds from {args.checkpoint} (bits; lower is better)")
    print(f"{'seed':<16} " + " ".join(f"{m + ' ' + c.title():>13}" for m, c in columns))
    for seed, row in table.iterrows():
        print(f"{seed:<16} " + " ".join(f"{row[c]:>13.3f}" for c in columns))
    by_condition = spread.set_index(["metric", "condition"])
    print(f"{'mean ± sd':<16} " + " ".join(
        f"{by_condition.loc[c, 'mean']:>7.3f} ±{by_condition.loc[c, 'sd']:>5.3f}" for c in columns))
    if args.out:
        print(f"wrote {Path(args.out) / 'phrases.csv'} (with a seed column), seeds.csv and summary.json")
    return 0


def _sweep(args, model, dataset, settings, thresholds) -> int:
    """``diagnose --sweep``: Vision-for-Language Object at every threshold, one pass."""
    from .sweep import sweep_dataset, sweep_summary

    skipped: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        rows = sweep_dataset(
            model, dataset, thresholds, settings, limit=args.limit, batch_size=args.batch_size,
            progress=not args.quiet, skipped=skipped,
        )
    if rows.empty:
        raise InputError(f"no phrase of {args.dataset!r} could be swept ({len(skipped)} skipped, e.g. "
                         f"{'; '.join(skipped[:3]) or 'none has a gold box'})")
    summary = sweep_summary(rows)
    _write_csvs(args.out, {"sweep_phrases.csv": rows, "sweep.csv": summary})
    if args.json:
        print(json.dumps({"model": args.model, "sweep": summary.to_dict(orient="records"), "skipped": len(skipped)}))
        return 0
    print(f"{args.model}: MLM bits (vision for language) by alignment threshold ({settings.alignment.upper()} > t)")
    print(f"{'threshold':>9} {'None':>7} {'Object':>7} {'All':>7} {'aligned':>8} {'n':>6}")
    for line in summary.itertuples():
        print(f"{line.threshold:>9.2f} {line.mlm_bits_none:>7.3f} {line.mlm_bits_object:>7.3f} "
              f"{line.mlm_bits_all:>7.3f} {line.share_aligned:>8.1%} {line.n:>6d}")
    print("(aligned: mean share of an image's regions that the phrase's Object condition ablates)")
    if skipped:
        print(f"skipped {len(skipped)} phrase(s), e.g. {skipped[0]}")
    if args.out:
        print(f"wrote {Path(args.out) / 'sweep.csv'} and sweep_phrases.csv")
    return 0


def cmd_extract_features(args) -> int:
    from .data.features import provenance_text
    from .detector import load_detector
    from .detector.extract import extract_features, extraction_note

    if Path(args.out).suffix not in (".tsv", ".lmdb"):
        raise ValueError(f"--out {args.out}: name a .tsv (13-field TSV) or a .lmdb (VOLTA's LMDB) output")
    detector = load_detector(
        args.detector, mode=args.mode, allow_download=args.allow_download, precision=args.precision
    )
    report = extract_features(args.images_dir, args.out, detector, progress=not args.quiet)
    print(f"{args.out}: {report.summary()}")
    print(f"regions by {provenance_text(extraction_note(detector))}")
    return 0


def cmd_figures(args) -> int:
    from tqdm.auto import tqdm

    from .runs import read_runs
    from .views.paper_figures import paper_figures, write_figures

    runs = read_runs(args.runs) if args.runs else None
    figures = paper_figures(runs)
    formats = tuple(args.format or ("png", "html"))
    with tqdm(total=1, desc=f"writing {len(figures)} figures ({', '.join(formats)})", disable=args.quiet) as bar:
        try:
            written = write_figures(figures, args.out, formats)
        except RuntimeError as error:
            print(f"error: {one_line(error)}", file=sys.stderr)
            return 1
        bar.update(1)
    for path in written:
        print(path)
    return 0


def cmd_list(args) -> int:
    from . import registry

    table = registry.MODELS if args.command == "models" else registry.DATASETS
    for name, entry in table.items():
        shown = f"{name}:..." if entry.prefix else name
        print(f"{shown:<14} {entry.help}")
    return 0


def cmd_train_demo(args) -> int:
    from .training import run_train_demo

    return run_train_demo(args)


def cmd_app(args) -> int:
    from streamlit.web import cli as stcli

    app = Path(__file__).resolve().parent.parent / "app.py"
    if args.data_dir:  # the folders the app may open typed paths from (vlexplore.views.sources)
        os.environ["VLEXPLORE_DATA_DIRS"] = os.pathsep.join(str(Path(d).expanduser().resolve()) for d in args.data_dir)
    sys.argv = ["streamlit", "run", str(app), "--server.port", str(args.port),
                "--server.address", args.address,
                "--runner.postScriptGC", "false"]  # as .streamlit/config.toml, from any folder
    return stcli.main()


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def _add_precision(parser: argparse.ArgumentParser, choices: tuple[str, ...], help: str) -> None:
    """``--precision`` (default fp32, the exact one): one option, the same for every command that has it."""
    parser.add_argument("--precision", choices=choices, default="fp32", help=help)


def _command(sub, name: str, func, help: str, description: str, epilog: str | None = None):
    """A sub-command that runs ``func``, its description printed with its own line breaks."""
    parser = sub.add_parser(name, help=help, description=description, epilog=epilog,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.set_defaults(func=func)
    return parser


def _add_run_options(parser: argparse.ArgumentParser, threads: bool = True) -> None:
    """The options every long-running command ends with: torch threads (read in ``main``) and quiet."""
    if threads:
        parser.add_argument("--threads", type=_positive_int, help="torch CPU threads (>= 1)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")


def build_parser() -> argparse.ArgumentParser:
    from .models.common import DETECTOR_PRECISIONS, PRECISIONS
    from .protocol.settings import BASELINES

    parser = argparse.ArgumentParser(
        prog="vlexplore",
        description="Cross-modal input ablation (Frank, Bugliarello & Elliott, EMNLP 2021) for "
        "vision-and-language transformers.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"vlexplore {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    diag = _command(
        sub, "diagnose", cmd_diagnose,
        help="run the diagnostic over a dataset and print the paper's table",
        description="Run all six conditions for every phrase of a dataset and print the aggregate: "
        "MLM bits None/Object/All (vision for language) and MRC-KL bits None/Phrase/All "
        "(language for vision). Defaults are the paper's settings.",
        epilog=EPILOG,
    )
    diag.add_argument("--model", default="demo", help="model name (see `vlexplore models`); default: demo")
    diag.add_argument("--dataset", default="demo", help="dataset name (see `vlexplore datasets`); default: demo")
    diag.add_argument("--checkpoint", help="checkpoint file for volta:ARCH models (pytorch_model_9.bin), or a folder "
                      "of checkpoints of that architecture (files, or one per sub-folder such as ctrl_uniter_s73/): "
                      "one run per seed, rows with a seed column, and their spread")
    diag.add_argument("--features", help="region features for flickr30k (TSV, LMDB or a folder of .npz)")
    diag.add_argument("--images", help="folder of images (optional; used for drawing only)")
    diag.add_argument("--split", help="dataset split (flickr30k: val, test, train; default val)")
    diag.add_argument("--region-labels", choices=["silver", "gold"],
                      help="built-in datasets: score MRC-KL against the detector's distribution (silver, "
                      "the paper's setting and the default) or the regions' gold classes")
    diag.add_argument("--limit", type=_positive_int, help="diagnose only the first N phrases (N >= 1)")
    diag.add_argument("--threshold", type=_fraction, default=0.5,
                      help="alignment threshold in [0, 1], strict (default 0.5)")
    diag.add_argument("--sweep", metavar="START:STOP:STEP",
                      help="vision-for-language Object at every threshold (e.g. 0.9:0.0:0.1, or 0.9,0.5,0.1) in "
                      "one pass: None and All are computed once; prints one row per threshold (--out: "
                      "sweep.csv and sweep_phrases.csv)")
    diag.add_argument("--alignment", choices=["iot", "iou"], default="iot",
                      help="overlap measure for alignment (default iot: intersection over target)")
    diag.add_argument("--baseline", choices=list(BASELINES), default="average",
                      help="vision-for-language replacement feature (default: average = the dataset-average "
                      "region feature; generative VLMs (hf: SmolVLM, LLaVA, Qwen...): the picture's mean image "
                      "token). dataset-mean: generative VLMs take the mean projected image token over the "
                      "set's pictures, computed once per model and set (region models: as average); zero: zeros")
    diag.add_argument("--recompute-global-lang4vis", action="store_true",
                      help="recompute the global feature after zeroing aligned regions (the paper does not)")
    diag.add_argument("--patch-border", type=int, default=0,
                      help="pixel models: also ablate this many rings of neighbouring patches (default 0)")
    diag.add_argument("--ablation-space", choices=["tokens", "pixels"],
                      help="generative VLMs: replace the ablated image tokens (default), or paint the "
                           "ablated cells in their mean colour and re-encode the picture")
    diag.add_argument("--vlbert-positions", choices=["per-caption", "volta-batch16"], default="per-caption",
                      help="volta:vl-bert only: text positions per caption (default), or as VOLTA gave them in "
                      "the authors' batches of 16 phrases in dataset order (volta-batch16: the published "
                      "runs exactly; see docs/vlbert-positions.md)")
    diag.add_argument("--batch-size", type=_positive_int, default=8, help="phrases per forward pass (default 8)")
    diag.add_argument("--device", default="auto",
                      help="where the model runs: auto (CUDA when present, else cpu), cpu, cuda, cuda:1, ...")
    _add_precision(diag, PRECISIONS, "fp32 (default, exact), tf32 (CUDA tensor-core matmuls), bf16 or fp16 (autocast)")
    diag.add_argument("--out", help="folder for phrases.csv (one row per phrase, written as rows come) and "
                      "summary.json (created if missing; not an existing file)")
    diag.add_argument("--json", action="store_true",
                      help="print one JSON object (the summary and the skipped phrases) instead of the table")
    _add_run_options(diag)

    extract = _command(
        sub, "extract-features", cmd_extract_features,
        help="detect regions in a folder of images and write them as region features",
        description="Run the bottom-up-attention detector (Visual Genome Faster R-CNN, vlexplore.detector) "
        "on every image of IMAGES_DIR and write 36 regions per image (boxes, 2048-d features, "
        "1,601-way cls_prob) as a 13-field TSV (.tsv) or VOLTA's LMDB (.lmdb), which --features "
        "reads. Image ids are the file names without extension. Resumable: images already in "
        "the output are skipped. A bad image is reported and skipped.",
    )
    extract.add_argument("images_dir", metavar="IMAGES_DIR", help="folder of images (.jpg, .png, ...)")
    extract.add_argument("--out", required=True, help="output: FILE.tsv or FOLDER.lmdb (appended to if it exists)")
    extract.add_argument("--detector", default="unc-nlp/frcnn-vg-finetuned",
                         help="detector folder (config.yaml + pytorch_model.bin) or a cached hub name "
                         "(default: unc-nlp/frcnn-vg-finetuned)")  # fmt: skip
    extract.add_argument("--mode", choices=["caffe", "hf"], default="caffe",
                         help="post-processing: caffe = generate_tsv.py, as VOLTA's features (default); "
                         "hf = the Hugging Face LXMERT demo")  # fmt: skip
    extract.add_argument("--allow-download", action="store_true", help="fetch a hub detector not in the cache")
    _add_precision(extract, DETECTOR_PRECISIONS,
                   "fp32 (default, exact: what VOLTA's features are) or bf16 (the region head's res5 in bfloat16: "
                   "res5 about 2x faster on a CPU with bfloat16 instructions, the whole detector 1.3-1.4x; "
                   "slightly different regions and features, see benchmarks/README.md)")  # fmt: skip
    _add_run_options(extract)

    figs = _command(
        sub, "figures", cmd_figures,
        help="write the paper's figures (PNG and HTML), with your runs beside the published numbers",
        description="Write the paper's figures from the authors' result tables (assets/paper_results): "
        "main (MLM and MRC-KL per model), thresholds (Object at 0.9 ... 0.0), seeds (every published "
        "seed), labelmatch (LabelMatch subsets) and mrc_xe (MRC-XE readout). --runs adds folders written "
        "by `vlexplore diagnose --out DIR`, drawn beside the published values and labelled as yours.",
        epilog=EPILOG,
    )
    figs.add_argument("--out", required=True, help="folder for NAME.png and NAME.html")
    figs.add_argument("--runs", nargs="+", metavar="RESULTS_DIR",
                      help="folders written by `vlexplore diagnose --out DIR` to draw beside the paper")
    figs.add_argument("--format", nargs="+", choices=["png", "html"],
                      help="which files to write (default: png html; PNG needs Chrome or Chromium)")
    _add_run_options(figs, threads=False)

    for name, text in (("models", "list the models"), ("datasets", "list the datasets")):
        sub.add_parser(name, help=text).set_defaults(func=cmd_list)

    train = sub.add_parser("train-demo", help="retrain the built-in model's checkpoints")
    try:
        from .training import add_train_demo_arguments

        add_train_demo_arguments(train)
    except ImportError:  # the built-in world is not installed in this checkout
        pass
    train.set_defaults(func=cmd_train_demo)

    app = sub.add_parser("app", help="open the Streamlit app")
    app.add_argument("--port", type=int, default=8501)
    app.add_argument("--address", default="127.0.0.1",
                     help="interface to listen on (default 127.0.0.1, this machine only; "
                     "0.0.0.0 makes the app reachable from the network)")
    app.add_argument("--data-dir", action="append", metavar="FOLDER",
                     help="a folder whose files the app may open when a path is typed or comes in a link "
                          "(repeat for more; default: the current directory and the package's assets; "
                          "same as VLEXPLORE_DATA_DIRS)")
    app.set_defaults(func=cmd_app)
    return parser


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args = build_parser().parse_args(argv)
    if getattr(args, "threads", None):
        import torch

        torch.set_num_threads(args.threads)
    try:
        return args.func(args)
    except (InputError, ValueError, FileNotFoundError) as error:
        # InputError is the library's type for bad input; plain ValueError and a missing
        # file are the same contract in code that predates it
        print(f"error: {one_line(error)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # anything else is a bug in vlexplore
        log = log_internal_error(f"argv={argv if argv is not None else sys.argv[1:]}")
        print(one_line(internal_error_message(error, log)), file=sys.stderr)
        if log is None:
            traceback.print_exc()
        return 1


if __name__ == "__main__":  # `python -m vlexplore.cli` as well as `python -m vlexplore`
    sys.exit(main())
