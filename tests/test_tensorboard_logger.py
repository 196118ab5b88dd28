"""litlab's TensorBoard logger writes what Lightning's writes (same tags, steps and values), only on an interval:
what is held reaches the event file at the interval, at the end, and before anything reads the writer."""

import pytest
from conftest import compose_config
from omegaconf import OmegaConf, open_dict
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from litlab.errors import LitlabError
from litlab.loggers.tensorboard import TensorBoardLogger
from litlab.run import fit

# Iris, 6 epochs of 5 steps, validating every 2nd, a scheduler (so the lr monitor logs a changing value),
# with the default callbacks and logger.
RUN = [
    "experiment=iris_optimizers",
    "trainer.max_epochs=6",
    "trainer.check_val_every_n_epoch=2",
    "scheduler=step",
    "trainer.enable_progress_bar=false",
    "callbacks.progress_bar=null",
]


def scalars(folder) -> dict[str, list[tuple[int, float]]]:
    """Every scalar tag in the run's TensorBoard folder, with its (step, value) pairs."""
    if not (folder / "tensorboard").is_dir():  # the writer makes it when it first writes
        return {}
    events = EventAccumulator(str(folder / "tensorboard"), size_guidance={"scalars": 0}).Reload()
    return {tag: [(s.step, s.value) for s in events.Scalars(tag)] for tag in events.Tags()["scalars"]}


def test_a_runs_scalars_are_lightnings_loggers_tags_steps_and_values(tmp_path):
    def run(name: str, lightnings: bool) -> dict:
        cfg = compose_config("train", [*RUN, f"paths.output_dir={tmp_path / name}"])
        if lightnings:  # Lightning's own logger, which writes every epoch's scalars at once
            logger = OmegaConf.to_container(cfg.logger)
            del logger["flush_interval"]
            with open_dict(cfg):
                cfg.logger = {**logger, "_target_": "lightning.pytorch.loggers.TensorBoardLogger"}
        outcome = fit(cfg)
        assert isinstance(outcome.trainer.logger, TensorBoardLogger) != lightnings
        return scalars(tmp_path / name)

    ours, lightnings = run("ours", lightnings=False), run("lightnings", lightnings=True)
    assert {"train/loss", "val/loss", "val/acc", "lr-SGD/pg1", "params/weight_norm", "test/acc"} <= set(ours)
    assert sorted(ours) == sorted(lightnings)
    for tag in ours:
        assert [step for step, _ in ours[tag]] == [step for step, _ in lightnings[tag]], tag
        assert [value for _, value in ours[tag]] == pytest.approx([value for _, value in lightnings[tag]]), tag
    assert len(ours["val/loss"]) == 3 and len(ours["train/loss"]) == 6


def test_held_scalars_are_written_at_the_interval_on_reads_of_the_writer_after_a_checkpoint_and_at_the_end(tmp_path):
    logger = TensorBoardLogger(save_dir=str(tmp_path), name="tensorboard", version="", flush_interval=3600)
    logger.log_metrics({"a": 1.0}, step=0)
    logger.save()
    assert scalars(tmp_path) == {}  # held: the interval has not passed
    logger.experiment.flush()  # anything that reads the writer gets the held scalars written first
    assert scalars(tmp_path) == {"a": [(0, 1.0)]}
    logger.log_metrics({"a": 2.0}, step=5)
    logger.write_at_next_save()  # the interval checkpoint has written its files
    logger.save()
    assert scalars(tmp_path) == {"a": [(0, 1.0), (5, 2.0)]}
    logger.log_metrics({"a": 3.0, "b": 4.0}, step=9)
    logger.save()
    assert scalars(tmp_path) == {"a": [(0, 1.0), (5, 2.0)]}  # held again until the interval
    logger.finalize("failed")  # Ctrl-C, SIGTERM, an error: Lightning finalizes its loggers
    assert scalars(tmp_path) == {"a": [(0, 1.0), (5, 2.0), (9, 3.0)], "b": [(9, 4.0)]}


def test_flush_interval_zero_writes_every_save_and_a_negative_one_is_refused(tmp_path):
    logger = TensorBoardLogger(save_dir=str(tmp_path), name="tensorboard", version="", flush_interval=0)
    logger.log_metrics({"a": 1.0}, step=3)
    logger.save()
    assert scalars(tmp_path) == {"a": [(3, 1.0)]}
    with pytest.raises(LitlabError, match="logger.flush_interval=-1"):
        TensorBoardLogger(save_dir=str(tmp_path), flush_interval=-1)
