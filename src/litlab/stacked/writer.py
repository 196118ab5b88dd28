"""The members' files, written by background processes while the group trains on.

Writing a member's files is Python work (TensorBoard's protocol buffers, pickling checkpoints, JSON) that a
thread would do under the GIL, one member after another and in the training process's way. `Writer` forks
worker processes (as many as the cores, at most one per member) once the members are built: each holds
the members as they were then (their configs, loggers and checkpoint settings) and is sent, per member,
only what changed: new TensorBoard points, checkpoints, metrics.json. A member always goes to the same
worker, which keeps its TensorBoard event file open, so its points land in one file in order.

Workers ignore Ctrl-C, SIGTERM and SIGUSR2: the training process decides when to stop, sends the last files, then
`close()` drains the workers. A worker whose parent died (SIGKILL) writes what it was sent and exits.
Checkpoints are written atomically (a temporary file renamed), so a kill leaves the previous ones whole.

A member's scalars and HParams are appended to its TensorBoard event file as whole records (event_file.py), not one
event at a time through the SummaryWriter's thread.

Tensors travel as numpy arrays (`dumps`): a member's rows of a stacked tensor are pickled as the rows alone,
and become tensors again in the worker.
"""

import csv
import io
import logging
import os
import pickle
import queue
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from litlab.stacked.event_file import EventFile

log = logging.getLogger("litlab.stacked")


@dataclass
class Task:
    """What a worker writes for member `member` (its index in the group)."""

    member: int
    events: list = field(default_factory=list)  # (step, walltime, {tag: value}) for the loggers
    history: tuple | None = None  # (column names, rows) for history.csv: its metrics per epoch, NaN: none
    checkpoints: list = field(default_factory=list)  # (path, checkpoint)
    remove: list = field(default_factory=list)  # checkpoint files replaced by the ones above
    metrics: dict | None = None  # metrics.json
    hparams: dict | None = None  # the final metrics beside the settings (TensorBoard's HParams)
    grid: tuple | None = None  # (images, predictions, labels, class names, step): the prediction grid
    close: str | None = None  # the member's final status: close its loggers


def _tensor(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(array if array.flags.writeable else array.copy())


class _Pickler(pickle.Pickler):
    """Pickles a tensor as its numpy array: a row of a stacked tensor goes as that row alone (torch's own
    pickling would write the whole storage it views), and it is a tensor again where it is unpickled."""

    dispatch_table = {
        torch.Tensor: lambda t: (_tensor, (t.detach().cpu().numpy(),)),
        torch.nn.Parameter: lambda t: (_tensor, (t.detach().cpu().numpy(),)),
    }


def dumps(task: "Task") -> bytes:
    buffer = io.BytesIO()
    _Pickler(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(task)
    return buffer.getvalue()


def cores() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


class Writer:
    def __init__(self, members: list):
        self.members = members
        count = min(len(members), cores())
        self.workers, self.queues = [], []
        if "fork" not in __import__("multiprocessing").get_all_start_methods():
            self.local = _Files(members)  # no fork (Windows, and macOS's default): written in this process
            return
        import multiprocessing

        context = multiprocessing.get_context("fork")
        self.errors = context.Queue()
        # Started with SIGINT, SIGTERM and the preemption signal (SIGUSR2) ignored: the workers inherit that; the
        # parent's handlers come back.
        previous = {s: signal.signal(s, signal.SIG_IGN) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR2)}
        try:
            for number in range(count):
                tasks = context.Queue()
                share = list(range(number, len(members), count))  # the members `send` gives it
                args = (tasks, self.errors, members, os.getpid(), share)
                worker = context.Process(target=_work, args=args, daemon=True)
                worker.start()
                self.workers.append(worker)
                self.queues.append(tasks)
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)
        self.local = None

    def send(self, task: Task) -> None:
        if self.local is not None:
            self.local.write(pickle.loads(dumps(task)))  # its own copy of every row, as a worker would get
            return
        # Pickled now: the arrays in it are copies, but the rest of the loop's state moves on.
        self.queues[task.member % len(self.queues)].put(dumps(task))

    def close(self) -> None:
        """Wait until every file sent is written (also after Ctrl-C: the workers ignore it)."""
        if self.local is not None:
            self.local.close()
            return
        for tasks in self.queues:
            tasks.put(None)
        for worker in self.workers:
            worker.join()
        while True:
            try:
                job, message = self.errors.get(timeout=0.05)
            except queue.Empty:
                break
            log.error("job %d: its files could not all be written: %s", job, message)


def _work(tasks, errors, members: list, parent: int, share: list[int]) -> None:
    torch.set_num_threads(1)
    files = _Files(members)
    # While nothing is sent (the group trains), it makes its members' event files, as their single runs' loggers
    # make them when training starts: the members' writes at the end of the group wait less.
    unopened = list(share)
    while True:
        try:
            item = tasks.get_nowait() if unopened else tasks.get(timeout=1.0)
        except queue.Empty:
            if unopened:
                try:
                    files.open(unopened.pop(0))
                except Exception:  # made again by the member's first write, which reports what is wrong
                    pass
                continue
            if os.getppid() != parent:  # the training process is gone: nothing more will come
                break
            continue
        if item is None:
            break
        task = pickle.loads(item)
        try:
            files.write(task)
        except Exception as error:  # one member's files: the others are still written
            errors.put((members[task.member].job, f"{type(error).__name__}: {error}"))
    files.close()


class _Files:
    """Writes tasks into the members' folders; keeps each member's TensorBoard writer open until it closes."""

    def __init__(self, members: list):
        from concurrent.futures import ThreadPoolExecutor

        self.members = members
        self.savers = ThreadPoolExecutor(2, thread_name_prefix="checkpoints")  # a member's best and last.ckpt
        self.rows: dict[int, np.ndarray] = {}  # member -> its history rows so far
        self.event_files: dict[int, list] = {}  # member -> an EventFile (None: not TensorBoard) per logger

    def open(self, m: int) -> None:
        """Member m's event files (one per TensorBoard logger), unless they are made already."""
        if m not in self.event_files:
            self.event_files[m] = [EventFile.of(logger) for logger in self.members[m].loggers]

    def _history(self, member, names: list[str], rows: np.ndarray) -> None:
        """Rows appended to history.csv; history.npy rewritten with all of them (what the sweep report reads:
        a thousandth of the time of parsing the CSV)."""
        so_far = self.rows.get(member.index, member.earlier)
        self.rows[member.index] = rows if so_far is None else np.concatenate([so_far, rows])
        path = member.output_dir / "history.csv"
        new = not path.exists()
        with open(path, "a", newline="") as f:
            writer = csv.writer(f)
            if new:
                writer.writerow(names)
            # Python floats (`tolist`): NumPy's scalars take several times as long to test and format.
            writer.writerows([int(row[0]), *("" if v != v else repr(v) for v in row[1:])] for row in rows.tolist())
        table = np.rec.fromarrays(self.rows[member.index].T, names=names)
        np.save(member.output_dir / "history.npy", table)

    def write(self, task: Task) -> None:
        from litlab.checkpoints import AtomicCheckpointIO
        from litlab.record import write_metrics

        member = self.members[task.member]
        self.open(task.member)  # made before anything else, as its single run's logger makes it
        # The checkpoints are written by threads while this one writes the rest: their fsyncs wait for the disk
        # without the GIL. The ones they replace are removed, and metrics.json (which names the best) written,
        # once they are on disk.
        saving = []
        for path, checkpoint in task.checkpoints:
            checkpoint["hyper_parameters"] = dict(member.system.hparams)  # as the member was built: the same here
            saving.append(self.savers.submit(AtomicCheckpointIO().save_checkpoint, checkpoint, path))
        if task.events:
            for logger, events in zip(member.loggers, self.event_files[task.member]):
                if events is not None:
                    events.append(task.events)
                else:
                    for step, _, values in task.events:
                        logger.log_metrics(values, step)
        if task.history is not None:
            self._history(member, *task.history)
        if task.grid is not None:
            _log_grid(member.loggers, *task.grid)
        if task.hparams is not None:
            self._hparams(task.member, task.hparams)
        for saved in saving:
            saved.result()
        for path in task.remove:
            Path(path).unlink(missing_ok=True)
        if task.metrics is not None:
            write_metrics(member.cfg, task.metrics)
        for logger in member.loggers:
            _flush(logger)
        if task.close is not None:
            for logger in member.loggers:
                _finalize(logger, task.close)

    def _hparams(self, m: int, metrics: dict) -> None:
        """record.log_hparams, its TensorBoard summaries appended to the member's event file."""
        from litlab.record import hparams_params, hparams_summaries, log_hparams

        member = self.members[m]
        # The config as the member's system resolved it when it was built (its checkpoints' hyperparameters).
        resolved = member.system.hparams["config"]
        params = hparams_params(member.cfg, resolved)
        for logger, events in zip(member.loggers, self.event_files[m]):
            if events is None or events.path is None:
                log_hparams([logger], member.cfg, metrics, resolved)
                continue
            logger.log_hyperparams(params)  # hparams.yaml
            now = time.time()
            events.append([(0, now, summary) for summary in hparams_summaries(params, metrics)])

    def close(self) -> None:
        self.savers.shutdown()


def _tensorboard(logger):
    from lightning.pytorch.loggers import TensorBoardLogger

    return logger.experiment if isinstance(logger, TensorBoardLogger) else None


def _finalize(logger, status: str) -> None:
    """The logger's `finalize`; TensorBoard's hparams.yaml written with PyYAML's C dumper, as Lightning's
    would be (its own goes through OmegaConf: 80 ms a member)."""
    experiment = _tensorboard(logger)
    if experiment is None:
        logger.finalize("success" if status == "completed" else status)
        return
    from litlab.loggers.tensorboard import write_hparams_file

    experiment.flush()
    experiment.close()
    if status == "completed" and not (Path(logger.log_dir) / logger.NAME_HPARAMS_FILE).exists():
        write_hparams_file(logger)


def _flush(logger) -> None:
    experiment = _tensorboard(logger)
    if experiment is not None:
        experiment.flush()


def _log_grid(loggers: list, images: np.ndarray, predicted: np.ndarray, labels: np.ndarray, names, step) -> None:
    """Test images in a grid, each framed green (right) or red (wrong) under "predicted / true" (PIL: a few ms)."""
    from PIL import Image, ImageDraw

    columns, pad, caption = 6, 4, 26
    count, height, width = images.shape[0], images.shape[-2], images.shape[-1]
    scale = max(1, 56 // max(height, width))
    cell_w, cell_h = width * scale + 2 * pad, height * scale + 2 * pad + caption
    rows = -(-count // columns)
    canvas = Image.new("RGB", (columns * cell_w, rows * cell_h), "white")
    draw = ImageDraw.Draw(canvas)
    for i in range(count):
        image = images[i].reshape(height, width)
        low, high = float(image.min()), float(image.max())
        pixels = ((image - low) / (high - low or 1.0) * 255).astype(np.uint8)
        tile = Image.fromarray(pixels, "L").resize((width * scale, height * scale), Image.NEAREST).convert("RGB")
        x, y = (i % columns) * cell_w, (i // columns) * cell_h
        color = (0, 150, 0) if predicted[i] == labels[i] else (220, 0, 0)
        draw.rectangle([x + 1, y + caption + 1, x + cell_w - 2, y + cell_h - 2], outline=color, width=2)
        canvas.paste(tile, (x + pad, y + caption + pad))
        draw.text((x + pad, y + 1), f"{names[predicted[i]]}\n{names[labels[i]]}"[:40], fill=color)
    array = np.asarray(canvas)
    for logger in loggers:
        experiment = _tensorboard(logger)
        if experiment is not None:
            experiment.add_image("test/predictions", array, step, dataformats="HWC")
