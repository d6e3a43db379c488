"""May this output be written, is it done already, is it ours to replace, and is another process
rendering it right now. Checked for every output before any work."""
from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import time
from pathlib import Path

from .atomic import recover_folder
from .errors import UserError
from .job import Kind
from .sidecar import owned_files, read_record, sidecar_path
from .io.codecs import CODECS
from .io.images import IMAGE_SUFFIXES


def typed_folder(output: Path | str | None) -> bool:
    """Whether -o was typed with a slash (`out/`): it names a folder, which Path() forgets."""
    return isinstance(output, str) and output.endswith(("/", os.sep))


def into_folder(output: Path, name: str, typed: bool) -> tuple[Path, bool]:
    """A single output's -o that is a folder (existing, or `typed` with a slash, made when the output is
    written) holds the output under its default `name`, as in a queue: (the output, whether its folder is
    new). Any other -o names the output itself."""
    if not (typed or output.is_dir()):
        return output, False
    if output.exists() and not output.is_dir():
        raise UserError(f"output {output}/ is a file, not a folder")
    return output / name, not output.exists()


def video_suffix(codec: str, wanted: str) -> str:
    """The container a default output of `codec` gets: `wanted` (the source's) where it takes the codec, else
    the codec's own (ProRes: .mov, FFV1: .mkv)."""
    containers = CODECS[codec].containers
    return wanted if wanted in containers else containers[0]


def check_codec(output: Path, codec: str, frames: bool) -> None:
    """A UserError, before any work, for a codec its output cannot hold: a container that does not take it
    (ProRes in .mp4), or an output of images (`frames`) for a codec that writes video."""
    chosen = CODECS[codec]
    if frames:
        if codec != "h264":
            raise UserError(f"--codec {codec} writes a video, but {output} is a folder of images: give -o "
                            f"NAME{chosen.containers[0]}, or leave --codec out")
        return
    suffix = output.suffix.lower()
    if suffix not in chosen.containers:
        raise UserError(f"output {output}: {chosen.title} goes in {' or '.join(chosen.containers)}, not {suffix} "
                        f"(-o {output.with_suffix(chosen.containers[0])})")


def check_target(source: Path, output: Path, kind: str, names: tuple[str, ...] | None, overwrite: bool, *,
                 to_folder: bool = False, new_folder: bool = False, locks: contextlib.ExitStack | None = None) -> bool:
    """Whether `output` is already done; a UserError for an output that cannot be written, or that
    dreamvid must not replace (see _check_owner). `names`: the files of a folder output. `new_folder`:
    the output's folder is made when it is written (its own folder must exist). With `locks`, the
    output is locked for this process (see OutputLock) and stays so until the stack closes."""
    _check_output(source, output, kind, to_folder, new_folder)
    if not overwrite and _done(output, names, tidy=False):
        return True  # nothing to do: nothing is locked, nothing touched
    if locks is not None:  # before anything looks at (or tidies) what another render may be writing
        locks.enter_context(OutputLock(output, new_folder))
    done = _done(output, names)
    if not done or overwrite:
        check_owner(output, names, overwrite)
    return done


def _done(output: Path, names: tuple[str, ...] | None, tidy: bool = True) -> bool:
    """Whether the output is complete; with `tidy` (under the output's lock), a folder whose swap a kill
    cut short is put back first."""
    if names is not None:
        if tidy:
            recover_folder(output)  # a swap cut short by a kill (without renameat2): the old folder comes back
        return output.is_dir() and set(names) <= owned_files(output)
    if not output.exists():
        return False
    record = sidecar_path(output, folder=False)
    made = read_record(record)
    if made is None or made.get("bytes", output.stat().st_size) == output.stat().st_size:
        return True
    # Another size: either a kill came between the record and the rename (the record is the newer,
    # render again), or someone edited the finished file afterwards (keep it: --overwrite replaces it).
    return output.stat().st_mtime_ns > record.stat().st_mtime_ns


def check_owner(output: Path, names: tuple[str, ...] | None, overwrite: bool) -> None:
    """Refuse, before any work, to replace a file that dreamvid did not write: a folder's files are
    dreamvid's when its record lists them, a file is when its record is beside it."""
    record = sidecar_path(output, names is not None)
    if record.exists() and read_record(record) is None:
        raise UserError(f"{record} exists and dreamvid did not write it: move it away or choose another -o")
    if names is None:
        if overwrite and output.exists() and read_record(record) is None:
            raise UserError(f"{output} exists and dreamvid did not write it (no {record.name} beside it): "
                            f"move it away or choose another -o")
        return
    owned = owned_files(output)
    theirs = [name for name in names if name not in owned and (output / name).exists()]
    if theirs:
        more = f" and {len(theirs) - 1} more" if len(theirs) > 1 else ""
        raise UserError(f"{output / theirs[0]}{more} exists and dreamvid did not write it: "
                        f"move it away or choose another -o")


def _check_output(source: Path, output: Path, kind: str, to_folder: bool, new_folder: bool = False) -> None:
    if output.resolve() == source.resolve() or (to_folder and output.resolve() == source.parent.resolve()
                                                and kind == Kind.SEQUENCE):
        raise UserError(f"output {output} is the input: choose another with -o")
    if kind == Kind.IMAGE and output.suffix.lower() not in IMAGE_SUFFIXES:
        folder = "" if output.suffix else f", or be a folder: {output}/"
        raise UserError(f"output {output} must end in an image suffix ({', '.join(sorted(IMAGE_SUFFIXES))}){folder}")
    folder_output = kind == Kind.STILLS or to_folder
    if output.exists() and output.is_dir() != folder_output:
        raise UserError(f"output {output} exists and is a {'folder' if output.is_dir() else 'file'}")
    if folder_output and Path.cwd().is_relative_to(output.resolve()):
        # A finished folder is swapped in whole: the folder a command runs in cannot be swapped.
        raise UserError(f"output folder {output} holds the current folder: write into a folder of its own, "
                        f"e.g. -o out")
    if folder_output and (output.is_symlink() or os.path.ismount(output)):
        # The swap would replace the link itself, or fail on the mount point after the whole render.
        raise UserError(f"output folder {output} is a {'link' if output.is_symlink() else 'mount point'}, which "
                        f"cannot be swapped in whole: write into a folder inside it, e.g. -o {output / 'dream'}")
    parent = output.parent.parent if new_folder else output.parent
    if not parent.is_dir():
        raise UserError(f"cannot write {output}: folder {parent} does not exist")
    check_writable(output, parent)


def check_writable(output: Path, folder: Path) -> None:
    """A UserError unless a file can be made in `folder` (where `output` goes)."""
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError:
        raise UserError(f"cannot write {output}: folder {folder} is not writable") from None


class OutputLock:
    """One render of an output at a time: an exclusive lock (flock) on a hidden file beside the output,
    `.NAME.lock`, taken before any work and held until the job's command ends. The kernel drops the lock
    of a process that dies, so a killed render never blocks its resume. The file names the holder's
    process, for the refusal; it is removed while still locked, so no other process can lock a file
    that is about to disappear (it checks that the file it locked is still the one at the path)."""

    def __init__(self, output: Path, new_folder: bool = False):
        # An output whose folder is made when it is written is locked beside that folder.
        folder = output.parent.parent if new_folder else output.parent
        name = f"{output.parent.name}.{output.name}" if new_folder else output.name
        self.output, self.path = output, folder / f".{name}.lock"
        self._fd: int | None = None

    def __enter__(self) -> "OutputLock":
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _holder(fd)
                os.close(fd)
                raise UserError(f"{self.output} is being rendered by another dreamvid ({holder}): wait for it to "
                                f"finish, or stop it first") from None
            if _same_file(fd, self.path):
                break
            os.close(fd)  # its holder removed it as we opened it: lock the new one
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd
        return self

    def __exit__(self, *exc) -> None:
        if self._fd is None:
            return
        with contextlib.suppress(OSError):
            os.unlink(self.path)
        os.close(self._fd)
        self._fd = None


def _holder(fd: int, wait: float = 0.5) -> str:
    """The holder's process, as it wrote it: a holder that has only just taken the lock writes its pid a
    moment later (two renders started together), so an empty file is read again for up to `wait` s."""
    deadline = time.monotonic() + wait
    while True:
        try:
            pid = os.pread(fd, 32, 0).decode().strip()
        except OSError:
            pid = ""
        if pid.isdigit() or time.monotonic() > deadline:
            return f"process {pid}" if pid.isdigit() else "another process"
        time.sleep(0.01)


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.stat(path).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False
