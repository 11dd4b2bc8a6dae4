"""The benchmark's recipes and report, on hand-made rows (no training): means, ratios, honesty about weights."""

from __future__ import annotations

from pathlib import Path

import pytest

from anomalib_kd_plugins.bench.report import COLUMNS, frame, galleries, markdown, plots, write_csv
from anomalib_kd_plugins.bench.suites import NEEDS_WEIGHTS, make_suite, pretrained_available, recipe


def _row(model: str, category: str, auroc: float | None, latency: float, rss: float) -> dict:
    quality = {} if auroc is None else {"image_AUROC": auroc, "pixel_AUROC": auroc, "pixel_AUPRO": auroc / 2}
    quality = {**quality, "pixel_AUPR": auroc / 4} if quality else quality
    return {
        "suite": "demo",
        "model": model,
        "category": category,
        "backbone": "b",
        "fit_s": 10.0,
        "latency_ms_b1": latency,
        "throughput_ips_b8": 100.0,
        "peak_rss_mb": rss,
        "params_m": 1.0,
        **quality,
        **({"note": NEEDS_WEIGHTS} if auroc is None else {}),
    }


ROWS = [
    _row("Adps", "brick", 0.9, 40.0, 1000.0),
    _row("Adps", "grass", 0.7, 60.0, 1200.0),
    _row("Patchcore", "brick", 0.8, 10.0, 2000.0),
    _row("Patchcore", "grass", 0.6, 30.0, 2400.0),
    _row("ReverseDistillation", "brick", None, 20.0, 500.0),
]


def test_frame_adds_nan_aware_means_and_every_column() -> None:
    df = frame(ROWS)
    assert set(COLUMNS) <= set(df.columns)
    mean = df[(df.model == "Adps") & (df.category == "mean")].iloc[0]
    assert mean.image_AUROC == pytest.approx(0.8)
    assert mean.latency_ms_b1 == pytest.approx(50.0)
    assert mean.peak_rss_mb == 1200.0  # the process's peak, not a mean
    rd = df[(df.model == "ReverseDistillation") & (df.category == "mean")].iloc[0]
    assert rd.image_AUROC != rd.image_AUROC  # NaN: no quality without pretrained weights
    assert rd.note == NEEDS_WEIGHTS


def test_markdown_ratios_against_the_baseline_and_no_unpretrained_quality() -> None:
    table = markdown(frame(ROWS), baseline="Patchcore")
    adps = next(line for line in table.splitlines() if line.startswith("| Adps |"))
    # fit 10/10, latency 50/20, RSS 1200/2400
    assert adps.rstrip(" |").endswith("1.00 | 2.50 | 0.50")
    rd = next(line for line in table.splitlines() if line.startswith("| ReverseDistillation |"))
    assert rd.count(NEEDS_WEIGHTS) == 6 and "0." not in rd.split("|")[3]
    assert "| Adps | 0.225 / 0.450 / 0.900 / 0.900 | 0.175 / 0.350 / 0.700 / 0.700 |" in table  # AP/PRO/AUROCs
    assert "×Patchcore" not in markdown(frame(ROWS), baseline="Nope")


def test_csv_and_plots_are_written(tmp_path: Path) -> None:
    df = frame(ROWS)
    csv = write_csv(df, tmp_path / "bench.csv")
    header = csv.read_text().splitlines()[0].split(",")
    assert header[: len(COLUMNS)] == list(COLUMNS) and header[-1] == "note"
    assert len(csv.read_text().splitlines()) == 1 + len(ROWS) + 3
    for png in plots(df, tmp_path):
        assert png.read_bytes()[:4] == b"\x89PNG" and png.stat().st_size > 5000


def test_recipes_follow_the_table_and_flags() -> None:
    assert recipe("Adps").init_args["backbone"] == "tf_efficientnet_lite0"
    assert recipe("Adps", "paper").init_args["backbone"] == "wide_resnet50_2"
    assert recipe("Adps", "paper").trainer == {"max_epochs": 300}
    assert recipe("Patchcore", paper_backbones=True).constructor_args()["layers"] == ["layer2", "layer3"]
    assert recipe("ReverseDistillation").init_args["backbone"] == "resnet18"  # RD's decoder needs a ResNet
    assert recipe("Dmdd", epochs=3).trainer == {"max_epochs": 3}
    assert recipe("Patchcore", epochs=3).trainer == {"max_epochs": 1}  # one pass by definition
    assert recipe("Adps", image_size=64).image_size == 64
    with pytest.raises(ValueError, match="Unknown model 'NoSuchModel'"):
        recipe("NoSuchModel")
    assert recipe("Patchcore@256").image_size == 256 and recipe("Patchcore@256", image_size=64).image_size == 256
    assert recipe("Patchcore@256").why.endswith("; run at 256² (Patchcore@256)")  # the recipe says its own size
    assert recipe("Adps", image_size=64).why.endswith("(--image-size 64)") and recipe("Patchcore@128").why == (
        recipe("Patchcore").why
    )
    assert recipe("Padim", epochs=3).trainer == {"max_epochs": 1}  # PaDiM's table recipe: one pass, n_features
    assert recipe("Padim").init_args["n_features"] == 100


def test_suites_check_their_roots(tmp_path: Path) -> None:
    with pytest.raises(SystemExit, match="needs --root"):
        make_suite("mvtec", None, None, tmp_path)
    with pytest.raises(SystemExit, match="not found under"):
        make_suite("mvtec", str(tmp_path), ["bottle"], tmp_path)
    with pytest.raises(SystemExit, match="--normal-dir"):
        make_suite("folder", str(tmp_path), None, tmp_path)
    suite = make_suite("folder", str(tmp_path), None, tmp_path, {"normal_dir": "good", "mask_dir": None})
    assert suite.folder == {"normal_dir": "good"} and suite.categories == [tmp_path.name]


def test_weight_availability_is_probed_offline(seeded_weights: Path) -> None:
    assert pretrained_available("tf_efficientnet_lite0")
    assert not pretrained_available("resnet18")  # not seeded: offline, so RD4AD's quality is not reported


def test_markdown_states_the_openvino_precision_it_measured() -> None:
    rows = [{**ROWS[0], "ov_latency_ms_b1": 5.0, "ov_throughput_ips_b8": 200.0, "ov_precision": "bf16"}, *ROWS[1:]]
    table = markdown(frame(rows), baseline="Patchcore")
    head = table.splitlines()[0].split(" | ")
    adps = next(line for line in table.splitlines() if line.startswith("| Adps |")).split(" | ")
    assert adps[head.index("OV precision")] == "bf16"  # the mean row carries the timed category's precision
    assert "OV precision" not in markdown(frame(ROWS), baseline="Patchcore")  # no OpenVINO timing, no column


def test_several_seeds_give_mean_and_std_of_the_per_seed_means() -> None:
    rows = [{**r, "seed": 0} for r in ROWS[:4]]
    rows += [{**r, "seed": 1, "image_AUROC": r["image_AUROC"] - 0.1} for r in ROWS[:4]]  # seed 1: 0.1 lower
    df = frame(rows)
    assert len(df[(df.model == "Adps") & (df.category == "mean")]) == 2  # one mean row per seed
    table = markdown(df, baseline="Patchcore")
    head = table.splitlines()[0].split(" | ")
    adps = next(line for line in table.splitlines() if line.startswith("| Adps |")).split(" | ")
    # per-seed means 0.8 and 0.7: mean 0.75, sample std 0.0707
    assert adps[head.index("img AUROC")] == "0.750 ± 0.071"
    assert "mean ± std over seeds 0, 1" in table
    assert "| Adps | 0.225 ± 0.000 / 0.450 ± 0.000 / 0.900 ± 0.000 / 0.850 ± 0.071 |" in table


def test_gallery_puts_image_truth_and_every_models_map_side_by_side(tmp_path: Path) -> None:
    import numpy as np

    rng = np.random.default_rng(0)
    for model in ("Adps", "Dmdd"):
        np.savez_compressed(
            tmp_path / f"{model}__brick.npz",
            images=rng.integers(0, 255, (3, 3, 32, 32), dtype=np.uint8),
            masks=rng.random((3, 32, 32)) > 0.8,
            maps=rng.random((3, 32, 32)).astype(np.float16),
            names=np.array(["good/000.png", "scratch/000.png", "contamination/000.png"]),
        )
    written = galleries(tmp_path, tmp_path, ["brick", "grass"], ["Adps", "Dmdd", "Patchcore"])
    assert written == [tmp_path / "gallery_brick.png"]  # no maps saved for grass: no gallery
    assert written[0].read_bytes()[:4] == b"\x89PNG" and written[0].stat().st_size > 5000


def test_set_overrides_one_recipe_setting_of_one_model() -> None:
    from anomalib_kd_plugins.bench import BenchConfig
    from anomalib_kd_plugins.bench.driver import parser

    def config(*settings: str) -> BenchConfig:
        return BenchConfig.from_namespace(parser().parse_args(["--models", "Adps", "Patchcore", "--set", *settings]))

    sets = ("Adps.anomaly_source=self", "Adps.sigma=2", "Adps.max_epochs=20", "Patchcore.normalization=imagenet")
    recipes = config(*sets).model_recipes()
    assert recipes["Adps"].init_args["anomaly_source"] == "self" and recipes["Adps"].init_args["sigma"] == 2
    assert recipes["Adps"].trainer == {"max_epochs": 20}
    assert recipes["Patchcore"].normalization == "imagenet" and "anomaly_source" not in recipes["Patchcore"].init_args
    assert recipe("Adps").init_args.get("anomaly_source") != "self"  # the table's recipe is untouched
    with pytest.raises(SystemExit, match="not among the models"):
        config("Dmdd.kd_reduction=batch_sum")
    with pytest.raises(SystemExit, match=r"expected MODEL\.KEY=VALUE"):
        config("anomaly_source=self")
    with pytest.raises(ValueError, match="not among the models"):  # the typed entry point says the same
        BenchConfig(models=("Adps",), settings={"Dmdd": {"sigma": 2}})


@pytest.mark.parametrize(("config", "kind"), [("realphoto_cpu", "cpu"), ("mvtec_paper", "paper")])
def test_benchmark_grids_use_the_recipe_table(config: str, kind: str) -> None:
    """The `anomalib benchmark` grids carry each model's teacher and layers from the recipe table."""
    import yaml

    from anomalib_kd_plugins.recipes import config_dir, paper_backbone
    from anomalib_kd_plugins.recipes import recipe as table_recipe

    grid = yaml.safe_load((config_dir() / "benchmark" / f"{config}.yaml").read_text())["benchmark"]["model"]["grid"]
    for member in grid:
        model, args = member["class_path"], member["init_args"]
        expected = paper_backbone(model) if kind == "paper" else table_recipe(model, "cpu").constructor_args()
        assert (args["backbone"], args["layers"]) == (expected["backbone"], expected["layers"]), model


def test_unclamped_metrics_are_averaged_and_reported_against_the_post_processed_ones() -> None:
    raw = {"raw_pixel_AUPR": 0.5, "raw_pixel_AUPRO": 0.6, "raw_pixel_AUROC": 0.7, "raw_image_AUROC": 0.8}
    rows = [{**ROWS[0], **raw}, {**ROWS[1], **{k: v / 2 for k, v in raw.items()}}]
    df = frame(rows)
    mean = df[(df.model == "Adps") & (df.category == "mean")].iloc[0]
    assert mean.raw_pixel_AUPR == pytest.approx(0.375)  # the mean over categories, not the first category's
    assert mean.pixel_AUPR == pytest.approx(0.2)
    text = markdown(df, baseline=None)
    assert "| Adps | 0.200 → 0.375 (+0.175) |" in text


def test_the_demo_suite_refuses_data_built_at_another_size(tmp_path: Path) -> None:
    # `anomalib-kd data build DIR --image-size 128` then `bench --root DIR` would score other pixels with no word said
    from anomalib_kd_plugins.data import BuildConfig, build

    root = build(
        tmp_path / "data", ["grass"], BuildConfig(image_size=64, num_train=2, num_test_good=1, num_test_per_defect=1)
    )
    with pytest.raises(SystemExit, match="image_size=64"):
        make_suite("demo", str(root), ["grass"], tmp_path)


def test_curves_are_kept_per_fit_plotted_per_model_and_summarised(tmp_path: Path) -> None:
    import pandas as pd

    from anomalib_kd_plugins.bench.curves import plateau_table, plot_curves, save_curves

    workdir = tmp_path / "run"
    (workdir / "curves").mkdir(parents=True)
    epochs = range(8)
    logged = pd.DataFrame(
        {
            "epoch": [*epochs, 7],
            "train_loss": [1.0 / (e + 1) for e in epochs] + [None],
            "student_distance/level1": [0.8 * 0.7**e for e in epochs] + [None],  # still falling at the end
            "student_distance/level2": [0.5] * 8 + [None],
            "probe/pixel_AP_seg": [0.1 * e for e in epochs] + [None],
            "pixel_AUROC": [None] * 8 + [0.9],  # a validation row: not a curve row
        }
    )
    logged.to_csv(workdir / "curves" / "metrics.csv", index=False)
    kept = save_curves(workdir, tmp_path / "curves" / "Adps__brick__seed0.csv")
    frame = pd.read_csv(kept)
    assert len(frame) == 8 and "pixel_AUROC" not in frame and "train_loss" in frame
    pd.DataFrame({"epoch": epochs, "student_distance/level1": [0.3] * 8}).to_csv(
        tmp_path / "curves" / "Adps__grass__seed0.csv", index=False
    )
    assert plot_curves(tmp_path / "curves", tmp_path) == [tmp_path / "curves_Adps.png"]
    table = plateau_table(tmp_path / "curves")
    assert "| Adps | brick | 0 | 8 | student" in table and "still moving" in table.splitlines()[2]
    assert "fell 11% over the last quarter" in table.splitlines()[2]  # level mean 0.317 at epoch 5, 0.283 at 7
    assert "plateau" in table.splitlines()[3]  # grass: flat
    # a student frozen after 8 of 12 epochs (Dmdd's student phase) is judged over the 8 in which it trained: flat
    # over the last quarter of all 12, but still falling when it stopped
    frozen = [0.8 * 0.7**e for e in epochs] + [0.8 * 0.7**7] * 4
    pd.DataFrame(
        {"epoch": range(12), "loss_kd": [1.0] * 8 + [None] * 4, "student_distance/normality_level1": frozen}
    ).to_csv(tmp_path / "curves" / "Dmdd__brick__seed0.csv", index=False)
    row = next(r for r in plateau_table(tmp_path / "curves").splitlines() if "| Dmdd |" in r)
    assert "normality 0.066 (fell 51% over the last quarter of its 8 training epochs, still moving)" in row
    assert save_curves(tmp_path / "nothing", tmp_path / "x.csv") is None  # PatchCore logs no curves


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="Linux /proc: VmHWM")
def test_a_worker_reports_its_own_peak_not_the_parents() -> None:
    """Linux carries ru_maxrss over exec: a worker spawned by a large driver would report the driver's size."""
    import subprocess
    import sys

    parent = bytearray(512 * 2**20)
    parent[::4096] = b"\x01" * len(parent[::4096])  # 512 MiB resident in this process
    child = (
        "from anomalib_kd_plugins.bench.measure import peak_rss_mb\n"
        "small = peak_rss_mb()\n"
        "buf = bytearray(256 * 2**20); buf[::4096] = b'\\x01' * len(buf[::4096])\n"
        "print(small, peak_rss_mb())\n"
    )
    out = subprocess.run([sys.executable, "-c", child], check=True, capture_output=True, text=True).stdout
    small, large = map(float, out.split())
    assert small < 256 and 256 <= large < 512, (small, large)  # its own memory, with the 256 MiB it touched
    del parent
