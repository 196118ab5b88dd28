"""The default progress bar hands Lightning only the batches it will draw, and always each loop's last."""

import lightning as L
from lightning.pytorch.callbacks import RichProgressBar

from litlab.callbacks.progress import ThrottledRichProgressBar
from litlab.run import build


def test_between_redraws_batches_are_skipped_and_the_last_is_shown(make_cfg, monkeypatch):
    shown = {"train": [], "val": []}
    monkeypatch.setattr(
        RichProgressBar, "on_train_batch_end", lambda self, trainer, module, outputs, batch, i: shown["train"].append(i)
    )
    monkeypatch.setattr(
        RichProgressBar,
        "on_validation_batch_end",
        lambda self, trainer, module, outputs, batch, i, dataloader_idx=0: shown["val"].append(i),
    )
    clock = iter(range(10**6))
    monkeypatch.setattr("litlab.callbacks.progress.monotonic", lambda: next(clock) / 1000)  # 1 ms apart
    cfg = make_cfg(
        "data=digits",
        "model=softmax",
        "data.batch_size=16",
        "trainer.max_epochs=1",
        "trainer.num_sanity_val_steps=0",
        quick=False,
    )
    datamodule, system, trainer = build(cfg)
    assert isinstance(trainer.progress_bar_callback, ThrottledRichProgressBar)  # the default callbacks' bar
    trainer.fit(system, datamodule=datamodule)
    # 1 ms per batch at 10 redraws a second: one batch in 100 is handed over, and the last one.
    batches = trainer.num_training_batches
    assert shown["train"] == [*range(0, batches - 1, 100), batches - 1]
    assert shown["val"] == [trainer.num_val_batches[0] - 1]  # less than 100 ms after the last training batch


def test_refresh_rate_zero_hides_the_bar(make_cfg):
    bar = ThrottledRichProgressBar(refresh_rate=0)
    assert bar.is_disabled


def test_a_long_run_keeps_one_validation_task_not_one_per_epoch(make_cfg):
    cfg = make_cfg("data=iris", "model=softmax", "trainer.max_epochs=12", quick=False)
    datamodule, system, trainer = build(cfg)
    bar = trainer.progress_bar_callback
    tasks = []
    trainer.callbacks.append(
        type(
            "CountTasks",
            (L.Callback,),
            {"on_train_epoch_end": lambda self, trainer, module: tasks.append(len(bar.progress.tasks))},
        )()
    )
    trainer.fit(system, datamodule=datamodule)
    # The training bar and the sanity check's (hidden) one; Lightning's own bar would hold 12 validation tasks by now.
    assert max(tasks) <= 3 and tasks[-1] == tasks[1], tasks


def test_epochs_shorter_than_a_redraw_are_shown_when_a_redraw_is_due_and_the_last_always(make_cfg, monkeypatch):
    cfg = make_cfg("data=iris", "model=softmax", "trainer.max_epochs=12", "trainer.num_sanity_val_steps=0", quick=False)
    datamodule, system, trainer = build(cfg)
    now = {"s": 0.0}
    monkeypatch.setattr("litlab.callbacks.progress.monotonic", lambda: now["s"])

    class EpochClock(L.Callback):  # each epoch starts 30 ms after the one before
        def on_train_epoch_start(self, trainer, module):
            now["s"] = 0.03 * trainer.current_epoch

    trainer.callbacks.insert(0, EpochClock())
    shown = {"start": [], "validation": []}
    for hook, key in (("on_train_epoch_start", "start"), ("on_validation_batch_start", "validation")):
        original = getattr(RichProgressBar, hook)

        def handed(self, trainer, *args, _original=original, _key=key):
            shown[_key].append(trainer.current_epoch)
            _original(self, trainer, *args)

        monkeypatch.setattr(RichProgressBar, hook, handed)
    trainer.fit(system, datamodule=datamodule)
    # At 10 redraws a second the bar is handed every 4th epoch of 30 ms (its last batch restarts the clock), and
    # the last; an epoch it is not handed has no validation bar either.
    assert shown["start"] == [0, 4, 8, 11]
    assert shown["validation"] == shown["start"]
