"""The CLI's view of progress: a rich progress bar (frames, frames/s, ETA) and the closing summary."""
from __future__ import annotations

import time

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, ProgressColumn, TaskProgressColumn, TextColumn,
                           TimeElapsedColumn, TimeRemainingColumn)
from rich.table import Table
from rich.text import Text

from ..progress import Reporter


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
        self.finished = 0  # jobs whose output is complete: an interrupt after the last says there is nothing to resume

    def __enter__(self) -> "RichReporter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """Stop drawing the bar (again: harmless), so that what follows prints below it."""
        if self.task is not None:
            self.progress.stop()

    def start(self, job: str, total: int, resumed: int = 0) -> None:
        if self.task is None:
            self.progress.start()  # only now: a command that fails validation prints one line, no bar
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
        self.finished += 1
        if self.task is not None:
            self.progress.update(self.task, completed=self.progress.tasks[-1].total)


def print_results(results, quiet: bool = False) -> None:
    """One line for a single job; a table for a queue."""
    console = Console()
    if len(results) == 1:
        result = results[0]
        if result.status == "done":
            console.print(f"dreamed {result.frames} frame(s) in {result.seconds:.1f}s -> {result.job.output}")
        elif not quiet:
            console.print(f"{result.job.output}: {result.status}")
        return
    table = Table("input", "output", "frames", "time", "status", title="render queue")
    for result in results:
        status = result.status if result.error is None else f"[red]failed[/]: {result.error}"
        table.add_row(str(result.job.source), str(result.job.output), str(result.frames), f"{result.seconds:.1f}s",
                      status)
    console.print(table)
    counts = {status: sum(r.status == status for r in results) for status in ("done", "skipped", "failed")}
    console.print(f"dreamed {sum(r.frames for r in results)} frame(s) in {sum(r.seconds for r in results):.1f}s: "
                  + ", ".join(f"{count} {status}" for status, count in counts.items()))
