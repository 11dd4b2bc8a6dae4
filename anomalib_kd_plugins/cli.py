"""``anomalib-kd``: anomalib's own CLI with the plugins registered, plus ``weights``, ``data`` and ``demo`` commands.

* ``anomalib-kd weights seed [--from FILE --timm-name NAME] [--cache-dir DIR]``
* ``anomalib-kd data build OUT [--categories ...] [--seed N] [--image-size N]``
* ``anomalib-kd data fix-images SRC DST [--exif apply|strip]``: 8-bit, upright copies of a camera's image tree
* ``anomalib-kd data ksdd2 SRC DST``: KolektorSDD2 linked into the ``Folder`` layout of the ``adps_ksdd2`` config
* ``anomalib-kd config NAME [--out FILE]`` / ``--list`` / ``--write-all DIR``: the anomalib CLI configs of the recipe
  table (``adps``, ``adps_ksdd2``, ``adps_cpu``, ``dmdd``, ``dmdd_b``, ``dmdd_cpu``), also shipped in
  ``anomalib_kd_plugins/configs``
* ``anomalib-kd demo [--models Adps ...] [--category brick] [--epochs N] [--seed 0] [--out DIR]``
* ``anomalib-kd bench [--suite demo|mvtec|folder] [--models ...] [--backends torch openvino] [--out DIR] ...``
* ``anomalib-kd benchmark --config FILE``: anomalib's benchmark pipeline, plus the config's ``trainer:`` key as
  Lightning ``PL_TRAINER_*`` defaults, and a non-zero exit unless ``results.csv`` has a row per job
* anything else (``train``, ``test``, ``predict``, ``export``, ``benchmark`` …) goes to ``anomalib`` unchanged.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from typing import Any

OWN_COMMANDS = ("weights", "data", "config", "demo", "bench")


def _parser() -> argparse.ArgumentParser:
    from anomalib_kd_plugins.data.realphoto import SUITE_SIZE

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
    build.add_argument("--categories", nargs="+", default=None, help="default: brick grass gravel coins")
    build.add_argument("--seed", type=int, default=0)
    build.add_argument(
        "--image-size",
        type=int,
        default=SUITE_SIZE,
        help=f"default {SUITE_SIZE}, the demo suite's size (the bench refuses other builds; recipes resize)",
    )
    build.add_argument("--num-train", type=int, default=60)
    fix = data.add_parser(
        "fix-images", help="copy an image tree as anomalib should read it: 16-bit → 8-bit, EXIF orientation applied"
    )
    fix.add_argument("src", help="root of the image tree (never written to)")
    fix.add_argument("dst", help="new, empty output folder outside SRC")
    fix.add_argument(
        "--exif",
        choices=("apply", "strip"),
        default="apply",
        help="apply: turn images (and masks) upright; strip: keep the stored pixels, drop the tag (default: apply)",
    )

    ksdd2 = data.add_parser("ksdd2", help="link KolektorSDD2 into the folder layout of the adps_ksdd2 config")
    ksdd2.add_argument("src", help="the unpacked KolektorSDD2 folder, holding train/ and test/ (never written to)")
    ksdd2.add_argument("dst", help="new folder for the links (the config reads ./datasets/KolektorSDD2_folder)")

    config = sub.add_parser("config", help="print (or write) an anomalib CLI config of the recipe table")
    config.add_argument("name", nargs="?", help="adps, adps_ksdd2, adps_cpu, dmdd, dmdd_b or dmdd_cpu")
    config.add_argument("--out", help="write it to this file instead of printing it")
    config.add_argument("--list", action="store_true", help="list the names")
    config.add_argument(
        "--write-all", metavar="DIR", help="write every config into DIR (how the shipped ones are made)"
    )

    demo = sub.add_parser("demo", help="seed weights, build the real-photo data, train and test the models")
    demo.add_argument("--models", nargs="+", default=None, help="default: every registered plugin model")
    demo.add_argument("--category", default="brick")
    demo.add_argument("--epochs", type=int, default=None, help="default: the CPU preset's")
    demo.add_argument("--seed", type=int, default=0, help="seed_everything before each model's fit (default 0)")
    demo.add_argument("--out", default="demo_output")

    from anomalib_kd_plugins.bench.driver import parser as bench_parser

    bench_parser(sub.add_parser("bench", help="Adps, Dmdd, PatchCore and RD4AD side by side: quality, speed, memory"))
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
    if args.command == "data" and args.action == "fix-images":
        from anomalib_kd_plugins.data.fix_images import fix_images

        return _data_tool(
            "fix-images",
            lambda: fix_images(args.src, args.dst, args.exif),
            lambda report: (
                f"Wrote {args.dst}: {len(report.to_8bit)} converted to 8-bit, {len(report.rotated)} turned upright, "
                f"{len(report.stripped)} without their EXIF orientation, {len(report.copied)} copied unchanged."
            ),
        )
    if args.command == "data" and args.action == "ksdd2":
        from anomalib_kd_plugins.data.ksdd2 import make_ksdd2_layout

        return _data_tool(
            "ksdd2",
            lambda: make_ksdd2_layout(args.src, args.dst),
            lambda layout: (
                f"Linked {args.dst}: {layout.train_good} training images, {layout.test_good} good and "
                f"{layout.test_defect} defective test images ({layout.train_defect_skipped} defective training "
                "images left out: training uses defect-free images only)"
            ),
        )
    if args.command == "data":
        from anomalib_kd_plugins.data import DEFAULT_CATEGORIES, BuildConfig, build

        cfg = BuildConfig(image_size=args.image_size, num_train=args.num_train, seed=args.seed)
        root = build(args.out, args.categories or DEFAULT_CATEGORIES, cfg)
        print(f"Wrote {', '.join(args.categories or DEFAULT_CATEGORIES)} to {root} (MVTec AD layout)")
        return 0
    if args.command == "config":
        return _config(args)
    if args.command == "bench":
        from anomalib_kd_plugins.bench.driver import run_cli

        return run_cli(args)
    from anomalib_kd_plugins.demo import run_demo

    return run_demo(models=args.models, category=args.category, epochs=args.epochs, out=args.out, seed=args.seed)


def _data_tool(action: str, make: Callable[[], Any], describe: Callable[[Any], str]) -> int:
    """Run one ``anomalib-kd data`` tool: its summary line, or its ValueError as one line and exit code 2."""
    try:
        result = make()
    except ValueError as exc:
        print(f"anomalib-kd data {action}: {exc}", file=sys.stderr)
        return 2
    print(describe(result))
    return 0


def _config(args: argparse.Namespace) -> int:
    """``anomalib-kd config``: the recipe table's configs, printed, written, or listed."""
    from pathlib import Path

    from anomalib_kd_plugins.recipes import config_dir, config_names, render_config

    if args.list or not (args.name or args.write_all):
        for name in config_names():
            print(f"{name}\t{config_dir() / (name + '.yaml')}")
        return 0
    if args.write_all:
        out = Path(args.write_all)
        out.mkdir(parents=True, exist_ok=True)
        for name in config_names():
            (out / f"{name}.yaml").write_text(render_config(name))
        print(f"Wrote {len(config_names())} configs to {out}")
        return 0
    if args.name not in config_names():
        print(f"anomalib-kd config: unknown name {args.name!r}; choose from {config_names()}", file=sys.stderr)
        return 2
    text = render_config(args.name)
    if args.out:
        Path(args.out).write_text(text)
        print(f"Wrote {args.out}; run it with `anomalib train --config {args.out}`")
    else:
        print(text, end="")
    return 0


def _benchmark(argv: list[str]) -> int:
    """``anomalib benchmark`` with trainer defaults from the config and an exit code that reflects the results."""
    import os
    from pathlib import Path

    import yaml

    config_args = argparse.ArgumentParser(add_help=False)
    config_args.add_argument("--config", required=True)
    config = Path(config_args.parse_known_args(argv[1:])[0].config)
    if not config.is_file():
        print(f"anomalib-kd benchmark: no such config file {config}", file=sys.stderr)
        return 2
    cfg = yaml.safe_load(config.read_text()) or {}
    for key, value in (cfg.get("trainer") or {}).items():  # Lightning's Trainer reads PL_TRAINER_<ARG> defaults
        os.environ.setdefault(f"PL_TRAINER_{key.upper()}", str(value))
    if "PL_TRAINER_MAX_EPOCHS" not in os.environ:
        print("anomalib-kd benchmark: no trainer.max_epochs: trained models will run 1000 epochs", file=sys.stderr)
    from anomalib.pipelines.components.utils import get_iterator_from_grid_dict

    expected = sum(1 for _ in get_iterator_from_grid_dict(cfg.get("benchmark") or {}))
    before = set(Path("runs/benchmark").glob("*/results.csv"))
    from anomalib.cli.cli import main as anomalib_main

    sys.argv = ["anomalib", *argv]
    anomalib_main()
    new = sorted(set(Path("runs/benchmark").glob("*/results.csv")) - before)
    rows = len(new[-1].read_text().strip().splitlines()) - 1 if new else 0
    if rows != expected:
        print(
            f"anomalib-kd benchmark: expected {expected} result rows, found {rows} "
            f"({new[-1] if new else 'no runs/benchmark/*/results.csv'}); see runs/pipeline.log",
            file=sys.stderr,
        )
        return 1
    print(f"anomalib-kd benchmark: {rows} jobs, results in {new[-1]}")
    return 0


def main(argv: Sequence[str] | None = None) -> int | None:
    """Entry point of the ``anomalib-kd`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in OWN_COMMANDS:
        if argv[0] in ("demo", "bench"):  # the commands that train; the others never import Lightning
            from anomalib_kd_plugins.console import quiet_console

            quiet_console()
        return _own_command(argv)
    if argv and argv[0] in ("-h", "--help") and len(argv) == 1:
        _parser().print_help()
        print("\nanomalib's commands follow:\n")
    from anomalib_kd_plugins.registry import register_all

    register_all()
    if argv and argv[0] == "benchmark" and not {"-h", "--help"} & set(argv):
        return _benchmark(argv)
    from anomalib.cli.cli import main as anomalib_main

    sys.argv = ["anomalib", *argv]
    return anomalib_main()


if __name__ == "__main__":
    sys.exit(main())
