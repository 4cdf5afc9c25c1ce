"""`gan-eval`: scores a run's averaged generator with any metric (its own by default), or a folder of images with
FID, Inception Score, KID and precision/recall as pytorch-fid computes them.

- run=: n samples of the run's averaged generator from checkpoints/best.pt or last.pt (checkpoint=), drawn as the
  loop draws them (seed=), scored by the run's own metric (digits, toy, stacked, fid...) or by metrics=NAME (a file
  of conf/metrics/), whose options metrics.KEY=VALUE change; the run's dataset as its config says
  (dataset.KEY=VALUE changes it, e.g. dataset.root=/data). The FID family's own options (real=, dims=, ...) ask
  for metrics=fid.
- fake=: a folder's images as pytorch-fid lists them (not recursive; all of them, or the first n), against real=:
  a folder (every image), a .npz of statistics (pytorch-fid's format; FID only, unless features were saved beside
  it as gan-runner's cache does), or a dataset config of conf/dataset/ (digits, mnist, cifar10, ...) at the
  images' resolution. Datasets give min(n, their size) images, a fixed subset, whose statistics and features are
  cached in cache_dir.

Prints a line per score; out=FILE.json also writes the scores with the protocol that made them.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from gan_runner.commands.arguments import Command, Option, flag, whole
from gan_runner.errors import UserError

# The FID family's own options: given for a run, they ask for metrics=fid.
FID_OPTIONS = ("real", "dims", "batch_size", "weights", "download", "cache_dir", "inception_score", "kid",
               "precision_recall")
SCORES = ("fid", "is_mean", "is_std", "kid_mean", "kid_std", "precision", "recall")  # a folder's, by plain name

COMMAND = Command(
    name="gan-eval",
    summary="scores a run's generator with any metric (its own by default), or a folder of images with FID, IS, KID "
            "and precision/recall as pytorch-fid computes them",
    options=[
        Option("run", "a run directory: score its averaged generator", placeholder="RUN_DIR"),
        Option("checkpoint", "best, last, or the path of a checkpoint file (run=)",
               default_text="best if there is one, else last", placeholder="NAME"),
        Option("metrics", "a metric of conf/metrics/ (run=; default: the run's own)", placeholder="NAME"),
        Option("n", "how many samples (run=; default: the metric's own) or images (fake=; default: all)", whole,
               placeholder="N"),
        Option("seed", "the seed of the samples (run=; default: the run's seed + 2, the noise of its own evaluations, "
               "so re-scoring the checkpoint of its last evaluation repeats that evaluation's numbers)", whole,
               placeholder="S"),
        Option("fake", "a folder of images to score against real=", placeholder="DIR"),
        Option("real", "train or test (a run's dataset, its split), a folder of images, a .npz of statistics, or a "
               "dataset of conf/dataset/", placeholder="WHAT"),
        Option("dims", "Inception features: 2048 (pool3, the standard FID), 768, 192 or 64", whole, placeholder="D"),
        Option("batch_size", "images per Inception pass", whole, placeholder="B"),
        Option("weights", "the Inception weights file (default: torch hub's cache)", placeholder="PATH"),
        Option("download", "fetch the weights when absent", flag, placeholder="true|false"),
        Option("cache_dir", "where real statistics and features are cached", placeholder="DIR"),
        Option("inception_score", "also the Inception Score (default: with dims=2048)", flag, placeholder="true|false"),
        Option("kid", "also the kernel inception distance", flag, placeholder="true|false"),
        Option("precision_recall", "also precision and recall", flag, placeholder="true|false"),
        Option("device", "auto (CUDA when present), cpu, cuda, cuda:N", default="auto", placeholder="DEVICE"),
        Option("out", "also write the scores and their protocol to this JSON file", placeholder="FILE.json"),
    ],
    prefixes=("dataset.", "metrics."),
    examples=["gan-eval run=outputs/2026-12-04/10-00-00                     # the run's own metric, best.pt",
              "gan-eval run=outputs/2026-12-04/10-00-00 metrics=fid n=10000 checkpoint=last out=scores.json",
              "gan-eval fake=samples/ real=cifar10 dataset.root=data dims=2048",
              "gan-eval fake=A real=B dims=64                                # as python -m pytorch_fid --dims 64 A B"],
)


def evaluate(options: dict[str, Any], prefixed: list[str], plain: list[str]) -> None:
    if (options["run"] is None) == (options["fake"] is None):
        raise UserError("give exactly one of run= (a run directory) and fake= (a folder of images). Fix: e.g. "
                        f"{COMMAND.examples[0].split('#')[0].strip()} (gan-eval --help lists every option).")
    result = score_run(options, prefixed) if options["run"] else score_folder(options, prefixed)
    for key, value in result.items():
        if key != "protocol" and value is not None:
            print(f"{key:24s} {value:.6g}")
    if options["out"]:
        out = Path(options["out"])
        if out.suffix != ".json":
            raise UserError(f"out={out} must end in .json. Fix: out=scores.json.")
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {out}")


def checkpoint_of(run_dir: Path, name: str | None) -> Path:
    """best.pt when the run has one (the default), else last.pt; or the one named, or a file's path."""
    from gan_runner.run_directory import RunDirectory

    if name is not None and name.endswith(".pt"):
        return Path(name)
    directory = RunDirectory(run_dir)
    if name is None:
        return directory.checkpoint("best") if directory.checkpoint("best").is_file() else directory.checkpoint("last")
    return directory.checkpoint(name)


def metric_config(saved: Any, options: dict[str, Any], prefixed: list[str]) -> Any:
    """The metric's config: metrics=NAME's, or metrics=fid when an option of the FID family is given, else the run's
    own; with n=, the FID options and metrics.KEY=VALUE applied, evaluated once (every: 0)."""
    from hydra import compose, initialize_config_module
    from omegaconf import OmegaConf

    fid_options = {key: options[key] for key in FID_OPTIONS if options[key] is not None}
    name = options["metrics"] or ("fid" if fid_options else None)
    if name is None:
        config = OmegaConf.create(saved.config["metrics"])
        if config.get("_target_", "").endswith("NoMetric"):
            raise UserError("The run was trained with metrics=none: it has no metric of its own. Fix: choose one, "
                            "e.g. gan-eval run=... metrics=digits (or fid, toy, stacked).")
    else:
        with initialize_config_module(config_module="gan_runner.conf", version_base="1.3"):
            config = compose(config_name="config", overrides=[f"metrics={name}"]).metrics
    real = fid_options.pop("real", None)
    if real is not None:  # a run's split, a folder or statistics file; a dataset's name: its images, as "train"
        fid_options["reference"] = real if real in ("train", "test") or Path(real).expanduser().exists() else "train"
    config = OmegaConf.merge(config, {"every": 0}, fid_options)
    if options["n"] is not None:
        config.n_samples = options["n"]
    for argument in prefixed:
        key, _, value = argument.partition("=")
        if key.startswith("metrics."):
            OmegaConf.update(config, key.removeprefix("metrics."), OmegaConf.from_dotlist([f"v={value}"]).v)
    return config


def score_run(options: dict[str, Any], prefixed: list[str]) -> dict[str, Any]:
    """The run's generator (its checkpoint read once) scored by the chosen metric, as the loop's evaluations score it."""
    from omegaconf import OmegaConf

    from gan_runner.engine.build import build, game_of, networks, resolve_device
    from gan_runner.run_directory import Checkpoint

    path = checkpoint_of(Path(options["run"]), options["checkpoint"])
    saved = Checkpoint.load(path)
    cfg = OmegaConf.create(saved.config)
    for argument in prefixed:
        key, _, value = argument.partition("=")
        if key.startswith("dataset."):
            OmegaConf.update(cfg, key, OmegaConf.from_dotlist([f"v={value}"]).v, force_add=True)
    metric_cfg = metric_config(saved, options, prefixed)
    real = options["real"]
    cfg.metrics = metric_cfg
    metric = build(cfg, "metrics")
    device = resolve_device(options["device"])
    generator, _, _ = networks(cfg, saved.data_shape, saved.num_classes, saved.source_shape)
    generator.load_state_dict(saved.state["G_ema"])
    generator = generator.to(device).eval()
    reference_is_a_dataset = real is not None and real not in ("train", "test") and not Path(real).expanduser().exists()
    dataset = named_dataset(real, prefixed, saved.data_shape[-1]) if reference_is_a_dataset else build(cfg, "dataset")
    metric.check(dataset)

    seed = int(cfg.seed) + 2 if options["seed"] is None else options["seed"]  # the loop's evaluation noise
    sample = game_of(cfg).sampler(generator, cfg, dataset, seed, device)  # as the loop's evaluations draw (the game's)
    values = metric(sample, dataset)
    protocol = {"run": str(Path(options["run"]).resolve()), "checkpoint": str(path), "step": saved.step,
                "seed": seed, "metric": metric_cfg["_target_"], **metric.protocol()}
    return {**values, "protocol": protocol}


def named_dataset(name: str, prefixed: list[str], resolution: int) -> object:
    """conf/dataset/<name>.yaml with the dataset.KEY=VALUE arguments, at `resolution` unless one sets it."""
    from hydra import compose, initialize_config_module
    from hydra.errors import HydraException
    from omegaconf import OmegaConf

    from gan_runner.engine.build import build

    overrides = [argument for argument in prefixed if argument.startswith("dataset.")]
    try:
        with initialize_config_module(config_module="gan_runner.conf", version_base="1.3"):
            config = compose(config_name="config", overrides=[f"dataset={name}", *overrides])
    except HydraException as error:
        raise UserError(f"real={name} is neither an existing folder or .npz file nor a dataset config "
                        f"({str(error).splitlines()[0]}). Fix: give a folder of images, a .npz of statistics, or one "
                        "of conf/dataset/ (digits, mnist, fashion_mnist, cifar10, image_folder).") from None
    if "resolution" in config.dataset and not any(o.startswith("dataset.resolution=") for o in overrides):
        config.dataset.resolution = resolution
    return build(OmegaConf.create({"dataset": config.dataset}), "dataset")


def score_folder(options: dict[str, Any], prefixed: list[str]) -> dict[str, Any]:
    """A folder's images against real=, with the FID family."""
    from gan_runner.metrics.fid import FID, SPLITS
    from gan_runner.metrics.inception import file_batches, image_files, read_rgb

    real = options["real"]
    if real is None:
        raise UserError("fake= needs real=, the images to compare with. Fix: e.g. gan-eval fake=A real=B dims=64.")
    if real in SPLITS:
        raise UserError(f"real={real} means a run's own dataset, which needs run=. Fix: real=DIR, real=FILE.npz or "
                        "real=DATASET (digits, mnist, cifar10, ...).")
    folder = Path(options["fake"]).expanduser()
    files = image_files(folder) if folder.is_dir() else []
    files = files[:options["n"]] if options["n"] is not None else files
    if len(files) < 2:
        raise UserError(f"fake={folder} must be a folder holding at least 2 images (.png, .jpg, ...; not searched "
                        f"recursively, as pytorch-fid), found {len(files)}. Fix: a folder of images, e.g. one "
                        "written by gan-sample out=DIR/.")
    reference = real if Path(real).expanduser().exists() else "train"
    given = {key: options[key] for key in FID_OPTIONS[1:] if options[key] is not None}
    metric = FID(n_samples=len(files), reference=reference, device=options["device"], **given)
    dataset = None if reference != "train" else named_dataset(real, prefixed, read_rgb(files[0]).shape[-1])
    metric.check(dataset)
    scores = metric.evaluate(file_batches(files, metric.batch_size), len(files), dataset)
    described = f"folder {folder.resolve()} ({len(files)} images)"
    return {**{key: scores.get(key) for key in SCORES}, "protocol": {"fake": described, **metric.protocol()}}


def main(argv: list[str] | None = None) -> None:
    COMMAND.run(evaluate, argv)


if __name__ == "__main__":
    main()
