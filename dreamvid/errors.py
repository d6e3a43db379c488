"""Errors a user can fix (exit status 2, one line) versus everything else (bugs)."""


class DreamvidError(Exception):
    """Base of dreamvid's own errors."""


class UserError(DreamvidError):
    """Bad input or options: the CLI prints the message alone and exits with status 2."""


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Python handles signals, so a render stops and cleans up as on Ctrl-C."""


class OutOfMemory(DreamvidError):
    """The accelerator or the machine ran out of memory while dreaming."""
