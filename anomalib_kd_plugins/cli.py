"""``anomalib-kd``: anomalib's own CLI with the plugins registered, plus ``weights``, ``data`` and ``demo`` commands.

* ``anomalib-kd weights seed [--from FILE --timm-name NAME] [--cache-dir DIR]``
* ``anomalib-kd data build OUT [--categories ...] [--seed N] [--image-size N]``
* ``anomalib-kd demo [--models Adps ...] [--category brick] [--epochs N] [--out DIR]``
* anything else (``train``, ``test``, ``predict``, ``export``, ``benchmark`` …) goes to ``anomalib`` unchanged.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

OWN_COMMANDS = ("weights", "data", "demo")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="anomalib-kd",
        description="ADPS/DMDD for anomalib. Other commands (train, test, predict, export, benchmark, ...) are "
        "anomalib's own, with the plugin models registered.",
    )
    sub = parser.add_subparsers(dest="command", required=True)

    weights = sub.add_parser("weights", help="offline backbone weights").add_subparsers(dest="action", required=True)
    seed = weights.add_parser("seed", help="write weights into the local Hugging Face cache for offline use")
    seed.add_argument("--from", dest="weight_file", help="a state-dict file (.pth/.pt/.safetensors) of a timm model")
    seed.add_argument("--timm-name", help="the timm model the file belongs to (required with --from)")
    seed.add_argument("--cache-dir", help="hub cache folder (default: HF_HUB_CACHE or ~/.cache/huggingface/hub)")

    data = sub.add_parser("data", help="real-photo datasets").add_subparsers(dest="action", required=True)
    build = data.add_parser("build", help="build MVTec-layout categories from photographs shipped in scikit-image")
    build.add_argument("out", help="output root (load it with anomalib.data.MVTecAD(root=OUT, category=...))")
    build.add_argument("--categories", nargs="+", default=None, help="default: brick grass coins")
    build.add_argument("--seed", type=int, default=0)
    build.add_argument("--image-size", type=int, default=256)
    build.add_argument("--num-train", type=int, default=60)

    demo = sub.add_parser("demo", help="seed weights, build the real-photo data, train and test the models")
    demo.add_argument("--models", nargs="+", default=None, help="default: every registered plugin model")
    demo.add_argument("--category", default="brick")
    demo.add_argument("--epochs", type=int, default=None, help="default: the CPU preset's")
    demo.add_argument("--out", default="demo_output")
    return parser


def _own_command(argv: Sequence[str]) -> int:
    args = _parser().parse_args(argv)
    if args.command == "weights":
        from anomalib_kd_plugins.weights import WeightsError, seed

        try:
            path = seed(args.weight_file, args.timm_name, args.cache_dir)
        except WeightsError as exc:
            print(f"anomalib-kd weights seed: {exc}", file=sys.stderr)
            return 2
        print(f"Seeded {path}\nUse it offline with HF_HUB_OFFLINE=1 and pre_trained=True.")
        return 0
    if args.command == "data":
        from anomalib_kd_plugins.data import DEFAULT_CATEGORIES, BuildConfig, build

        cfg = BuildConfig(image_size=args.image_size, num_train=args.num_train, seed=args.seed)
        root = build(args.out, args.categories or DEFAULT_CATEGORIES, cfg)
        print(f"Wrote {', '.join(args.categories or DEFAULT_CATEGORIES)} to {root} (MVTec AD layout)")
        return 0
    from anomalib_kd_plugins.demo import run_demo

    return run_demo(models=args.models, category=args.category, epochs=args.epochs, out=args.out)


def main(argv: Sequence[str] | None = None) -> int | None:
    """Entry point of the ``anomalib-kd`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in OWN_COMMANDS:
        return _own_command(argv)
    if argv and argv[0] in ("-h", "--help") and len(argv) == 1:
        _parser().print_help()
        print("\nanomalib's commands follow:\n")
    from anomalib_kd_plugins.registry import register_all

    register_all()
    from anomalib.cli.cli import main as anomalib_main

    sys.argv = ["anomalib", *argv]
    return anomalib_main()


if __name__ == "__main__":
    sys.exit(main())
