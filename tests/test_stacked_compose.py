"""Composition once per shape (litlab/stacked/compose_once.py) and job folders in one pass (job_folders.py).

Every job's `.hydra/config.yaml`, `hydra.yaml` and `overrides.yaml` must be what Hydra writes for it in a
multirun: its own `load_sweep_config` of the job's overrides, with `hydra.job.num`, `hydra.job.id` and
`hydra.runtime.output_dir` set as the basic launcher and `run_job` set them, written with `OmegaConf.to_yaml`.
"""

import copy
import os

import pytest
from conftest import CONF, IRIS_GRID, QUICK, ROOT, read_metrics
from hydra import initialize_config_dir
from hydra.core.global_hydra import GlobalHydra
from hydra.core.hydra_config import HydraConfig
from hydra.core.utils import JobRuntime, setup_globals
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import OmegaConf, open_dict, read_write

from litlab.stacked import compose_once
from litlab.stacked.compose_once import ReusingConfigLoader
from litlab.stacked.job_folders import bulk_allowed, make_folder, sweep_dir

# Group choices and values mixed; a value on a key the chosen option sets (optimizer.lr), an int given to a float
# field (lr=1), a list, an interpolation, a key added (+) and one deleted (~): the last two change the shape.
JOBS = [
    ["experiment=iris_optimizers", "optimizer=sgd", "optimizer.lr=0.1", "seed=0"],
    ["experiment=iris_optimizers", "optimizer=sgd", "optimizer.lr=1", "seed=1"],
    ["experiment=iris_optimizers", "optimizer=adam", "optimizer.lr=0.01", "seed=0"],
    ["experiment=iris_optimizers", "optimizer=adam", "optimizer.lr=0.1", "seed=1"],
    ["experiment=iris_optimizers", "optimizer=adam", "model.hidden=[8,4]", "trainer.max_epochs=${seed}", "seed=3"],
    ["experiment=iris_optimizers", "optimizer=sgd", "+extra=1", "seed=2"],
    ["experiment=iris_optimizers", "optimizer=sgd", "~callbacks.progress_bar", "optimizer.lr=0.3", "seed=2"],
]


@pytest.fixture
def hydra_loader(monkeypatch):
    """`hydra_loader()`: Hydra's config loader for conf/, and a maker of a multirun's master config, as train.py's
    `-m` makes them (called after any in-process run, which clears Hydra's global state)."""
    monkeypatch.chdir(ROOT)

    def start():
        GlobalHydra.instance().clear()
        setup_globals()
        initialize_config_dir(config_dir=str(CONF), version_base="1.3")
        JobRuntime.instance().set("name", "train")  # as @hydra.main names train.py's jobs
        loader = GlobalHydra.instance().config_loader()

        def master(sweep: str, *overrides: str):
            return loader.load_configuration(
                "train", ["hydra/launcher=stacked", f"hydra.sweep.dir={sweep}", *overrides], RunMode.MULTIRUN
            )

        return loader, master

    yield start
    GlobalHydra.instance().clear()


def hydra_files(loader, master, overrides: list[str], num: int, output_dir: str) -> dict[str, str]:
    """The three files run_job writes for this job of a basic-launcher multirun."""
    cfg = loader.load_sweep_config(master, list(overrides))
    with open_dict(cfg):
        cfg.hydra.job.id = cfg.hydra.job.num = num
    with read_write(cfg.hydra), open_dict(cfg.hydra):
        cfg.hydra.runtime.output_dir = output_dir
    task = copy.deepcopy(cfg)
    with read_write(task), open_dict(task):
        del task["hydra"]
    return {
        "config.yaml": OmegaConf.to_yaml(task),
        "hydra.yaml": OmegaConf.to_yaml(OmegaConf.masked_copy(cfg, "hydra")),
        "overrides.yaml": OmegaConf.to_yaml(cfg.hydra.overrides.task),
    }


def test_jobs_derived_from_one_composition_per_shape_get_hydras_own_files(hydra_loader, tmp_path):
    loader, make_master = hydra_loader()
    master = make_master(str(tmp_path))
    reusing = ReusingConfigLoader(loader)
    for overrides in JOBS:  # as the sweeper's batch check does
        reusing.load_sweep_config(master, overrides)
    jobs = [reusing.take(master, overrides) for overrides in JOBS]
    assert all(job.derived for job in jobs)
    # sgd, adam, the +key and the ~key shapes: four compositions, not seven (and one check of each shape)
    assert len({id(job.shape) for job in jobs}) == 4
    sweep = sweep_dir(master, jobs[0])
    assert sweep == str(tmp_path)
    for num, (overrides, job) in enumerate(zip(JOBS, jobs)):
        ret = make_folder(job, num, sweep)
        folder = tmp_path / str(num)
        expected = hydra_files(loader, master, overrides, num, str(folder))
        for name, text in expected.items():
            assert (folder / ".hydra" / name).read_text() == text, (overrides, name)
        assert ret.cfg.paths.output_dir == str(folder) and ret.overrides == [o for o in overrides]
        assert ret.hydra_cfg.hydra.job.num == num and ret.hydra_cfg.hydra.job.name == "train"
    assert jobs[1].task.optimizer.lr == 1.0 and jobs[4].task.model.hidden == [8, 4]
    assert jobs[4].task.trainer.max_epochs == 3  # ${seed}, resolved in the job's own config


def test_a_derivation_that_differs_from_hydras_falls_back_to_full_composition(hydra_loader, tmp_path, monkeypatch):
    loader, make_master = hydra_loader()
    master = make_master(str(tmp_path))
    apply = compose_once._apply

    def wrong(*args):  # a derivation that loses the job's seed
        job = apply(*args)
        job.task.seed = 99
        return job

    monkeypatch.setattr(compose_once, "_apply", wrong)
    reusing = ReusingConfigLoader(loader)
    jobs = [reusing.take(master, overrides) for overrides in JOBS[:2]]
    assert not any(job.derived for job in jobs)
    assert [job.full.seed for job in jobs] == [0, 1]


def test_an_override_that_cannot_apply_fails_with_hydras_own_error(hydra_loader, tmp_path):
    loader, make_master = hydra_loader()
    master = make_master(str(tmp_path))
    reusing = ReusingConfigLoader(loader)
    reusing.take(master, ["experiment=iris_optimizers", "seed=0"])
    with pytest.raises(Exception, match="optimizer.lrr"):
        reusing.take(master, ["experiment=iris_optimizers", "optimizer.lrr=0.1"])
    with pytest.raises(Exception, match="seed"):
        reusing.take(master, ["experiment=iris_optimizers", "seed=abc"])


def test_folders_go_through_run_job_where_it_acts_per_job(hydra_loader, tmp_path):
    loader, make_master = hydra_loader()
    reusing = ReusingConfigLoader(loader)
    master = make_master(str(tmp_path))
    jobs = [reusing.take(master, overrides) for overrides in JOBS[:2]]
    assert bulk_allowed(master, jobs) is None
    chdir = make_master(str(tmp_path), "hydra.job.chdir=true")
    assert bulk_allowed(chdir, jobs) == "hydra.job.chdir=true"


def test_a_stacked_sweep_writes_each_job_the_files_hydra_writes(run_in_process, hydra_loader, tmp_path):
    """The real `python train.py -m`: every job's files equal Hydra's own composition of that job."""
    sweep = tmp_path / "sweep"
    args = ["experiment=iris_optimizers", "optimizer=sgd,adam", "optimizer.lr=0.1,0.01", "seed=0,1"]
    result = run_in_process(
        "-m", *args, "trainer.max_epochs=1", *QUICK, "hydra/launcher=stacked", f"hydra.sweep.dir={sweep}"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "8 job configs: 8 derived from 2 composition(s)" in result.stdout + result.stderr
    loader, _ = hydra_loader()
    master = OmegaConf.load(sweep / "multirun.yaml")  # the sweep's own master config, as Hydra saved it
    for num in range(8):
        folder = sweep / str(num)
        overrides = OmegaConf.to_container(OmegaConf.load(folder / ".hydra" / "overrides.yaml"))
        for name, text in hydra_files(loader, master, overrides, num, os.path.abspath(folder)).items():
            assert (folder / ".hydra" / name).read_text() == text, (num, name)
        assert (folder / "metrics.json").exists()


class JobProbe(Callback):
    """Records what Hydra's per-job callbacks receive."""

    seen: list = []

    def on_job_start(self, config, **kwargs) -> None:
        self.seen.append(("start", config.hydra.job.num, HydraConfig.get().runtime.output_dir, None))

    def on_job_end(self, config, job_return, **kwargs) -> None:
        self.seen.append(("end", config.hydra.job.num, config.hydra.runtime.output_dir, job_return.return_value))


def test_hydra_job_callbacks_see_every_stacked_job_start_and_end_with_its_value(run_in_process, tmp_path):
    JobProbe.seen.clear()
    result = run_in_process(
        "-m",
        *IRIS_GRID,
        "trainer.max_epochs=1",
        "hydra/launcher=stacked",
        f"hydra.sweep.dir={tmp_path}",
        "~hydra.callbacks.sweep_report",
        f"+hydra.callbacks.probe._target_={__name__}.JobProbe",
    )
    assert result.returncode == 0, result.stderr[-3000:]
    starts = [s for s in JobProbe.seen if s[0] == "start"]
    ends = [s for s in JobProbe.seen if s[0] == "end"]
    assert [s[1] for s in starts] == [s[1] for s in ends] == [0, 1, 2, 3]
    assert [s[2] for s in starts] == [s[2] for s in ends] == [str(tmp_path / str(job)) for job in range(4)]
    for _, job, _, value in ends:  # the value the job returns: its val/loss, once its group has trained
        assert value == pytest.approx(read_metrics(tmp_path / str(job))["val/loss"])
