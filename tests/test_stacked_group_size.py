"""`hydra.launcher.max_members`: auto fits the group to the device's free memory, a number caps it."""

import logging

import pytest
import torch
from conftest import IRIS_GRID

from litlab.errors import LitlabError
from litlab.stacked import group_size as sizing

IRIS = ["experiment=iris_optimizers", "optimizer=adam"]


def test_a_member_is_measured_part_by_part(make_cfg):
    share = sizing.footprint(make_cfg(*IRIS), torch.device("cpu"))
    params = (4 * 16 + 16 + 16 * 3 + 3) * 4  # the 4-16-3 MLP in float32
    assert share.parameters == share.gradients == params
    assert share.optimizer >= 2 * params  # Adam: two moments per parameter
    assert 24 * 16 * 4 <= share.activations  # one batch of 24 through the hidden layer, at least
    assert share.data == 150 * (4 * 4 + 8)  # 150 rows of 4 float32 features and an int64 label
    assert share.total == share.parameters + share.gradients + share.optimizer + share.activations + share.data


def test_auto_fits_as_many_members_as_half_the_free_memory_holds_and_says_so(make_cfg, monkeypatch, caplog):
    cfg = make_cfg(*IRIS)
    share = sizing.footprint(cfg, torch.device("cpu")).total
    monkeypatch.setattr(sizing, "available_bytes", lambda device: 10 * share)
    with caplog.at_level(logging.INFO, logger="litlab.stacked"):
        size = sizing.group_size("auto", cfg, torch.device("cpu"), jobs=12)
    assert size == 5  # half of ten members' worth
    assert "max_members=auto: 5 members fit" in caplog.text and "parameters" in caplog.text


def test_a_number_caps_the_group_without_measuring(make_cfg, monkeypatch):
    monkeypatch.setattr(sizing, "footprint", lambda *a: pytest.fail("a number measures nothing"))
    assert sizing.group_size(4, make_cfg(*IRIS), torch.device("cpu"), jobs=12) == 4
    assert sizing.group_size("7", make_cfg(*IRIS), torch.device("cpu"), jobs=12) == 7


@pytest.mark.parametrize("value", [0, -3, "lots", 2.5])
def test_a_bad_max_members_is_refused_naming_the_key(value):
    with pytest.raises(LitlabError, match=r"hydra.launcher.max_members=.* a number of members >= 1, or auto"):
        sizing.parse(value)


def test_a_sweep_splits_its_jobs_into_the_groups_that_fit(run_in_process, monkeypatch, tmp_path):
    """The real `python train.py -m`: 4 jobs where 2 members fit are 2 groups of 2, and the log says why."""
    monkeypatch.setattr(sizing, "MARGIN", 1.0)
    real = sizing.footprint
    monkeypatch.setattr(sizing, "available_bytes", lambda device: int(2.5 * real(*measured[-1]).total))
    measured = []
    monkeypatch.setattr(sizing, "footprint", lambda cfg, device: measured.append((cfg, device)) or real(cfg, device))
    result = run_in_process(
        "-m",
        *IRIS_GRID,
        "trainer.max_epochs=1",
        "hydra/launcher=stacked",
        f"hydra.sweep.dir={tmp_path}",
        "~hydra.callbacks.sweep_report",
    )
    log = result.stdout + result.stderr
    assert result.returncode == 0, log[-3000:]
    assert "max_members=auto: 2 members fit" in log
    assert "4 stacked in 2 group(s), 0 alone" in log
    assert all((tmp_path / str(job) / "metrics.json").exists() for job in range(4))


def test_a_bad_max_members_stops_the_sweep_in_one_line(run_in_process, tmp_path):
    result = run_in_process(
        "-m",
        "experiment=iris_optimizers",
        "seed=0,1",
        "hydra/launcher=stacked",
        "hydra.launcher.max_members=none",
        f"hydra.sweep.dir={tmp_path}",
    )
    assert result.returncode != 0
    assert "hydra.launcher.max_members=none is not allowed" in result.stderr
    assert "Traceback" not in result.stderr
