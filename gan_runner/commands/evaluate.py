"""`gan-eval`: FID, Inception Score, KID and precision/recall of generated images, agreeing with pytorch-fid.

    gan-eval run=RUN_DIR [checkpoint=last] [n=10000] [seed=0] [real=train|test|DIR|FILE.npz|DATASET]
    gan-eval fake=DIR real=DIR|FILE.npz|DATASET [n=N]

- run=: n images from the run's EMA generator (gan-sample's draw with `seed`, generated and measured a batch
  at a time); real defaults to `train`, the run's own training images (`test`: the test split of MNIST,
  Fashion-MNIST or CIFAR-10).
- fake=: a folder's images as pytorch-fid lists them (not recursive; all of them, or the first n).
- real=: a folder (every image, as pytorch-fid), a .npz of statistics (pytorch-fid's format; FID only,
  unless features were saved beside it as gan-runner's cache does), or a dataset config of conf/dataset/
  (digits, mnist, cifar10, ...) at the generated images' resolution; `dataset.KEY=VALUE` arguments change
  that config (or the run's), e.g. dataset.root=/data. Datasets give min(n, their size) images, a fixed
  subset, whose statistics and features are cached in cache_dir.

Other options: dims=2048 (64 | 192 | 768 | 2048), batch_size=50, weights=PATH (default: torch hub's
cache, downloaded when absent unless download=false), cache_dir=~/.cache/gan-runner/fid_stats,
inception_score=auto (auto: with dims=2048, where it is free), kid=true, precision_recall=true,
device=auto, out=FILE.json (the scores and the protocol that made them).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from omegaconf import OmegaConf

from gan_runner.errors import UserError
from gan_runner.run_directory import Checkpoint, RunDirectory
from gan_runner.metrics.fid import FID, SPLITS
from gan_runner.metrics.inception import file_batches, image_files, quantised_batches, read_rgb

USAGE = ("usage: gan-eval run=RUN_DIR [real=train|test|DIR|FILE.npz|DATASET] | fake=DIR real=DIR|FILE.npz|DATASET; "
         "options: n= dims= batch_size= out=FILE.json weights= cache_dir= seed= checkpoint= device= "
         "inception_score= kid= precision_recall= download= dataset.KEY=VALUE")
OPTIONS = {"run", "fake", "real", "checkpoint", "n", "seed", "dims", "batch_size", "weights", "download",
           "cache_dir", "inception_score", "kid", "precision_recall", "device", "out"}
SCORES = ("fid", "is_mean", "is_std", "kid_mean", "kid_std", "precision", "recall")


def instantiate_dataset(config: Any) -> object:
    """hydra's instantiate, with a dataset constructor's UserError passed on as it is."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate

    try:
        return instantiate(config)
    except InstantiationException as error:
        if isinstance(error.__cause__, UserError):
            raise error.__cause__ from None
        raise UserError(f"Could not build the dataset {config.get('_target_')}: {str(error).splitlines()[0]}. "
                        "Fix: check the dataset.KEY=VALUE arguments.") from None


def named_dataset(name: str, overrides: list[str], resolution: int) -> object:
    """conf/dataset/<name>.yaml with `overrides`, at `resolution` unless an override sets it."""
    from hydra import compose, initialize_config_module
    from hydra.errors import HydraException

    try:
        with initialize_config_module(config_module="gan_runner.conf", version_base="1.3"):
            config = compose(config_name="config", overrides=[f"dataset={name}", *overrides]).dataset
    except HydraException as error:
        raise UserError(f"real={name} is neither an existing folder or .npz file nor a dataset config "
                        f"({str(error).splitlines()[0]}). Fix: give a folder of images, a .npz of statistics, "
                        "or one of conf/dataset/ (digits, mnist, fashion_mnist, cifar10, image_folder).") from None
    if "resolution" in config and not any(o.startswith("dataset.resolution=") for o in overrides):
        config.resolution = resolution
    return instantiate_dataset(config)


def whole(args: Any, key: str, default: int) -> int:
    value = args.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError(f"{key}={value} must be a whole number")
    return value


def flag(args: Any, key: str) -> bool:
    value = args.get(key, True)
    if not isinstance(value, bool):
        raise ValueError(f"{key}={value} must be true or false")
    return value


def parse(argv: list[str]) -> tuple[Any, list[str]]:
    """key=value arguments (as gan-sample's) and the dataset.KEY=VALUE overrides, checked before any work."""
    overrides = [a for a in argv if a.startswith("dataset.")]
    try:
        args = OmegaConf.from_dotlist([a for a in argv if not a.startswith("dataset.")])
    except Exception as error:
        raise UserError(f"Could not read the arguments ({error}). {USAGE}") from None
    unknown = sorted(set(args) - OPTIONS)
    if unknown or ("run" in args) == ("fake" in args):
        problem = f"unknown option {', '.join(unknown)}" if unknown else "give exactly one of run= and fake="
        raise UserError(f"{problem}. {USAGE}")
    if "fake" in args and "real" not in args:
        raise UserError(f"fake= needs real=, the images to compare with. {USAGE}")
    if "out" in args and not str(args.out).endswith(".json"):
        raise UserError(f"out={args.out} must end in .json. {USAGE}")
    return args, overrides


def evaluate(args: Any, overrides: list[str]) -> dict[str, Any]:
    """The scores (None where not computed) and the protocol, as written to out=."""
    real = str(args.get("real", "train"))
    inception_score = args.get("inception_score", "auto")
    try:
        options = dict(dims=whole(args, "dims", 2048), batch_size=whole(args, "batch_size", 50),
                       weights=args.get("weights"), download=flag(args, "download"),
                       cache_dir=str(args.get("cache_dir", "~/.cache/gan-runner/fid_stats")),
                       inception_score=None if inception_score == "auto" else flag(args, "inception_score"),
                       kid=flag(args, "kid"), precision_recall=flag(args, "precision_recall"),
                       device=str(args.get("device", "auto")))
        n, seed = whole(args, "n", 10000), whole(args, "seed", 0)
    except ValueError as error:
        raise UserError(f"{error}. {USAGE}") from None
    if real in SPLITS and "run" not in args:
        raise UserError(f"real={real} means a run's own dataset, which needs run=. {USAGE}")
    reference = real if real in SPLITS or Path(real).expanduser().exists() else "train"

    if "run" in args:
        from gan_runner.commands.sample import load_generator
        from gan_runner.engine.sampling import draw_batches

        run_dir, checkpoint = Path(str(args.run)), str(args.get("checkpoint", "last"))
        metric = FID(n_samples=n, reference=reference, **options)
        generator, z_dim = load_generator(run_dir, checkpoint, str(metric.device))
        saved = Checkpoint.load(RunDirectory(run_dir).checkpoint(checkpoint))
        resolution = saved.data_shape[-1]
        if real in SPLITS:
            config = OmegaConf.merge(OmegaConf.create(saved.config["dataset"]),
                                     OmegaConf.from_dotlist([o.removeprefix("dataset.") for o in overrides]))
            dataset = instantiate_dataset(config)
        else:
            dataset = None if reference != "train" else named_dataset(real, overrides, resolution)
        metric.check(dataset)
        # Generated, quantised and measured a batch at a time: n images never sit in memory together.
        batches = quantised_batches(draw_batches(generator, z_dim, n, seed, str(metric.device)), metric.batch_size)
        described = f"{n} samples of {run_dir.resolve()} ({checkpoint}.pt)"
    else:
        folder = Path(str(args.fake)).expanduser()
        files = image_files(folder) if folder.is_dir() else []
        files = files[:n] if "n" in args else files
        if len(files) < 2:
            raise UserError(f"fake={folder} must be a folder holding at least 2 images (.png, .jpg, ...; not "
                            f"searched recursively, as pytorch-fid), found {len(files)}. {USAGE}")
        n = len(files)
        metric = FID(n_samples=n, reference=reference, **options)
        dataset = None if reference != "train" else named_dataset(real, overrides, read_rgb(files[0]).shape[-1])
        metric.check(dataset)
        batches, described = file_batches(files, metric.batch_size), f"folder {folder.resolve()} ({n} images)"

    scores = metric.evaluate(batches, n, dataset)
    return {**{key: scores.get(key) for key in SCORES}, "protocol": {"fake": described, **metric.protocol()}}


def main(argv: list[str] | None = None) -> None:
    try:
        args, overrides = parse(sys.argv[1:] if argv is None else argv)
        result = evaluate(args, overrides)
    except UserError as error:
        print(f"gan-eval: error: {error}", file=sys.stderr)
        sys.exit(2)
    for key in SCORES:
        if result[key] is not None:
            print(f"{key:10s} {result[key]:.6f}")
    if "out" in args:
        out = Path(str(args.out))
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(json.dumps(result, indent=2) + "\n")
        print(f"wrote {out}")


if __name__ == "__main__":
    main()
