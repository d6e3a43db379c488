"""Final files and folders appear whole or not at all: a file is written under a temporary name and
renamed; a folder is built complete beside its target and swapped in with one rename, so a kill at
any moment leaves the old output or the new one, never a mix."""
from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import shutil
from pathlib import Path
from typing import Iterator

AT_FDCWD = -100
RENAME_EXCHANGE = 2


def partial_name(path: Path) -> Path:
    """The hidden temporary name of `path`, keeping its suffix (encoders choose the format by it)."""
    return path.with_name(f".{path.stem}.partial{path.suffix}")


@contextlib.contextmanager
def naming(temporary: Path, path: Path) -> Iterator[None]:
    """A system error on `temporary` or a file inside it (a full disk) is raised naming `path` instead:
    the name the user asked for, never a hidden temporary."""
    try:
        yield
    except OSError as error:
        where, hidden = str(error.filename) if error.filename else "", str(temporary)
        if error.errno and (where == hidden or where.startswith(hidden + os.sep)):
            raise OSError(error.errno, error.strerror, str(path) + where[len(hidden):]) from None
        raise


@contextlib.contextmanager
def writing(path: Path) -> Iterator[Path]:
    """Yields a temporary name to write; renamed to `path` when the block succeeds, removed if it fails.
    A system error on the temporary (a full disk) is raised naming `path`, the name the user knows."""
    temporary = partial_name(path)
    try:
        yield temporary
    except BaseException as error:
        with contextlib.suppress(OSError):
            temporary.unlink(missing_ok=True)
        if isinstance(error, OSError) and error.errno and error.filename in (None, str(temporary)):
            raise OSError(error.errno, error.strerror, str(path)) from None
        raise
    os.replace(temporary, path)


def write_text(path: Path, text: str) -> None:
    with writing(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


def staging_name(folder: Path) -> Path:
    """Where the new version of `folder` is built."""
    return folder.with_name(f".{folder.name}.partial-folder")


def _old_name(folder: Path) -> Path:
    """Where the old version waits during a swap made of two renames (no renameat2)."""
    return folder.with_name(f".{folder.name}.old-folder")


def exchange(first: Path, second: Path) -> bool:
    """Swap two paths in one step (Linux renameat2 RENAME_EXCHANGE); False where the system or the
    file system cannot, so the caller falls back to two renames."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (OSError, AttributeError):
        return False
    renameat2.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    if renameat2(AT_FDCWD, os.fsencode(first), AT_FDCWD, os.fsencode(second), RENAME_EXCHANGE) == 0:
        return True
    code = ctypes.get_errno()
    if code in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False
    raise OSError(code, os.strerror(code), str(first), None, str(second))


def swap_folder(new: Path, target: Path) -> None:
    """Put the complete folder `new` at `target` in one step, then delete the old target. Without
    renameat2, the old target waits under a hidden name that `recover_folder` puts back after a kill."""
    if not target.exists():
        os.rename(new, target)
        return
    if exchange(new, target):
        shutil.rmtree(new)  # now the old folder
        return
    old = _old_name(target)
    os.rename(target, old)
    try:
        os.rename(new, target)
    except OSError:
        os.rename(old, target)
        raise
    shutil.rmtree(old)


def recover_folder(target: Path) -> None:
    """Undo a two-rename swap that a kill interrupted: the old folder goes back if the new one never
    arrived; if it did, the old one is deleted."""
    old = _old_name(target)
    if old.exists() and not target.exists():
        os.rename(old, target)
    shutil.rmtree(old, ignore_errors=True)


def new_staging(target: Path) -> Path:
    """An empty folder beside `target` to build its new version in (what a killed run left there goes)."""
    recover_folder(target)
    staging = staging_name(target)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    return staging


def carry_over(old: Path, new: Path, skip: set[str]) -> list[str]:
    """Hard-link (or copy, where links are impossible) every entry of `old` not named in `skip` into
    `new`, so the swapped-in folder keeps them; returns their names."""
    if not old.is_dir():
        return []
    kept = []
    for entry in sorted(old.iterdir()):
        if entry.name in skip:
            continue
        if entry.is_symlink():
            os.symlink(os.readlink(entry), new / entry.name)
        elif entry.is_dir():
            shutil.copytree(entry, new / entry.name, symlinks=True, copy_function=link_or_copy)
        else:
            link_or_copy(entry, new / entry.name)
        kept.append(entry.name)
    shutil.copymode(old, new)
    return kept


def link_or_copy(source: str | Path, target: str | Path) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
