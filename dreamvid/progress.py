"""How the library reports progress without printing: it calls a Reporter, which the CLI renders with rich."""
from __future__ import annotations


class Reporter:
    """Does nothing; subclass it to show progress. Frame counts are per job."""

    def start(self, job: str, total: int, resumed: int = 0) -> None:
        """A job begins; `resumed` frames were already done by an earlier run."""

    def advance(self, done: int, timings: dict[str, float] | None = None) -> None:
        """`done` frames of the current job are finished (resumed ones included)."""

    def warn(self, message: str) -> None:
        """Something the user should know that does not stop the job."""

    def finish(self) -> None:
        """The current job is complete."""
