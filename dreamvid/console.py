"""The CLI's view of progress: a rich progress bar (frames, frames/s, ETA) and the closing summary."""
from __future__ import annotations

import time

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TaskProgressColumn, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)
from rich.text import Text

from .progress import Reporter


class FramesPerSecond(ProgressColumn):
    """Speed over the frames done in this run only, so a resumed job does not look faster than it is."""

    def render(self, task) -> Text:
        started, resumed = task.fields.get("started"), task.fields.get("resumed", 0)
        if not started or task.completed <= resumed:
            return Text("-- fr/s", style="progress.data.speed")
        rate = (task.completed - resumed) / max(time.monotonic() - started, 1e-9)
        return Text(f"{rate:.2f} fr/s" if rate >= 0.1 else f"{1 / rate:.1f} s/fr", style="progress.data.speed")


class RichReporter(Reporter):
    def __init__(self, quiet: bool = False, verbose: bool = False):
        self.console = Console(stderr=True)
        self.quiet, self.verbose = quiet, verbose
        self.progress = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(), TaskProgressColumn(),
            FramesPerSecond(), TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
            TextColumn("{task.fields[timings]}"),
            console=self.console, disable=quiet, transient=False)
        self.task = None

    def __enter__(self) -> "RichReporter":
        self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.stop()

    def start(self, job: str, total: int, resumed: int = 0) -> None:
        if resumed and not self.quiet:
            self.console.print(f"{job}: resuming, {resumed} of {total} frames already done")
        self.task = self.progress.add_task(job, total=total, completed=resumed, resumed=resumed,
                                           started=time.monotonic(), timings="")

    def advance(self, done: int, timings: dict[str, float] | None = None) -> None:
        text = ""
        if self.verbose and timings:
            text = " ".join(f"{stage} {seconds:.1f}s" for stage, seconds in timings.items())
        self.progress.update(self.task, completed=done, timings=text)

    def warn(self, message: str) -> None:
        self.console.print(f"[yellow]warning:[/] {message}")

    def finish(self) -> None:
        if self.task is not None:
            self.progress.update(self.task, completed=self.progress.tasks[-1].total)
