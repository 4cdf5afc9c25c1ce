"""`gan-dashboard SWEEP_DIR [entity=E] [project=P] [name=TITLE] [out=FILE]`: the W&B workspace of a study.

A study is a `gan-run -m` sweep. Its run directories (SWEEP_DIR/N_OVERRIDES/) say what to show: summary.json's
`study` block names the study and the options it varies, metrics.jsonl's keys are the curves. The workspace
keeps the runs of this study alone (config `study/name`, job type `train`) and groups them by their W&B group,
the study's configuration without the seed, so that every curve is the mean over seeds with a min-max band.

Sections: Metrics (each metric against images_seen), Losses (loss/*, reg/*, reg_g/*, d/*), Training (lr/*,
grad_norm/*, sigma/*, speed/*, memory/*, amp/*, health/*: run_directory.STATISTICS), Samples (the `samples` and `final_samples` images, runs side by side) and Runs
(the runs table's columns: status, the varied options and the best metric; a run comparer; the best value per
configuration).

Online (W&B credentials, server reachable, WANDB_MODE not offline, no out=) the workspace is saved and its URL
printed. Otherwise the view it would save is written as JSON (the W&B view model that wandb-workspaces would
upload, built without the network) to out= or SWEEP_DIR/wandb-dashboard.json.

Exit statuses: 0 saved or written; 1 the online save failed (the JSON is written instead); 2 bad input.
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gan_runner.commands.arguments import Command, Option
from gan_runner.errors import UserError
from gan_runner.run_directory import RunDirectory, natural_key, statistic_section

USAGE = "usage: gan-dashboard SWEEP_DIR [entity=ENTITY] [project=PROJECT] [name=TITLE] [out=FILE.json]"
COMMAND = Command(
    name="gan-dashboard",
    summary="builds a study's W&B workspace (curves averaged over seeds, samples, the runs table) from its sweep "
            "directory; saved to W&B when online, else written as JSON",
    options=[Option("entity", "the W&B entity (default: the runs', else your default)", placeholder="ENTITY"),
             Option("project", "the W&B project (default: the runs', else gan-runner)", placeholder="PROJECT"),
             Option("name", "the workspace's title (default: Study <the study's name>)", placeholder="TITLE"),
             Option("out", "write the view to this JSON file instead of saving it", placeholder="FILE.json")],
    positional="SWEEP_DIR",
    examples=["gan-dashboard outputs/multirun/2026-12-04/10-00-00",
              "gan-dashboard outputs/multirun/2026-12-04/10-00-00 project=my-project entity=my-team",
              "gan-dashboard outputs/multirun/2026-12-04/10-00-00 out=workspace.json   # offline"],
)
DEFAULT_FILE = "wandb-dashboard.json"

X_AXIS = "images_seen"
AXES = ("step", X_AXIS)
IMAGE_KEYS = ("samples", "final_samples")
# With three seeds or fewer a standard deviation says little; the band shows the seeds' extremes instead.
GROUP_MEAN, GROUP_BAND = "mean", "minmax"


@dataclass
class Study:
    """What the sweep's run directories say about the study."""

    name: str
    sweep_dir: Path
    varied: list[str]
    choices: list[dict[str, Any]]            # each finished run's config-group choices
    logged_keys: set[str]                    # every scalar key of the runs' metrics.jsonl and final metrics
    best_keys: list[str]
    projects: set[str] = field(default_factory=set)
    entities: set[str] = field(default_factory=set)
    groups: set[str] = field(default_factory=set)
    runs: int = 0
    offline_runs: int = 0                    # runs whose W&B run is still to be synced


# Reading the sweep

def run_dirs(sweep_dir: Path) -> list[RunDirectory]:
    """The job directories of a Hydra sweep: each holds the .hydra/ folder Hydra writes first."""
    return [RunDirectory(path.parent) for path in sorted(sweep_dir.glob("*/.hydra"), key=natural_key)]


def scalar_keys(run: RunDirectory) -> set[str]:
    """The keys of the numeric values in a run's metrics.jsonl (a metric appears in its evaluation rows only,
    so every row is read)."""
    return {k for row in run.rows for k, v in row.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def logger_setting(run: RunDirectory, key: str) -> str | None:
    """logger.project or logger.entity of the run's composed config (absent when the run had logger=none)."""
    value = (run.config.get("logger") or {}).get(key)
    return None if value is None else str(value)


def read_study(sweep_dir: Path) -> Study:
    """The study of the sweep directory, or a UserError naming what is missing and the fix."""
    if not sweep_dir.is_dir():
        raise UserError(f"{sweep_dir} is not a folder. Fix: give the sweep directory of a `gan-run -m` study "
                        f"(the folder holding one directory per job, e.g. outputs/multirun/DATE/TIME). {USAGE}")
    if (sweep_dir / ".hydra").is_dir():
        raise UserError(f"{sweep_dir} is the directory of a single run, not of a sweep. Fix: give the sweep "
                        f"directory that holds it ({sweep_dir.absolute().parent}) when it is a job of a "
                        "`gan-run -m` sweep; a lone run has no study to compare.")
    jobs = run_dirs(sweep_dir)
    if not jobs:
        raise UserError(f"No runs found in {sweep_dir}: none of its folders holds a .hydra/ directory. Fix: give "
                        "the sweep directory of a `gan-run -m` study (e.g. outputs/multirun/DATE/TIME), whose jobs "
                        "are its subfolders.")
    summaries = {job.path: job.summary for job in jobs}
    finished = {job: summary for job, summary in summaries.items() if summary and summary.get("study")}
    check_study_blocks(sweep_dir, summaries, finished)
    names = sorted({str(summary["study"]["name"]) for summary in finished.values()})
    if len(names) > 1:
        raise UserError(f"{sweep_dir} holds the runs of several studies ({', '.join(names)}). Fix: give the sweep "
                        "directory of one study (the folder of one `gan-run -m` command).")
    study = Study(name=names[0], sweep_dir=sweep_dir, varied=[], choices=[], logged_keys=set(), best_keys=[])
    for job in jobs:
        study.logged_keys |= scalar_keys(job)
    for job, summary in finished.items():
        add_run(study, RunDirectory(job), summary)
    if not study.runs:
        raise UserError(f"No run of {sweep_dir} was logged to W&B (their summary.json has no wandb entry). Fix: "
                        "run the study with logger=wandb (the default), e.g. `gan-run -m objective=hinge,wgan "
                        "seed=0,1,2`.")
    return study


def check_study_blocks(sweep_dir: Path, summaries: dict[Path, dict | None], finished: dict[Path, dict]) -> None:
    """Every run that trained must say which study it belongs to; a lone run's study has no name."""
    if not finished:
        unfinished = sum(summary is None for summary in summaries.values())
        raise UserError(f"No run of {sweep_dir} records its study: their summary.json "
                        f"{'is missing' if unfinished == len(summaries) else 'has no study block'}. Fix: wait until "
                        "a job of the sweep has finished (summary.json is written at a run's end), or rerun the "
                        "study with a gan-run that records it (`gan-run -m ...` writes summary.json's study block).")
    trained = [job for job, summary in summaries.items() if summary and summary.get("status") != "error"]
    missing = [job.name for job in trained if job not in finished]
    if missing:
        raise UserError(f"{len(missing)} run(s) of {sweep_dir} have no study block in summary.json "
                        f"({', '.join(missing[:3])}{', ...' if len(missing) > 3 else ''}): they were made by an older "
                        "gan-run. Fix: rerun the study with this version of gan-run, or move those run directories "
                        "out of the sweep directory.")
    lone = [job.name for job, summary in finished.items() if not summary["study"].get("name")]
    if lone:
        raise UserError(f"The runs of {sweep_dir} ({', '.join(lone[:3])}) are lone runs (their study has no name): "
                        "a dashboard compares the runs of a sweep. Fix: run the study as a sweep, e.g. "
                        "`gan-run -m objective=hinge,wgan seed=0,1,2`, and give its sweep directory.")


def add_run(study: Study, job: RunDirectory, summary: dict[str, Any]) -> None:
    block = summary["study"]
    study.varied += [key for key in block.get("varied", []) if key not in study.varied]
    study.choices.append(dict(block.get("choices", {})))
    study.logged_keys |= set(summary.get("metrics") or {})
    best = summary.get("best")
    if best and best.get("key") and best["key"] not in study.best_keys:
        study.best_keys.append(best["key"])
    if not summary.get("wandb"):
        return  # logged with logger=none: not in W&B
    study.runs += 1
    study.groups.add(str(block.get("group")))
    study.offline_runs += summary["wandb"].get("mode") == "offline"
    for setting, found in (("project", study.projects), ("entity", study.entities)):
        value = logger_setting(job, setting)
        if value:
            found.add(value)


# Sorting the keys into sections

def keys_by_section(study: Study) -> dict[str, list[str]]:
    """The logged keys of Metrics, Losses and Training. Any key of an unknown family counts as a metric, so that a
    new metric (whatever its name) gets its panel."""
    sections: dict[str, list[str]] = {"Metrics": [], "Losses": [], "Training": []}
    for key in sorted(study.logged_keys | set(study.best_keys)):
        if key in AXES or key.count("/") >= 2:  # per-layer values (sigma/G/<layer>): their network's largest is drawn
            continue
        section = statistic_section(key)
        sections["Losses" if section == "losses" else "Training" if section == "training" else "Metrics"].append(key)
    return sections


def varied_column(option: str, choices: list[dict[str, Any]]) -> str:
    """The runs-table column of a varied option. W&B stores a config value as KEY.value: a config-group choice is
    the flat key choice/GROUP; any other override (seed, train.lr_g) is the nested key of the composed config."""
    option = option.lstrip("+~")
    if any(option in run_choices for run_choices in choices):
        return f"config:choice/{option}.value"
    first, *rest = option.split(".")
    return ".".join([f"config:{first}", "value", *rest])


# Building the workspace

def curve(key: str, max_runs: int) -> Any:
    """A line of `key` against images_seen, averaged over each run group with the seeds' min-max band."""
    import wandb_workspaces.reports.v2 as wr

    return wr.LinePlot(title=key, x=X_AXIS, y=[key], title_x="images seen", groupby="Group",
                       groupby_aggfunc=GROUP_MEAN, groupby_rangefunc=GROUP_BAND, max_runs_to_show=max_runs)


def curve_section(name: str, keys: list[str], max_runs: int, is_open: bool) -> Any:
    import wandb_workspaces.workspaces as ws

    return ws.Section(name=name, panels=[curve(key, max_runs) for key in keys], is_open=is_open,
                      panel_settings=ws.SectionPanelSettings(x_axis=X_AXIS))


def samples_section() -> Any:
    """Images are not averaged over a group: each run's pictures are shown, runs side by side (sorted by group),
    the grids over training a row per step."""
    import wandb_workspaces.reports.v2 as wr
    import wandb_workspaces.workspaces as ws

    over_training = wr.MediaBrowser(title="samples over training", media_keys=["samples"], mode="grid",
                                    grid_x_axis="run", grid_y_axis="step")
    final = wr.MediaBrowser(title="final samples", media_keys=["final_samples"], mode="grid", grid_x_axis="run")
    return ws.Section(name="Samples", panels=[over_training, final], is_open=True,
                      layout_settings=ws.SectionLayoutSettings(columns=2, rows=1))


def runs_section(study: Study) -> Any:
    """The run comparer shows, side by side, the config and summary values that differ between the runs; the bars
    the best metric's value per configuration (mean over seeds, min-max)."""
    import wandb_workspaces.reports.v2 as wr
    import wandb_workspaces.workspaces as ws

    panels: list[Any] = [wr.RunComparer(diff_only="split")]
    if study.best_keys:
        panels.append(wr.BarPlot(title=f"best {' / '.join(study.best_keys)}", metrics=["best/value"],
                                 groupby="Group", groupby_aggfunc=GROUP_MEAN, groupby_rangefunc=GROUP_BAND))
    return ws.Section(name="Runs", panels=panels, is_open=True,
                      layout_settings=ws.SectionLayoutSettings(columns=2, rows=1))


def table_columns(study: Study) -> list[str]:
    """The runs table's pinned (and only visible) columns: how each run ended, what it varies, its best metric."""
    columns = ["run:displayName", "run:state", "summary:status"]
    columns += [varied_column(option, study.choices) for option in study.varied]
    for key in study.best_keys:
        columns.append(f"summary:{key}")  # its W&B summary is its best value (define_metric's min or max)
    if study.best_keys:
        columns += ["summary:best/value", "summary:best/step"]
    return list(dict.fromkeys(columns))


def build_workspace(study: Study, entity: str, project: str, title: str) -> Any:
    import wandb_workspaces.workspaces as ws

    max_runs = max(10, study.runs)  # W&B draws the first 10 runs (or groups) of a panel unless told more
    keys = keys_by_section(study)
    sections = [curve_section(name, keys[name], max_runs, is_open=name != "Training") for name in keys if keys[name]]
    sections += [samples_section(), runs_section(study)]
    runset = ws.RunsetSettings(
        # The UI's own form of a flat config key is KEY.value (the SDK wraps each config value in {"value": ...}).
        filters=ws.And(ws.Config("study/name.value") == study.name, ws.Metric("JobType") == "train"),
        groupby=[ws.Metric("Group")],
        order=[ws.Ordering(ws.Metric("Group")), ws.Ordering(ws.Metric("Name"))],
        pinned_columns=table_columns(study),
    )
    settings = ws.WorkspaceSettings(x_axis=X_AXIS, smoothing_type="none", max_runs=max_runs)
    return ws.Workspace(entity=entity, project=project, name=title, sections=sections, settings=settings,
                        runset_settings=runset)


def view_json(workspace: Any) -> dict[str, Any]:
    """The view that Workspace.save() uploads (entity, project, title and spec), as JSON. wandb-workspaces builds
    it without the network; only the upload and the URL need W&B's API."""
    return workspace._to_model().model_dump(mode="json", by_alias=True, exclude_none=True)


# Where the workspace goes

def offline_reason(out: str | None) -> str | None:
    """Why the workspace is written to a file rather than saved to W&B; None when it can be saved."""
    from gan_runner.loggers.wandb_logger import has_credentials, server_reachable

    if out is not None:
        return "out= was given"
    if os.environ.get("WANDB_MODE") in ("offline", "disabled", "dryrun"):
        return f"WANDB_MODE is {os.environ['WANDB_MODE']}"
    if not has_credentials():
        return "there are no W&B credentials (run `wandb login` or set WANDB_API_KEY)"
    if not server_reachable():
        return "W&B's server cannot be reached"
    return None


def save_online(workspace: Any) -> str:
    """Saves the workspace to W&B and returns its URL."""
    return workspace.save().url


def default_entity() -> str:
    """The entity W&B uses when none is configured: the logged-in user's default (an API call)."""
    import wandb

    return wandb.Api().default_entity


def one_setting(given: str | None, found: set[str], key: str, fallback: str | None) -> str | None:
    """The command line's value, else the one the runs were logged with."""
    if given:
        return given
    if len(found) > 1:
        raise UserError(f"The runs were logged to several W&B {key}s ({', '.join(sorted(found))}). Fix: choose the "
                        f"one to hold the workspace with {key}=NAME.")
    return next(iter(found), fallback)


def write_view(workspace: Any, study: Study, path: Path, reason: str) -> None:
    view = view_json(workspace)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(view, indent=2) + "\n")
    print(f"wrote the W&B workspace of study {study.name} ({study.runs} runs in {len(study.groups)} groups, "
          f"project {view['project']}) to {path}; not saved to W&B because {reason}. To save it, run gan-dashboard "
          f"{study.sweep_dir} again with W&B credentials and network access (without out=).")


def require_workspaces() -> None:
    try:
        import wandb_workspaces  # noqa: F401
    except ImportError:
        raise UserError("gan-dashboard needs the wandb-workspaces library. Fix: pip install 'gan-runner[dashboard]' "
                        "(or pip install 'wandb-workspaces>=0.4,<0.5').") from None


def dashboard(options: dict[str, Any], prefixed: list[str], folders: list[str]) -> None:
    if len(folders) != 1:
        what = "SWEEP_DIR is missing" if not folders else f"unexpected arguments {' '.join(folders[1:])}"
        raise UserError(f"{what}. Fix: give one sweep directory (gan-dashboard --help lists the options). {USAGE}")
    sweep_dir = Path(folders[0])
    require_workspaces()
    study = read_study(sweep_dir)
    project = one_setting(options["project"], study.projects, "project", "gan-runner")
    entity = one_setting(options["entity"], study.entities, "entity", None)
    title = options["name"] or f"Study {study.name}"
    reason = offline_reason(options["out"])
    out = Path(options["out"] or sweep_dir / DEFAULT_FILE)
    if study.offline_runs:
        print(f"{study.offline_runs} of the runs were logged offline: the workspace shows them once synced, "
              f"`wandb sync {sweep_dir}/*/wandb/offline-run-*`.")
    if reason is not None:
        # Offline the entity stays as configured; an empty one stands for the user's default entity.
        write_view(build_workspace(study, entity or "", project, title), study, out, reason)
        return
    try:
        url = save_online(build_workspace(study, entity or default_entity(), project, title))
    except Exception as error:  # the server refused (no such project, no access...): keep the view
        print(f"gan-dashboard: saving the workspace to W&B failed ({error}).", file=sys.stderr)
        write_view(build_workspace(study, entity or "", project, title), study, out, "saving it failed")
        sys.exit(1)
    print(f"saved the W&B workspace of study {study.name} ({study.runs} runs in {len(study.groups)} groups): {url}")


def main(argv: list[str] | None = None) -> None:
    COMMAND.run(dashboard, argv)


if __name__ == "__main__":
    main()
