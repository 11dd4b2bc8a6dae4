"""RSS stability of Adps and Dmdd: 5 training epochs, then 1,000 inference calls, on a real-photo demo category.

A measurement, not a test: prints the RSS after each epoch and every 100 calls, and the drift
(max − min) / first over each phase, which should stay within 5 %. Each model runs in its own process.

    python benchmarks/memory.py [--models Adps Dmdd] [--epochs 5] [--calls 1000] [--category brick]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")


def worker(model_name: str, category: str, epochs: int, calls: int, data: Path) -> dict:
    """Train ``epochs`` epochs of the model's CPU preset, then run ``calls`` batch-1 inferences; RSS along the way."""
    import torch
    from lightning.pytorch import Callback

    from anomalib_kd_plugins.bench.measure import current_rss_mb, peak_rss_mb
    from anomalib_kd_plugins.bench.suites import Suite
    from anomalib_kd_plugins.recipes import recipe
    from anomalib_kd_plugins.training import fit_and_test

    torch.set_num_threads(min(2, os.cpu_count() or 1))
    train_rss: list[float] = []

    class RssPerEpoch(Callback):
        def on_train_epoch_end(self, trainer, pl_module) -> None:
            del trainer, pl_module
            train_rss.append(current_rss_mb())

    preset = recipe(model_name, "cpu")
    dm = Suite("demo", str(data), [category]).datamodule(category, preset.train_batch_size)
    with tempfile.TemporaryDirectory() as workdir:
        metrics, _, model = fit_and_test(
            preset,
            dm,
            workdir,
            model_overrides={"visualizer": False},
            trainer_overrides={"max_epochs": epochs, "callbacks": [RssPerEpoch()], "enable_progress_bar": False},
        )
    image = next(iter(dm.test_dataloader())).image[:1]
    model.eval()
    infer_rss = []
    with torch.inference_mode():
        for call in range(1, calls + 1):
            model(image)
            if call % 100 == 0:
                infer_rss.append(current_rss_mb())
    return {
        "model": model_name,
        "train_rss_mb": train_rss,
        "infer_rss_mb": infer_rss,
        "peak_rss_mb": peak_rss_mb(),
        "pixel_AUROC": metrics.get("pixel_AUROC"),
    }


def drift(values: list[float]) -> float:
    """(max − min) / first, in percent."""
    return 100 * (max(values) - min(values)) / values[0] if values else float("nan")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", default=["Adps", "Dmdd"])
    parser.add_argument("--category", default="brick")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--data", default="bench_output/data", help="real-photo data root (built if missing)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    data = Path(args.data).resolve()
    if args.worker:
        print(json.dumps(worker(args.worker, args.category, args.epochs, args.calls, data)))
        return 0

    from anomalib_kd_plugins.data import BuildConfig, build
    from anomalib_kd_plugins.weights import seed

    seed()
    if not (data / args.category / "train" / "good").is_dir():
        build(data, [args.category], BuildConfig())
    results = []
    for name in args.models:
        cmd = [sys.executable, __file__, "--worker", name, *sys.argv[1:]]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        results.append(json.loads(out.strip().splitlines()[-1]))
    print(
        f"| model | RSS after epochs 1..{args.epochs} (MiB) | drift | RSS every 100 of {args.calls} calls (MiB) "
        "| drift | peak RSS MiB |"
    )
    print("|---|---|---|---|---|---|")
    for r in results:
        train, infer = r["train_rss_mb"], r["infer_rss_mb"]
        print(
            f"| {r['model']} | {' '.join(f'{v:.0f}' for v in train)} | {drift(train):.1f} % "
            f"| {' '.join(f'{v:.0f}' for v in infer)} | {drift(infer):.1f} % | {r['peak_rss_mb']:.0f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
