"""`hydra/launcher=stacked` through the real `python train.py -m ...`: each member equals its single run.

The reference is the basic launcher's run of the same jobs. Metrics agree to 1e-4 relative (measured:
about 1e-6; a batched matmul sums in another order than a single one, nothing else differs), and so do
the checkpoints, every key of them: weights, optimizer and scheduler states, Lightning's loop progress,
the ModelCheckpoint state and the random generators, so `resume=` continues a member as a single run.
"""

import json
import os
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest
import torch
from conftest import QUICK, ROOT, compose_config, read_metrics, run_train
from omegaconf import OmegaConf

from litlab.record import headline, stop_reason

NO_REPORT = ["~hydra.callbacks.sweep_report"]


def sweep(tmp_path, name: str, *args: str, stacked: bool = True) -> subprocess.CompletedProcess:
    launcher = ["hydra/launcher=stacked" if stacked else "hydra/launcher=basic"]  # sweep= presets pick stacked
    result = run_train("-m", *args, *launcher, f"hydra.sweep.dir={tmp_path / name}", timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result


def assert_same_metrics(basic_dir, stacked_dir, jobs: int, rel: float = 1e-4) -> None:
    """Every job's files alike: metrics.json, config, checkpoints and TensorBoard scalars, floats to `rel`."""
    for job in map(str, range(jobs)):
        single, member = read_metrics(basic_dir / job), read_metrics(stacked_dir / job)
        assert member["status"] == single["status"] == "completed"
        assert set(member) == set(single), job
        for key, value in single.items():
            if isinstance(value, float):
                assert member[key] == pytest.approx(value, rel=rel, abs=1e-7), (job, key)
            elif key != "best_checkpoint":
                assert member[key] == value, (job, key)
        assert member["best_checkpoint"].replace(str(stacked_dir), "") == single["best_checkpoint"].replace(
            str(basic_dir), ""
        )
        # The job's config, composed once by the stacked launcher (compose_once.py), twice by the basic one.
        assert (stacked_dir / job / ".hydra" / "config.yaml").read_text() == (
            basic_dir / job / ".hydra" / "config.yaml"
        ).read_text()
        assert_same_checkpoints(basic_dir / job, stacked_dir / job, rel)
        assert_same_tensorboard(basic_dir / job, stacked_dir / job, rel)


def tensorboard_points(run_dir) -> tuple[dict, dict]:
    """{tag: [(step, value), ...]} of the scalars in a run's TensorBoard events, in step order; and its HParams tab:
    {tag: the plugin's data as a dict}, the run folder's path written RUN."""
    from google.protobuf.json_format import MessageToDict
    from tensorboard.backend.event_processing.event_multiplexer import EventMultiplexer
    from tensorboard.plugins.hparams.plugin_data_pb2 import HParamsPluginData

    events = EventMultiplexer()
    events.AddRunsFromDirectory(str(run_dir / "tensorboard"))
    events.Reload()
    points = {}
    for run, tags in events.Runs().items():
        for tag in tags["scalars"]:
            points.setdefault(tag, []).extend((e.step, e.value) for e in events.Scalars(run, tag))
    hparams = {
        tag: json.loads(json.dumps(MessageToDict(HParamsPluginData.FromString(content))).replace(str(run_dir), "RUN"))
        for tags in events.PluginRunToTagToContent("hparams").values()
        for tag, content in tags.items()
    }
    return {tag: sorted(values) for tag, values in points.items()}, hparams


def assert_same_tensorboard(single_dir, member_dir, rel: float = 1e-4) -> None:
    """The member's TensorBoard scalars are its single run's: the same tags, at the same steps, the same values;
    and so is its HParams tab (its settings and the names of its metrics)."""
    (single, single_hparams), (member, member_hparams) = tensorboard_points(single_dir), tensorboard_points(member_dir)
    assert set(member) == set(single), set(member) ^ set(single)
    hparams = [
        (d / "tensorboard" / "hparams.yaml").read_text().replace(str(d), "RUN") for d in (single_dir, member_dir)
    ]
    assert hparams[0] == hparams[1] and "optimizer.lr: " in hparams[0]  # the HParams tab's settings, both alike
    assert len(single_hparams) == 3 and member_hparams == single_hparams  # experiment, session start and end
    for tag, points in single.items():
        assert [step for step, _ in member[tag]] == [step for step, _ in points], tag
        assert [v for _, v in member[tag]] == pytest.approx([v for _, v in points], rel=rel, abs=1e-6), tag


def assert_same_checkpoints(single_dir, member_dir, rel: float = 1e-4) -> None:
    """The member's checkpoint files are its single run's: the same files, keys and values (floats to `rel`)."""
    files = sorted(p.name for p in (single_dir / "checkpoints").iterdir())
    assert sorted(p.name for p in (member_dir / "checkpoints").iterdir()) == files
    for name in files:
        single = torch.load(single_dir / "checkpoints" / name, weights_only=False)
        member = torch.load(member_dir / "checkpoints" / name, weights_only=False)
        assert member.pop("stacked") is True
        assert_same_tree(member, single, str(member_dir), str(single_dir), f"{member_dir.name}/{name}", rel)


def assert_same_tree(member, single, member_root: str, single_root: str, where: str, rel: float = 1e-4) -> None:
    """Equal nested checkpoint contents; paths compared below their run folders, tensors to `rel` relative."""
    if isinstance(single, str):
        assert member.replace(member_root, "RUN") == single.replace(single_root, "RUN"), where
    elif isinstance(single, dict):
        rename = {k.replace(member_root, "RUN") if isinstance(k, str) else k: v for k, v in member.items()}
        expected = {k.replace(single_root, "RUN") if isinstance(k, str) else k: v for k, v in single.items()}
        assert set(rename) == set(expected), (where, set(rename) ^ set(expected))
        for key, value in expected.items():
            assert_same_tree(rename[key], value, member_root, single_root, f"{where}.{key}", rel)
    elif isinstance(single, (list, tuple)):
        assert type(member) is type(single) and len(member) == len(single), where
        for i, (m, s) in enumerate(zip(member, single)):
            assert_same_tree(m, s, member_root, single_root, f"{where}[{i}]", rel)
    elif isinstance(single, torch.Tensor):
        assert member.shape == single.shape and member.dtype == single.dtype, where
        if single.is_floating_point():
            torch.testing.assert_close(member, single, rtol=rel, atol=1e-7, msg=where)
        else:
            assert torch.equal(member, single), where
    elif isinstance(single, float):
        assert member == pytest.approx(single, rel=rel, abs=1e-7), where
    else:
        assert member == single, where


def test_iris_optimizer_grid_equals_the_basic_launchers_runs(tmp_path):
    grid = [
        "experiment=iris_optimizers",
        "optimizer=sgd,momentum,adagrad,adadelta,rmsprop,adam",
        "seed=0,1",
        "trainer.max_epochs=4",
        *QUICK,
    ]
    sweep(tmp_path, "basic", *grid, *NO_REPORT, stacked=False)
    result = sweep(tmp_path, "stacked", *grid)
    assert "12 stacked in 1 group(s), 0 alone" in result.stdout + result.stderr
    assert_same_metrics(tmp_path / "basic", tmp_path / "stacked", 12)

    job = tmp_path / "stacked" / "7"
    assert json.loads((job / "run.json").read_text())["stacked"] == {"group": list(range(12)), "members": 12}
    assert {p.name for p in (job / ".hydra").iterdir()} == {"config.yaml", "hydra.yaml", "overrides.yaml"}
    assert "training jobs 0, 1, 2" in (job / "train.log").read_text()
    assert list((job / "tensorboard").glob("events.out.tfevents.*"))
    assert (tmp_path / "stacked" / "report.md").exists()

    # The best checkpoint is an ordinary single-model checkpoint: eval.py's evaluate() and init_from read it.
    from litlab.evaluate import evaluate
    from litlab.finetune import load_weights
    from litlab.models.mlp import MLP

    metrics = read_metrics(job)
    cfg = compose_config("eval", [f"ckpt_path={metrics['best_checkpoint']}", f"paths.output_dir={tmp_path / 'eval'}"])
    record = evaluate(cfg)
    assert record["test/acc"] == pytest.approx(metrics["test/acc"]) and record["test/loss"] == pytest.approx(
        metrics["test/loss"], rel=1e-5
    )
    network = MLP(4, 3, hidden=[16], activation="sigmoid")
    load_weights(network, metrics["best_checkpoint"])
    saved = torch.load(metrics["best_checkpoint"], weights_only=False)["state_dict"]["network.net.1.weight"]
    assert torch.equal(network.net[1].weight, saved) and saved.shape == (16, 4)


def test_weight_decay_study_equals_the_basic_launchers_runs(tmp_path):
    # Validation every 5 epochs: the last one at epoch 9, two epochs before the end (last.ckpt's loop state).
    grid = ["sweep=weight_decay", "regularization.l2=0,3", "seed=0,1", "trainer.max_epochs=12", *QUICK, *NO_REPORT]
    sweep(tmp_path, "basic", *grid, stacked=False)
    sweep(tmp_path, "stacked", *grid)
    assert_same_metrics(tmp_path / "basic", tmp_path / "stacked", 4)


def through_both_launchers(grid: list[str], tmp_path, run_in_process) -> str:
    """The sweep `grid` run by the basic launcher into tmp_path/basic and the stacked one into tmp_path/stacked;
    what the stacked sweep printed."""
    for launcher in ("basic", "stacked"):
        result = run_in_process("-m", *grid, f"hydra/launcher={launcher}", f"hydra.sweep.dir={tmp_path / launcher}")
        assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout + result.stderr


def test_gradient_clipping_per_member_equals_the_basic_launchers_runs(tmp_path, run_in_process):
    """trainer.gradient_clip_val by norm and by value: each member clipped on its own rows, as its single run."""
    grid = [
        "experiment=iris_optimizers",
        "optimizer=sgd,adam",
        "optimizer.lr=0.5",
        "seed=0,1",
        "trainer.gradient_clip_val=0.5",
        "trainer.gradient_clip_algorithm=norm,value",
        "trainer.max_epochs=3",
        *QUICK,
        *NO_REPORT,
    ]
    assert "8 stacked in 2 group(s), 0 alone" in through_both_launchers(grid, tmp_path, run_in_process)
    assert_same_metrics(tmp_path / "basic", tmp_path / "stacked", 8)


def test_bf16_mixed_members_are_within_a_tolerance_of_their_single_runs(tmp_path, run_in_process):
    """trainer.precision=bf16-mixed stacks: the loop runs its forward in Fabric's autocast and backward through
    fabric.backward, as the single run's precision plugin does. Measured on a CPU (sgd and adam, seeds 0 and 1,
    3 and 20 epochs): the weights equal their single runs' bit for bit, metrics differ by at most 3.3e-7
    relative (the loss summed in another order). 1e-5 is allowed: in 32-true the jobs differ from their bf16
    runs by 1e-5 to 2e-4, so the test tells the two apart."""
    grid = [
        "experiment=iris_optimizers",
        "optimizer=sgd,adam",
        "seed=0",
        "trainer.precision=bf16-mixed",
        "trainer.max_epochs=3",
        *QUICK,
        *NO_REPORT,
    ]
    assert "2 stacked in 1 group(s), 0 alone" in through_both_launchers(grid, tmp_path, run_in_process)
    assert_same_metrics(tmp_path / "basic", tmp_path / "stacked", 2, rel=1e-5)


def test_early_stopping_per_member_equals_the_basic_launchers_runs(tmp_path, run_in_process):
    """callbacks=early_stopping: each member stops at its single run's epoch, says why as it does (metrics.json,
    its summary line), and its checkpoints hold the callback's state; the others train on to the end."""
    grid = [
        "experiment=iris_optimizers",
        "optimizer=sgd,adam,momentum",
        "seed=0,1",
        "callbacks=early_stopping",
        "callbacks.early_stopping.patience=2",
        "callbacks.early_stopping.min_delta=0.01",
        "trainer.max_epochs=8",
        *QUICK,
        *NO_REPORT,
    ]
    printed = through_both_launchers(grid, tmp_path, run_in_process)
    assert "6 stacked in 1 group(s), 0 alone" in printed
    assert_same_metrics(tmp_path / "basic", tmp_path / "stacked", 6)
    records = [read_metrics(tmp_path / "stacked" / str(job)) for job in range(6)]
    assert len({r["epochs"] for r in records}) >= 3  # members stop at different epochs, some not at all
    assert any("stopped_early" not in r for r in records)
    for record in (r for r in records if "stopped_early" in r):
        assert record["epochs"] < 8 and record["stopped_early"]["reason"] == "patience_exhausted"
        assert f"({stop_reason(record)})" in printed  # the member's summary line
    for job, record in enumerate(records):  # each member's line names its job: they end in no set order
        assert f"#{job} : {headline(record)}" in printed
        # Its train.log holds its own line as a single job's does, and none of the other members' lines.
        own = (tmp_path / "stacked" / str(job) / "train.log").read_text()
        assert f"- {headline(record)}" in own and " : " not in own

    # Without checkpoints a member is tested on its weights as they were when it stopped: its rows stayed so.
    plain = [*grid[:1], "optimizer=sgd,adam,momentum", "seed=1", *grid[3:]]
    plain += ["callbacks.model_checkpoint=null", "trainer.enable_checkpointing=false"]
    for launcher in ("basic", "stacked"):
        result = run_in_process(
            "-m", *plain, f"hydra/launcher={launcher}", f"hydra.sweep.dir={tmp_path / launcher / 'plain'}"
        )
        assert result.returncode == 0, result.stderr[-3000:]
        records = [read_metrics(tmp_path / launcher / "plain" / str(job)) for job in range(3)]
        if launcher == "basic":
            expected = records
            assert any("stopped_early" in r for r in records) and not all("stopped_early" in r for r in records)
    for record, single in zip(records, expected):
        assert record["epochs"] == single["epochs"] and record.get("stopped_early") == single.get("stopped_early")
        assert record["test/loss"] == pytest.approx(single["test/loss"], rel=1e-4)


def test_clipping_takes_each_members_norm_as_clip_grad_norm_does():
    """Member by member, Clipping is torch.nn.utils.clip_grad_norm_ (and clip_grad_value_) over its rows."""
    from litlab.stacked.clipping import Clipping

    generator = torch.Generator().manual_seed(0)
    scales = torch.tensor([0.01, 1.0, 10.0]).view(3, 1, 1)  # under, near and over the limit
    stacked = [torch.zeros(3, 4, 5, requires_grad=True), torch.zeros(3, 1, 5, requires_grad=True)]
    for p in stacked:
        p.grad = torch.randn(p.shape, generator=generator) * scales
    for algorithm, clip in (("norm", torch.nn.utils.clip_grad_norm_), ("value", torch.nn.utils.clip_grad_value_)):
        singles = [[torch.zeros(p.shape[1:], requires_grad=True) for p in stacked] for _ in range(3)]
        for m, params in enumerate(singles):
            for single, p in zip(params, stacked):
                single.grad = p.grad[m].clone()
            clip(params, 0.5)
        grads = [p.grad.clone() for p in stacked]
        Clipping(0.5, algorithm)([p for p in stacked])
        for m, params in enumerate(singles):
            for single, p in zip(params, stacked):
                torch.testing.assert_close(p.grad[m], single.grad, rtol=1e-6, atol=0)
        assert not torch.equal(stacked[0].grad[2], grads[0][2])  # the large member was clipped
        for p, g in zip(stacked, grads):
            p.grad = g


def test_event_file_appends_what_the_summary_writer_would_write(tmp_path):
    """The writer frames TensorBoard records itself (event_file.py): byte for byte TensorBoard's RecordWriter,
    and the points read back with their steps, wall times and values after the logger's own events."""
    import io
    import random

    from lightning.pytorch.loggers import TensorBoardLogger
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.compat.proto.event_pb2 import Event
    from tensorboard.summary.writer.record_writer import RecordWriter
    from torch.utils.tensorboard.summary import hparams

    from litlab.stacked.event_file import EventFile, records, serialized, summary

    rng = random.Random(0)
    chunks = [bytes(rng.randrange(256) for _ in range(rng.randrange(300))) for _ in range(200)] + [b""]
    expected = io.BytesIO()
    for chunk in chunks:
        RecordWriter(expected).write(chunk)
    assert records(chunks) == expected.getvalue()
    # Events refilled from one message per set of tags: the bytes of an Event made for each, as add_summary makes it.
    points = [
        (rng.choice([0, rng.randrange(10**6)]), rng.random() * 1e9, {t: rng.random() for t in tags})
        for tags in rng.choices([("a", "b"), ("lr-SGD",), ("epoch", "val/loss")], k=50)
    ]
    points += [(0, 5.0, {"a": float("nan"), "b": 1e300}), (0, 6.0, hparams({"lr": 0.1}, {"val/loss": 0.5})[1])]
    assert serialized(points) == [
        Event(wall_time=w, step=s, summary=summary(v) if isinstance(v, dict) else v).SerializeToString()
        for s, w, v in points
    ]

    logger = TensorBoardLogger(tmp_path, name="tb")
    (events,) = [EventFile.of(logger)]
    assert events.path is not None
    events.append([(4, 1000.5, {"train/loss": 0.25, "epoch": 0}), (9, 1001.5, {"train/loss": 0.125, "epoch": 1})])
    logger.experiment.add_scalar("after", 3.0, 10)  # the SummaryWriter's own point, queued after ours
    logger.experiment.close()
    read = EventAccumulator(str(events.path.parent))
    read.Reload()
    assert [(e.step, e.wall_time, e.value) for e in read.Scalars("train/loss")] == [
        (4, 1000.5, 0.25),
        (9, 1001.5, 0.125),
    ]
    assert [e.step for e in read.Scalars("after")] == [10]


def test_fused_sgd_steps_each_member_bit_for_bit_as_its_own_sgd():
    """Blocks of plain SGD with other learning rates and weight decays, stepped as one (FusedSGD), leave every
    member's rows exactly where its own torch.optim.SGD takes its own copy of them."""
    from torch import nn

    from litlab.stacked.optimizers import FusedSGD, form_blocks, steppers

    generator = torch.Generator().manual_seed(0)
    lrs, decays = [0.5, 0.5, 0.03, 0.03, 2.0, 2.0], [0.0, 0.0, 0.0, 3.0, 0.5, 0.5]
    stacked = [
        nn.Parameter(torch.randn(6, 3, 4, generator=generator)),
        nn.Parameter(torch.randn(6, 3, generator=generator)),
    ]
    views = [[nn.Parameter(p.detach()[m]) for p in stacked] for m in range(6)]
    optimizers = {
        m: torch.optim.SGD(
            [{"params": [w], "weight_decay": decays[m]}, {"params": [b], "weight_decay": 0.0}], lr=lrs[m]
        )
        for m, (w, b) in enumerate(views)
    }
    blocks = form_blocks(optimizers, {}, {}, stacked, views)
    assert len(blocks) == 4  # equal neighbours share a block
    (fused,) = steppers(blocks, stacked)
    assert isinstance(fused, FusedSGD)
    singles = [[nn.Parameter(p.detach()[m].clone()) for p in stacked] for m in range(6)]
    own = [
        torch.optim.SGD([{"params": [w], "weight_decay": decays[m]}, {"params": [b]}], lr=lrs[m])
        for m, (w, b) in enumerate(singles)
    ]
    for _ in range(3):
        for p in stacked:
            p.grad = torch.randn(p.shape, generator=generator)
        for m, (params, optimizer) in enumerate(zip(singles, own)):
            for single, p in zip(params, stacked):
                single.grad = p.grad[m].clone()
            optimizer.step()
        fused.step()
    for m, params in enumerate(singles):
        for single, p in zip(params, stacked):
            assert torch.equal(p.detach()[m], single.detach()), m


MIXED = [
    "data=iris",
    "model=mlp",
    "model.hidden=[16],[32]",
    "model.dropout=0.5",
    "seed=0,1",
    "optimizer.lr=0.1,1e12,-1",
    "trainer.max_epochs=2",
    *QUICK,
    *NO_REPORT,
]


def test_groups_divergence_bad_configs_and_dropout_per_member(tmp_path):
    """Two widths: two groups; lr 1e12 diverges alone in its group, lr -1 fails alone; dropout masks per seed."""
    result = sweep(tmp_path, "first", *MIXED)
    log = result.stdout + result.stderr
    assert "12 stacked in 2 group(s), 0 alone" in log
    jobs = {}
    for job in range(12):
        overrides = (tmp_path / "first" / str(job) / ".hydra" / "overrides.yaml").read_text()
        jobs[job] = (overrides, read_metrics(tmp_path / "first" / str(job)))
    for overrides, metrics in jobs.values():
        if "optimizer.lr=1e12" in overrides or "optimizer.lr=1000000000000.0" in overrides:
            assert metrics["status"] == "diverged" and metrics["step"] >= 0 and "diverged" in metrics["error"]
        elif "optimizer.lr=-1" in overrides:
            assert metrics["status"] == "failed" and "optimizer.lr=-1" in metrics["error"]
        else:
            assert metrics["status"] == "completed"
    groups = {
        tuple(json.loads((tmp_path / "first" / str(j) / "run.json").read_text())["stacked"]["group"])
        for j, (_, m) in jobs.items()
        if m["status"] == "completed"
    }
    assert len(groups) == 2
    sane = [m for o, m in jobs.values() if m["status"] == "completed"]
    assert len(sane) == 4 and len({m["train/loss"] for m in sane}) == 4  # each seed its own masks and weights

    sweep(tmp_path, "again", *MIXED)
    for job, (_, metrics) in jobs.items():
        again = read_metrics(tmp_path / "again" / str(job))
        assert {k: v for k, v in again.items() if k not in ("best_checkpoint", "error")} == {
            k: v for k, v in metrics.items() if k not in ("best_checkpoint", "error")
        }


def test_a_config_composed_to_check_the_batch_is_reused_once_and_equals_a_fresh_one(tmp_path):
    """The sweeper derives each job to check it (compose_once.py); the launcher takes that config instead of
    deriving it again."""
    from conftest import CONF
    from hydra import initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.types import RunMode
    from omegaconf import open_dict

    from litlab.stacked.compose_once import ReusingConfigLoader

    stamp = "+stamp=${now:%f}"  # a cached interpolation: resolved on the master config between check and launch
    GlobalHydra.instance().clear()
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        loader = GlobalHydra.instance().config_loader()
        master = loader.load_configuration(
            "train", ["sweep=optimizers", stamp, f"hydra.sweep.dir={tmp_path}"], run_mode=RunMode.MULTIRUN
        )
        reusing = ReusingConfigLoader(loader)
        jobs = [["optimizer=adam", "seed=1", stamp], ["optimizer=sgd", "seed=2", stamp]]
        checked = [reusing.load_sweep_config(master, job) for job in jobs]  # what validate_batch_is_legal does
        time.sleep(0.01)
        resolved = master.stamp  # the master's resolver cache moves on after the check
        taken = [reusing.take(master, job) for job in jobs]
        assert all(t.task is c for t, c in zip(taken, checked))  # reused, not derived again
        for job, taken_job in zip(jobs, taken):
            config, fresh = taken_job.task, loader.load_sweep_config(master, job)
            with open_dict(fresh):
                del fresh["hydra"]
            assert OmegaConf.to_container(config) == OmegaConf.to_container(fresh)
            assert OmegaConf.get_cache(config) == OmegaConf.get_cache(fresh)
            assert config.stamp == fresh.stamp == resolved
        assert reusing.take(master, jobs[0]).task is not taken[0].task  # once: asked again, it is derived anew
    GlobalHydra.instance().clear()


def test_jobs_that_cannot_stack_are_named_and_run_alone():
    from litlab.stacked.grouping import group_key, split, unstackable

    def compose(*overrides):
        return compose_config("train", ["hydra/launcher=stacked", *overrides])

    assert "DDP" in unstackable(compose("accelerator=ddp_spawn"))
    assert "DDP" in unstackable(compose("accelerator=ddp"))
    assert "solved" in unstackable(compose("model=linreg", "model.solver=closed_form"))
    assert unstackable(compose("callbacks=early_stopping")) is None
    assert "stopping_threshold" in unstackable(
        compose("callbacks=early_stopping", "+callbacks.early_stopping.stopping_threshold=0.1")
    )
    assert "min_epochs" in unstackable(compose("callbacks=early_stopping", "trainer.min_epochs=2"))
    assert unstackable(compose("trainer.gradient_clip_val=0.5", "trainer.gradient_clip_algorithm=value")) is None
    assert "one loss scale for all members" in unstackable(compose("trainer.precision=16-mixed"))
    assert "32-true and bf16-mixed" in unstackable(compose("trainer.precision=64-true"))
    assert unstackable(compose("experiment=iris_optimizers")) is None
    assert "default" in unstackable(compose("callbacks.model_checkpoint=null"))
    assert unstackable(compose("callbacks.model_checkpoint=null", "trainer.enable_checkpointing=false")) is None
    same = group_key(compose("optimizer=adam", "seed=1", "regularization.l2=0.1", "model.dropout=0.3"))
    assert same == group_key(compose("optimizer=sgd", "seed=2"))
    assert same != group_key(compose("model.hidden=[32]")) and same != group_key(compose("data.batch_size=64"))
    assert [len(g) for g in split(list(range(10)), 4)] == [4, 3, 3]  # hydra.launcher.max_members=4


def test_sigterm_then_the_sweep_resumed_equals_the_uninterrupted_sweep(tmp_path, run_in_process):
    """SIGTERM mid-group: every member is `interrupted` with its last.ckpt. `resume=` continues one (job 1) as a
    single run; the same sweep command with `hydra.launcher.resume=true` keeps it and continues the two others
    as a group from their checkpoints. Jobs 0 and 2 end exactly as in the uninterrupted sweep (metrics.json,
    checkpoints), job 1 as its single run would (1e-4, as stacked and single runs agree)."""
    job = ["experiment=iris_optimizers", "model.dropout=0.3", *QUICK]  # dropout: its masks continue exactly
    sweep_dir = tmp_path / "sweep"
    # Long enough for the signal, sent as training starts, to land mid-training.
    args = [*job, "optimizer=sgd,adam,rmsprop", "trainer.max_epochs=40", *NO_REPORT, "hydra/launcher=stacked"]
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "train.py"), "-m", *args, f"hydra.sweep.dir={sweep_dir}"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    log = sweep_dir / "0" / "train.log"
    deadline = time.monotonic() + 240
    while not (log.exists() and "training jobs" in log.read_text()):
        assert process.poll() is None and time.monotonic() < deadline, process.stdout.read()[-2000:]
        time.sleep(0.1)
    time.sleep(0.1)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=120) == 143
    for member in ("0", "1", "2"):
        metrics = read_metrics(sweep_dir / member)
        assert metrics["status"] == "interrupted" and metrics["step"] > 0
        assert metrics["resume"] == f"python train.py resume={sweep_dir / member}"
        last = torch.load(sweep_dir / member / "checkpoints" / "last.ckpt", weights_only=False)
        assert last["global_step"] == metrics["step"] and "network.net.1.weight" in last["state_dict"]

    resumed = run_in_process(f"resume={sweep_dir / '1'}")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert len(json.loads((sweep_dir / "1" / "run.json").read_text())["resumed"]) == 1
    again = run_in_process("-m", *args, f"hydra.sweep.dir={sweep_dir}", "hydra.launcher.resume=true")
    assert again.returncode == 0, again.stderr[-2000:]
    assert "1 jobs finished before, 2 continue from their last.ckpt" in again.stdout + again.stderr
    assert "group 1 (2 members): jobs #0, #2 (continued from their last.ckpt)" in again.stdout + again.stderr
    straight = run_in_process("-m", *args, f"hydra.sweep.dir={tmp_path / 'straight'}")
    assert straight.returncode == 0, straight.stderr[-2000:]

    for member in ("0", "1", "2"):
        final, expected = read_metrics(sweep_dir / member), read_metrics(tmp_path / "straight" / member)
        assert final["status"] == "completed" and final["epochs"] == expected["epochs"] == 40
        assert set(final) == set(expected)
        for key in [k for k in expected if k.startswith(("train/", "val/", "test/", "params/", "lr-"))]:
            if member == "1":
                assert final[key] == pytest.approx(expected[key], rel=1e-4, abs=1e-7), key
            else:
                assert final[key] == expected[key], (member, key)
        if member != "1":
            files = sorted(p.name for p in (tmp_path / "straight" / member / "checkpoints").iterdir())
            assert sorted(p.name for p in (sweep_dir / member / "checkpoints").iterdir()) == files
            for name in files:
                assert_same_tree(
                    torch.load(sweep_dir / member / "checkpoints" / name, weights_only=False),
                    torch.load(tmp_path / "straight" / member / "checkpoints" / name, weights_only=False),
                    str(sweep_dir),
                    str(tmp_path / "straight"),
                    where=f"{member}/{name}",
                )
            assert len(json.loads((sweep_dir / member / "run.json").read_text())["resumed"]) == 1


def test_sigkill_after_a_write_interval_leaves_whole_checkpoints_that_resume(tmp_path, run_in_process):
    """The writer writes every member's files each `write_interval` seconds: a SIGKILL leaves each member a
    loadable last.ckpt and the best checkpoint it names, its metrics so far in history.csv, and `resume=`
    continues it to the end."""
    sweep_dir = tmp_path / "sweep"
    args = [
        "experiment=iris_optimizers",
        "optimizer=sgd,adam",
        "trainer.max_epochs=100000",
        "callbacks.model_checkpoint.write_interval=0.5",
        *QUICK,
        *NO_REPORT,
        "hydra/launcher=stacked",
        f"hydra.sweep.dir={sweep_dir}",
    ]
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "train.py"), "-m", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    lasts = [sweep_dir / member / "checkpoints" / "last.ckpt" for member in ("0", "1")]
    deadline = time.monotonic() + 240
    while not all(last.exists() for last in lasts):
        assert process.poll() is None and time.monotonic() < deadline, process.stdout.read()[-2000:]
        time.sleep(0.2)
    time.sleep(1.5)  # more writes, possibly one under way
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    time.sleep(1.5)  # the writer's processes finish what they were sent, then see their parent gone
    for member, last in zip(("0", "1"), lasts):
        checkpoint = torch.load(last, weights_only=False)
        assert checkpoint["global_step"] > 0 and "network.net.1.weight" in checkpoint["state_dict"]
        assert checkpoint["optimizer_states"] and checkpoint["loops"]["fit_loop"]
        state = next(v for k, v in checkpoint["callbacks"].items() if "Checkpoint" in k)
        best = torch.load(state["best_model_path"], weights_only=False)
        assert best["global_step"] <= checkpoint["global_step"]
        history = pd.read_csv(sweep_dir / member / "history.csv")
        assert len(history) >= 1 and history["epoch"].is_monotonic_increasing

    epochs = torch.load(lasts[1], weights_only=False)["epoch"] + 2
    resumed = run_in_process(f"resume={sweep_dir / '1'}", f"trainer.max_epochs={epochs}")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert read_metrics(sweep_dir / "1")["status"] == "completed"


def test_a_stacked_checkpoint_without_loop_state_is_refused_by_resume(tmp_path):
    """Stacked checkpoints written before they carried Lightning's loop state cannot be resumed: said in one line."""
    from litlab.checkpoints import resume_checkpoint
    from litlab.errors import LitlabError

    old = tmp_path / "old.ckpt"
    torch.save({"state_dict": {"network.net.1.weight": torch.zeros(2, 2)}, "epoch": 3, "stacked": True}, old)
    with pytest.raises(LitlabError, match="older stacked sweep.*init_from="):
        resume_checkpoint(str(old), None)


def test_optuna_batches_of_trials_train_stacked(tmp_path):
    """hydra.sweeper.n_jobs=3: Optuna hands the launcher three trials at a time; each batch is one group."""
    result = sweep(
        tmp_path,
        "search",
        "sweep=mlp_search",
        "data=iris",
        "trainer.max_epochs=2",
        *QUICK,
        "hydra.sweeper.n_trials=6",
        "hydra.sweeper.n_jobs=3",
        "model.hidden=choice([16])",
    )
    assert (result.stdout + result.stderr).count("3 stacked in 1 group(s)") == 2
    table = pd.read_csv(tmp_path / "search" / "report.csv")
    assert len(table) == 6 and (table["status"] == "completed").all()
    best = OmegaConf.load(tmp_path / "search" / "optimization_results.yaml")
    assert best.best_value == pytest.approx(table["val/acc"].max())  # the members' values reached Optuna


def test_image_members_get_the_prediction_grid_and_a_progress_bar(tmp_path, run_in_process):
    """Image classifiers: each member's TensorBoard holds the test predictions' grid at the last step, drawn
    without a matplotlib figure; the group's progress bar shows epochs, members and their speed."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    result = run_in_process(
        "-m",
        "data=digits",
        "model=softmax",
        "seed=0,1",
        "trainer.max_epochs=2",
        *NO_REPORT,
        "hydra/launcher=stacked",
        f"hydra.sweep.dir={tmp_path}",
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "2/2 epochs" in result.stdout + result.stderr and "member-samples/s" in result.stdout + result.stderr
    for job in ("0", "1"):
        events = EventAccumulator(str(tmp_path / job / "tensorboard"), size_guidance={"images": 0})
        events.Reload()
        (grid,) = events.Images("test/predictions")
        assert grid.step == max(e.step for e in events.Scalars("epoch"))  # the step the test metrics are logged at
        assert grid.width > 300 and grid.height > 200


def test_a_stacked_training_epoch_reads_nothing_back_from_the_device(make_cfg, tmp_path, monkeypatch):
    """Divergence, the epoch's metrics and the best checkpoints stay on the device during an epoch: no operator
    that waits for it (test_host_reads.py's count) runs in a training epoch of the stacked loop."""
    from test_host_reads import CountHostReads

    from litlab.stacked.loop import StackedLoop
    from litlab.stacked.member import Member
    from litlab.stacked.train import _train

    counter, per_epoch = CountHostReads(), []
    train_epoch = StackedLoop._train_epoch

    def counted(self):
        before = counter.reads
        values = train_epoch(self)
        per_epoch.append(counter.reads - before)
        return values

    monkeypatch.setattr(StackedLoop, "_train_epoch", counted)
    members = []
    for job in range(3):
        (tmp_path / str(job)).mkdir()
        # Divergence checked every 2 steps: a single run reads the losses that often; the stacked loop never does.
        overrides = [
            "experiment=iris_optimizers",
            f"seed={job}",
            "trainer.max_epochs=3",
            "callbacks.divergence.check_every=2",
        ]
        cfg = make_cfg(*overrides, f"paths.output_dir={tmp_path / str(job)}")
        members.append(Member(job=job, cfg=cfg, overrides=overrides))
    for member in members:
        member.open([0, 1, 2])
    with counter:
        values = _train(members)
    for member in members:
        member.close()
    assert per_epoch == [0, 0, 0] and all(v is not None for v in values)
    assert all(read_metrics(tmp_path / str(job))["status"] == "completed" for job in range(3))


def test_the_linear_baseline_is_fitted_once_per_split_of_a_grid_in_job_order(make_cfg, tmp_path, monkeypatch):
    """A grid of learning rates by seeds, in job order (the seeds cycle within each learning rate, more of
    them than baseline.py keeps fits of): one baseline fit per seed's split, and members of one seed get
    the same baseline scores. The fits run in a forked process (baseline.Ahead): each is counted in a file."""
    from litlab import baseline
    from litlab.stacked.member import Member
    from litlab.stacked.train import _train

    fit, counts = baseline._fit, tmp_path / "fits"

    def counted(*args):
        with open(counts, "a") as f:
            f.write(f"{os.getpid()}\n")
        return fit(*args)

    monkeypatch.setattr(baseline, "_fit", counted)
    monkeypatch.setattr(baseline, "_fits", {})
    monkeypatch.setattr(baseline, "CACHED", 2)
    seeds = baseline.CACHED + 1
    members = []
    for job, (lr, seed) in enumerate((lr, seed) for lr in (0.1, 0.5) for seed in range(seeds)):
        (tmp_path / str(job)).mkdir()
        overrides = ["experiment=iris_optimizers", f"optimizer.lr={lr}", f"seed={seed}", "trainer.max_epochs=1"]
        cfg = make_cfg(*overrides, f"paths.output_dir={tmp_path / str(job)}")
        members.append(Member(job=job, cfg=cfg, overrides=overrides))
    for member in members:
        member.open(list(range(len(members))))
    values = _train(members)
    for member in members:
        member.close()
    assert all(v is not None for v in values)
    pids = counts.read_text().split()
    assert len(pids) == seeds and str(os.getpid()) not in pids  # fitted beside the training, once per split
    records = [read_metrics(tmp_path / str(job)) for job in range(len(members))]
    scores = [{k: v for k, v in r.items() if k.startswith("baseline/")} for r in records]
    assert scores[0] and all(scores[seed] == scores[seeds + seed] for seed in range(seeds))
    assert scores[0] != scores[1]  # another seed, another split


def test_a_bf16_group_on_a_gpu_without_bfloat16_fails_each_job_in_one_line(make_cfg, tmp_path, monkeypatch):
    """Fabric's device is checked as the single run's Trainer is: a GPU without bfloat16 refuses bf16-mixed, and
    every job of the group says so in its metrics.json instead of training in 32 bits unasked."""
    import lightning as L

    from litlab.stacked.member import Member
    from litlab.stacked.train import _train

    monkeypatch.setattr(L.Fabric, "device", property(lambda self: torch.device("cuda")))  # an old GPU, faked
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *args, **kwargs: False)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda *args: "Tesla T4")
    members = []
    for job in range(2):
        (tmp_path / str(job)).mkdir()
        overrides = ["experiment=iris_optimizers", f"seed={job}", "trainer.precision=bf16-mixed"]
        members.append(
            Member(job=job, cfg=make_cfg(*overrides, f"paths.output_dir={tmp_path / str(job)}"), overrides=overrides)
        )
    for member in members:
        member.open([0, 1])
    values = _train(members)
    for member in members:
        member.close()
    assert values == [None, None]
    for job in range(2):
        metrics = read_metrics(tmp_path / str(job))
        assert metrics["status"] == "failed" and "Tesla T4 has no bfloat16" in metrics["error"], metrics
