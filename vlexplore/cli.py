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
from .errors import InputError, internal_error_message, log_internal_error

EPILOG = """examples:
  vlexplore diagnose --model demo --dataset demo
  vlexplore diagnose --model demo-gold --dataset demo --json
  vlexplore diagnose --model volta:uniter --checkpoint ctrl_uniter/pytorch_model_9.bin \\
      --dataset flickr30k:/data/flickr30k_entities --features /data/flickr30k_val.tsv
  vlexplore diagnose --model hf:/models/vilt-b32-mlm --dataset demo --limit 50
  vlexplore diagnose --model demo-lang --dataset demo-lang --region-labels gold
  vlexplore diagnose --model demo --dataset demo --out runs/demo
  vlexplore figures --out figures --runs runs/demo
"""


def _settings(args):
    from .protocol import AblationSettings

    return AblationSettings(
        threshold=args.threshold,
        alignment=args.alignment,
        baseline=args.baseline,
        recompute_global_lang4vis=args.recompute_global_lang4vis,
    )


def _json_safe(value):
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    return value


def cmd_diagnose(args) -> int:
    from . import registry
    from .diagnostics import format_table, label_agreement, results_frame, summarize
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
    model = registry.load_model(args.model, **model_options)
    dataset = registry.load_dataset(args.dataset, **dataset_options)
    skipped: list[str] = list(dataset.skipped)  # images a reader left out, then phrases
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = list(
            diagnose_dataset(
                model, dataset, settings, limit=args.limit, batch_size=args.batch_size,
                progress=not args.quiet, skipped=skipped,
            )
        )
    if not results:
        if not skipped:
            raise InputError(
                f"dataset {args.dataset!r} has no phrase with a gold box, so there is nothing to diagnose"
            )
        reasons = "; ".join(skipped[:5])
        raise InputError(
            f"no phrase of {args.dataset!r} could be diagnosed: all {len(skipped)} were skipped, e.g. {reasons}"
        )
    summary = summarize(results)
    agreement = label_agreement(results)
    if args.out:
        out = Path(args.out)
        try:
            out.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise InputError(f"--out {out}: cannot create the folder ({error.strerror})") from None
        results_frame(results).to_csv(out / "phrases.csv", index=False)
        meta = {**summary, "model": args.model, "dataset": args.dataset, "settings": settings.as_dict(),
                "label_agreement": agreement, "skipped": skipped}
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
        if skipped:
            print(f"skipped {len(skipped)} phrase(s), e.g. {skipped[0]}")
        if args.out:
            print(f"wrote {Path(args.out) / 'phrases.csv'} and summary.json")
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
            print(f"error: {error}", file=sys.stderr)
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
                "--server.address", args.address]
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


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vlexplore",
        description="Cross-modal input ablation (Frank, Bugliarello & Elliott, EMNLP 2021) for "
        "vision-and-language transformers.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"vlexplore {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    diag = sub.add_parser(
        "diagnose",
        help="run the diagnostic over a dataset and print the paper's table",
        description="Run all six conditions for every phrase of a dataset and print the aggregate: "
        "MLM bits None/Object/All (vision for language) and MRC-KL bits None/Phrase/All "
        "(language for vision). Defaults are the paper's settings.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    diag.add_argument("--model", default="demo", help="model name (see `vlexplore models`); default: demo")
    diag.add_argument("--dataset", default="demo", help="dataset name (see `vlexplore datasets`); default: demo")
    diag.add_argument("--checkpoint", help="checkpoint file for volta:ARCH models (pytorch_model_9.bin)")
    diag.add_argument("--features", help="region features for flickr30k (TSV, LMDB or a folder of .npz)")
    diag.add_argument("--images", help="folder of images (optional; used for drawing only)")
    diag.add_argument("--split", help="dataset split (flickr30k: val, test, train; default val)")
    diag.add_argument("--region-labels", choices=["silver", "gold"],
                      help="built-in datasets: score MRC-KL against the detector's distribution (silver, "
                      "the paper's setting and the default) or the regions' gold classes")
    diag.add_argument("--limit", type=_positive_int, help="diagnose only the first N phrases (N >= 1)")
    diag.add_argument("--threshold", type=_fraction, default=0.5,
                      help="alignment threshold in [0, 1], strict (default 0.5)")
    diag.add_argument("--alignment", choices=["iot", "iou"], default="iot",
                      help="overlap measure for alignment (default iot: intersection over target)")
    diag.add_argument("--baseline", choices=["average", "zero"], default="average",
                      help="vision-for-language replacement feature (default: dataset average)")
    diag.add_argument("--recompute-global-lang4vis", action="store_true",
                      help="recompute the global feature after zeroing aligned regions (the paper does not)")
    diag.add_argument("--batch-size", type=_positive_int, default=8, help="phrases per forward pass (default 8)")
    diag.add_argument("--threads", type=_positive_int, help="torch CPU threads (>= 1)")
    diag.add_argument("--out", help="folder for phrases.csv (one row per phrase) and summary.json "
                      "(created if missing; not an existing file)")
    diag.add_argument("--json", action="store_true",
                      help="print one JSON object (the summary and the skipped phrases) instead of the table")
    diag.add_argument("--quiet", action="store_true", help="no progress bars")
    diag.set_defaults(func=cmd_diagnose)

    figs = sub.add_parser(
        "figures",
        help="write the paper's figures (PNG and HTML), with your runs beside the published numbers",
        description="Write the paper's figures from the authors' result tables (assets/paper_results): "
        "main (MLM and MRC-KL per model), thresholds (Object at 0.9 ... 0.0), seeds (every published "
        "seed), labelmatch (LabelMatch subsets) and mrc_xe (MRC-XE readout). --runs adds folders written "
        "by `vlexplore diagnose --out DIR`, drawn beside the published values and labelled as yours.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    figs.add_argument("--out", required=True, help="folder for NAME.png and NAME.html")
    figs.add_argument("--runs", nargs="+", metavar="RESULTS_DIR",
                      help="folders written by `vlexplore diagnose --out DIR` to draw beside the paper")
    figs.add_argument("--format", nargs="+", choices=["png", "html"],
                      help="which files to write (default: png html; PNG needs Chrome or Chromium)")
    figs.add_argument("--quiet", action="store_true", help="no progress bar")
    figs.set_defaults(func=cmd_figures)

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
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception as error:  # anything else is a bug in vlexplore
        log = log_internal_error(f"argv={argv if argv is not None else sys.argv[1:]}")
        print(internal_error_message(error, log), file=sys.stderr)
        if log is None:
            traceback.print_exc()
        return 1
