"""Learning curves drawn while a run trains, in a Jupyter notebook: d2l's `Animator`, as a Lightning callback.

One figure, updated in place after each epoch (at most twice a second, and always after the last):
train and val loss, and train and val accuracy for a classifier (the score panel of a regressor is its
loss already). While it draws, the rich progress bar is turned off: its console output would
interleave with the plot. In a multirun the jobs share one figure, titled with the job's overrides.

`callbacks.live_plot.enabled`: `auto` (default) draws inside a Jupyter kernel and not elsewhere
(a terminal, pytest, joblib workers); `true` draws whenever IPython can display, `false` never.
Either way it records the epoch history (`EpochHistory`) that `litlab.train(...).history` returns.
"""

import io
import sys
from pathlib import Path
from time import monotonic

import lightning as L

from litlab.callbacks.history import EpochHistory

PANELS = (("loss", ("train/loss", "val/loss")), ("accuracy", ("train/acc", "val/acc")))
REDRAW_EVERY_S = 0.5  # drawing a PNG takes ~50 ms: a 400-epoch run drawn at every epoch would take 20 s more


def in_notebook() -> bool:
    """Whether this process is a Jupyter kernel (IPython with a kernel attached), without importing IPython."""
    ipython = sys.modules.get("IPython")
    shell = ipython.get_ipython() if ipython is not None else None
    return getattr(shell, "kernel", None) is not None


class LivePlot(EpochHistory):
    _sweep_displays: dict = {}  # sweep folder -> the display its jobs update, so a sweep shows one figure

    def __init__(self, enabled: str | bool = "auto"):
        super().__init__()
        if enabled not in ("auto", True, False):
            from litlab.errors import LitlabError

            raise LitlabError(f"callbacks.live_plot.enabled={enabled}: use auto, true or false")
        self.enabled = enabled
        self.active = False
        self._display = None
        self._next_draw = 0.0
        self._title = ""

    def setup(self, trainer: L.Trainer, pl_module: L.LightningModule, stage: str) -> None:
        wanted = in_notebook() if self.enabled == "auto" else self.enabled
        self.active = bool(wanted) and trainer.is_global_zero and _can_display()
        if self.active and trainer.progress_bar_callback is not None:
            trainer.progress_bar_callback.disable()

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._title = _job_title()

    def epoch_done(self, trainer: L.Trainer, epoch: int, last: bool) -> None:
        if self.active and (last or monotonic() >= self._next_draw):  # the last epoch always: the final state
            self.draw()
            self._next_draw = monotonic() + REDRAW_EVERY_S

    def draw(self) -> None:
        from IPython.display import Image, display

        image = Image(data=self.png(), format="png")
        if self._display is None:
            self._display = self._shared_display()
        if self._display is None:
            self._display = display(image, display_id=True)
            if _sweep_dir():
                LivePlot._sweep_displays[_sweep_dir()] = self._display
        else:
            self._display.update(image)

    def _shared_display(self):
        sweep_dir = _sweep_dir()
        return LivePlot._sweep_displays.get(sweep_dir) if sweep_dir else None

    def png(self) -> bytes:
        """The figure as PNG bytes: drawn without pyplot, so the notebook does not show it a second time."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        frame = self.frame()
        panels = [(name, [c for c in columns if c in frame]) for name, columns in PANELS]
        panels = [(name, columns) for name, columns in panels if columns]
        figure = Figure(figsize=(4.2 * max(len(panels), 1), 3.2), layout="constrained")
        FigureCanvasAgg(figure)
        for i, (name, columns) in enumerate(panels):
            ax = figure.add_subplot(1, len(panels), i + 1)
            for column, style in zip(columns, ("-", "--")):
                points = frame[["epoch", column]].dropna()
                ax.plot(points["epoch"], points[column], style, marker="." if len(points) < 30 else None, label=column)
            ax.set_xlabel("epoch")
            ax.set_title(name)
            ax.legend(fontsize=8)
            ax.grid(alpha=0.3)
            if name == "loss" and _spans_decades(frame[columns]):
                ax.set_yscale("log")
        if self._title:
            figure.suptitle(self._title, fontsize=9)
        buffer = io.BytesIO()
        figure.savefig(buffer, format="png", dpi=90)
        return buffer.getvalue()


def _can_display() -> bool:
    try:
        import IPython.display  # noqa: F401
    except ImportError:
        return False
    return True


def _sweep_dir() -> str | None:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized() or HydraConfig.get().mode != RunMode.MULTIRUN:
        return None
    return str(Path(HydraConfig.get().runtime.output_dir).parent)  # the job folder's parent


def _job_title() -> str:
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return ""
    hydra = HydraConfig.get()
    overrides = " ".join(hydra.overrides.task)
    return f"job {hydra.job.num}: {overrides}" if _sweep_dir() else overrides


def _spans_decades(values) -> bool:
    finite = values.stack()
    finite = finite[finite > 0]
    return len(finite) > 1 and finite.max() / finite.min() > 100
