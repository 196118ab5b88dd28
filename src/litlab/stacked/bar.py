"""The group's progress bar on the console (rich, as a single run's): epochs, members training and diverged,
member-samples per second and the time left. Updated once per epoch; the member counts change at each
validation (when the loop learns them)."""

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn


class GroupProgress:
    def __init__(self, epochs: int, members: int, samples: int, enabled: bool = True):
        self.epochs, self.samples, self.enabled = epochs, samples, enabled
        self.training, self.diverged, self.rate = members, 0, 0.0
        self.progress: Progress | None = None
        self.task = None

    def __enter__(self) -> "GroupProgress":
        if self.enabled:
            self.progress = Progress(
                TextColumn("stacked group"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("epochs · {task.fields[members]}"),
                TimeRemainingColumn(),
                refresh_per_second=4,
            )
            self.progress.start()
            self.task = self.progress.add_task("train", total=self.epochs, members=self._text())
        return self

    def __exit__(self, *exc) -> None:
        if self.progress is not None:
            self.progress.stop()
            self.progress = None

    def _text(self) -> str:
        diverged = f", {self.diverged} diverged" if self.diverged else ""
        return f"{self.training} members training{diverged} · {self.rate:,.0f} member-samples/s"

    def members(self, training: int, diverged: int) -> None:
        self.training, self.diverged = training, diverged

    def epoch_done(self, seconds: float) -> None:
        self.rate = self.training * self.samples / seconds if seconds > 0 else 0.0
        if self.progress is not None:
            self.progress.update(self.task, advance=1, members=self._text())
