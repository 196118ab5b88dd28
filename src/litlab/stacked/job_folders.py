"""A stacked group's job folders made in one pass: what Hydra's `run_job` leaves in each, without its per-job cost.

`run_job` deep-copies the job's config twice (the task's copy, the Hydra node's copy), points Hydra's logging
at the job's folder and writes `.hydra/` with `OmegaConf.to_yaml` of the whole config: about 40 ms a job.
Here a job's config is already its own (derived from its shape, compose_once.py), the `.hydra/` files are
the shape's YAML with the lines that differ written anew, and no logging is reconfigured: a member's log file
is opened by the member itself. The files are those `run_job` writes, to the byte (tests/test_stacked_compose.py).

A group takes this way when what `run_job` does per job would not differ between its jobs: the working
directory stays (`hydra.job.chdir` false) and no environment variables are set per job (`hydra.job.env_set`).
Otherwise, and for any job whose folder cannot be named this way, the job goes through `run_job` as before.
Configured Hydra callbacks that act per job see each job as under `run_job`, with its whole config and
`HydraConfig` set to it: `on_job_start` when its folder is made, `on_job_end` once its group has trained, with
the job's return value (the only cost left per job: each one's whole config is made for them).
"""

import os
from pathlib import Path

from hydra.core.utils import JobReturn, JobRuntime, JobStatus
from omegaconf import DictConfig, OmegaConf

from litlab.stacked.compose_once import JobConfig, config_yaml, hydra_node, hydra_yaml, overrides_yaml


def bulk_allowed(config: DictConfig, jobs: list[JobConfig]) -> str | None:
    """Why the group's folders must be made by `run_job` one by one (None: they can be made here)."""
    if any(not job.derived for job in jobs):
        return "a job's config was composed in full"
    hydra = config.hydra
    if hydra.job.get("chdir"):
        return "hydra.job.chdir=true"
    if any(job.shape.hydra["job"].get("env_set") for job in jobs):
        return "hydra.job.env_set"
    return None


def job_callbacks(config: DictConfig) -> list[str]:
    """The configured Hydra callbacks that define `on_job_start` or `on_job_end`."""
    from hydra.experimental.callback import Callback
    from hydra.utils import get_class

    names = []
    for name, params in (OmegaConf.select(config, "hydra.callbacks") or {}).items():
        cls = get_class(params._target_)
        if cls.on_job_start is not Callback.on_job_start or cls.on_job_end is not Callback.on_job_end:
            names.append(name)
    return names


def sweep_dir(master: DictConfig, job: JobConfig) -> str:
    """`hydra.sweep.dir` of the job, resolved as `run_job` resolves it (the master's resolver cache)."""
    OmegaConf.copy_cache(from_config=master, to_config=job.shape.full)
    return str(OmegaConf.select(job.shape.full, "hydra.sweep.dir"))


def subdir(hydra: dict) -> str:
    """`hydra.sweep.subdir` of the job whose Hydra node is `hydra` (`${hydra.job.num}` unless set otherwise)."""
    raw = hydra["sweep"]["subdir"]
    if raw == "${hydra.job.num}":
        return str(hydra["job"]["num"])
    return str(OmegaConf.create({"hydra": hydra}).hydra.sweep.subdir)


def make_folder(job: JobConfig, num: int, sweep: str) -> JobReturn:
    """The job's folder and `.hydra/` files as `run_job` leaves them; its JobReturn waits for the group's result.

    `paths.output_dir` of the job's config is set to the folder, as the task sees it under `run_job`.
    """
    hydra = hydra_node(job, num, None)
    output_dir = os.path.abspath(os.path.join(sweep, subdir(hydra)))
    hydra["runtime"] = {**hydra["runtime"], "output_dir": output_dir}
    if hydra.get("output_subdir") is not None:
        files = Path(output_dir) / hydra["output_subdir"]
        files.mkdir(parents=True, exist_ok=True)
        (files / "config.yaml").write_text(config_yaml(job), encoding="utf-8")
        (files / "hydra.yaml").write_text(hydra_yaml(hydra, job.shape), encoding="utf-8")
        (files / "overrides.yaml").write_text(overrides_yaml(hydra), encoding="utf-8")
    else:
        Path(output_dir).mkdir(parents=True, exist_ok=True)
    job.task.paths.output_dir = output_dir
    # The fields of the Hydra node that name the job: the whole node is in .hydra/hydra.yaml, and nothing in
    # Hydra or its sweepers reads a JobReturn's hydra_cfg.
    job_node = hydra["job"]
    hydra_cfg = OmegaConf.create(
        {
            "hydra": {
                "job": {key: job_node[key] for key in ("name", "id", "num", "override_dirname")},
                "runtime": {"output_dir": output_dir},
                "overrides": hydra["overrides"],
            }
        }
    )
    return JobReturn(
        overrides=list(hydra["overrides"]["task"]),
        cfg=job.task,
        hydra_cfg=hydra_cfg,
        working_dir=os.getcwd(),
        task_name=JobRuntime.instance().get("name"),  # as run_job names it
        status=JobStatus.COMPLETED,
    )


# -- a sweep resumed (hydra.launcher.resume=true) ---------------------------------------------------------------
FINISHED = ("completed", "diverged")  # metrics.json statuses of a job that ran to its end


def job_folder(master: DictConfig, job: JobConfig, num: int) -> Path:
    """The folder `run_job` gives the job: `hydra.sweep.dir` / `hydra.sweep.subdir`."""
    if job.derived:
        return Path(os.path.abspath(os.path.join(sweep_dir(master, job), subdir(hydra_node(job, num, None)))))
    from litlab.stacked.compose_once import full_config

    cfg = full_config(job, num)
    return Path(os.path.abspath(os.path.join(str(cfg.hydra.sweep.dir), str(cfg.hydra.sweep.subdir))))


def finished(folder: Path) -> dict | None:
    """The job's metrics.json when the job ran to its end there, else None."""
    import json

    try:
        metrics = json.loads((folder / "metrics.json").read_text())
    except (OSError, ValueError):
        return None
    return metrics if metrics.get("status") in FINISHED else None


def interrupted(folder: Path) -> bool:
    """The job started there and left a checkpoint to continue from."""
    return (folder / "checkpoints" / "last.ckpt").is_file() and finished(folder) is None


def kept(job: JobConfig, metrics: dict, folder: Path) -> JobReturn:
    """The return of a job that finished before the sweep was interrupted: its folder is left as it is."""
    from litlab.record import optimized_value  # torch: not imported before the groups train

    cfg = job.task if job.derived else job.full
    return JobReturn(
        overrides=[o.input_line for o in job.task_overrides] if job.derived else list(job.full.hydra.overrides.task),
        cfg=cfg,
        working_dir=os.getcwd(),
        task_name=JobRuntime.instance().get("name"),
        status=JobStatus.COMPLETED,
        _return_value=optimized_value(cfg, metrics),
    )
