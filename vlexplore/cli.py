"""The ``vlexplore`` command: the same library calls the app makes, over a whole dataset.

May import anything in vlexplore (lazily, so ``--help`` stays fast); nothing imports it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import warnings
from pathlib import Path

from . import __version__

EPILOG = """examples:
  vlexplore diagnose --model demo --dataset demo
  vlexplore diagnose --model demo-gold --dataset demo --json
  vlexplore diagnose --model volta:uniter --checkpoint ctrl_uniter/pytorch_model_9.bin \\
      --dataset flickr30k:/data/flickr30k_entities --features /data/flickr30k_val.tsv
  vlexplore diagnose --model hf:/models/vilt-b32-mlm --dataset demo --limit 50
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
    model_options = {"checkpoint": args.checkpoint} if args.checkpoint else {}
    dataset_options = {k: v for k, v in (("features", args.features), ("images", args.images)) if v}
    if args.split:
        dataset_options["split"] = args.split
    model = registry.load_model(args.model, **model_options)
    dataset = registry.load_dataset(args.dataset, **dataset_options)
    skipped: list[str] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        results = list(
            diagnose_dataset(
                model, dataset, settings, limit=args.limit, batch_size=args.batch_size,
                progress=not args.quiet, skipped=skipped,
            )
        )
    if not results:
        print(f"error: no phrase of {args.dataset!r} could be diagnosed ({len(skipped)} skipped)", file=sys.stderr)
        for reason in skipped[:5]:
            print(f"  {reason}", file=sys.stderr)
        return 1
    summary = summarize(results)
    agreement = label_agreement(results)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        results_frame(results).to_csv(out / "phrases.csv", index=False)
        meta = {**summary, "model": args.model, "dataset": args.dataset, "settings": settings.as_dict(),
                "label_agreement": agreement, "skipped": skipped}
        (out / "summary.json").write_text(json.dumps(_json_safe(meta), indent=2) + "\n")
    if args.json:
        print(json.dumps(_json_safe(summary)))
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
    sys.argv = ["streamlit", "run", str(app), "--server.port", str(args.port)]
    return stcli.main()


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
    diag.add_argument("--limit", type=int, help="diagnose only the first N phrases")
    diag.add_argument("--threshold", type=float, default=0.5, help="alignment threshold, strict (default 0.5)")
    diag.add_argument("--alignment", choices=["iot", "iou"], default="iot",
                      help="overlap measure for alignment (default iot: intersection over target)")
    diag.add_argument("--baseline", choices=["average", "zero"], default="average",
                      help="vision-for-language replacement feature (default: dataset average)")
    diag.add_argument("--recompute-global-lang4vis", action="store_true",
                      help="recompute the global feature after zeroing aligned regions (the paper does not)")
    diag.add_argument("--batch-size", type=int, default=8, help="phrases per forward pass (default 8)")
    diag.add_argument("--threads", type=int, help="torch CPU threads")
    diag.add_argument("--out", help="folder for phrases.csv (one row per phrase) and summary.json")
    diag.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    diag.add_argument("--quiet", action="store_true", help="no progress bar")
    diag.set_defaults(func=cmd_diagnose)

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
    except (ValueError, FileNotFoundError, KeyError) as error:
        message = error.args[0] if isinstance(error, KeyError) and error.args else error
        print(f"error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
