"""Inputs as they come from the field: names, sizes and folders that users have and the tests before
did not make. Each test is a defect found by the field sweep (a matrix of inputs run through the
command), fixed, and kept from coming back."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from clips import encode, moving_clip, translating_frames
from dreamvid.settings import build_settings


def test_a_video_whose_name_starts_with_a_dash_is_written(tmp_path, monkeypatch):
    """`-take1.mp4 -> -take1_dream.mp4`: ffmpeg read the output name as an option and the render
    failed after the whole dream (exit 1); chunks are written under such a name, and joined into one."""
    from dreamvid.io.encode import VideoWriter, join_chunks
    from dreamvid.io.decode import probe_video

    monkeypatch.chdir(tmp_path)
    frames = translating_frames(4, (32, 32), 1, 0)
    with VideoWriter(Path("-take1.mp4"), 32, 32, Fraction(10)) as writer:
        for frame in frames:
            writer.write(frame)
    join_chunks([Path("-take1.mp4")], Path("-joined.mp4"))
    assert probe_video(tmp_path / "-take1.mp4").frame_count == 4
    assert probe_video(tmp_path / "-joined.mp4").frame_count == 4


def test_a_video_too_small_for_the_flow_is_refused_before_tensorflow(tmp_path, cli):
    """A 64x8 strip crashed in OpenCV's flow at the first frame, with a traceback and a work folder left
    behind; now one line names the fix, before TensorFlow loads. Without flow it is dreamed."""
    encode(tmp_path / "strip.mp4", translating_frames(3, (64, 8), 1, 0))
    run = cli(tmp_path, "strip.mp4", "--model", "vgg16-hed")
    assert run.status == 2, run.stderr
    assert run.stderr.strip().splitlines() == [
        "dreamvid: error: strip.mp4: frames of 64x8 are too small for the optical flow (16 pixels a side at "
        "least): add --no-flow"]
    assert run.loaded == []
    assert sorted(path.name for path in tmp_path.iterdir()) == ["strip.mp4"]


def test_a_max_side_that_leaves_a_strip_is_refused(tmp_path):
    from dreamvid.errors import UserError
    from dreamvid.jobs import plan_jobs

    moving_clip(tmp_path / "wide.mp4", frames=2, size=(320, 32))
    settings = build_settings({"model": "vgg16-hed", "max_side": 64})
    try:
        plan_jobs([tmp_path / "wide.mp4"], settings)
    except UserError as error:
        assert "frames of 64x6 are too small" in str(error) and "--max-side" in str(error)
    else:
        raise AssertionError("a 64x6 dream of a video with flow was accepted")
    assert plan_jobs([tmp_path / "wide.mp4"], build_settings({"model": "vgg16-hed", "max_side": 64, "flow": False}))


def test_cuts_of_a_wide_strip_are_looked_for_at_a_size_the_flow_takes(tmp_path):
    """Split into segments (--streams 2, the default on a GPU), a 640x16 clip was shrunk to 160x4 to look
    for cuts, which OpenCV's flow refused (or crashed on): the render died before its first frame."""
    from dreamvid.io.sources import VideoSource
    from dreamvid.temporal.plan import detect_cuts

    moving_clip(tmp_path / "strip.mp4", frames=3, size=(640, 16))
    assert detect_cuts(VideoSource.open(tmp_path / "strip.mp4"), 0, 3, 27.0) == ()


def test_hidden_files_beside_the_pictures_are_not_dreamed(tmp_path):
    """macOS writes `._NAME` (AppleDouble metadata, not a picture) beside every file it copies onto a USB
    stick or a share: the whole folder was refused for an `._a.png` that dreamvid could not decode."""
    from dreamvid.jobs import plan_jobs

    shot = tmp_path / "shot"
    shot.mkdir()
    for index in range(2):
        Image.fromarray(translating_frames(1, (32, 24), 0, 0, seed=index)[0]).save(shot / f"f_{index}.png")
        (shot / f"._f_{index}.png").write_bytes(b"\x00\x05\x16\x07\x00\x02\x00\x00Mac OS X        " + bytes(64))
    settings = build_settings({"model": "vgg16-hed"})
    for sequence in (False, True):
        [job] = plan_jobs([shot], settings, sequence=sequence)
        assert [frame.name for frame in job.frames] == ["f_0.png", "f_1.png"]



def test_a_still_that_cannot_be_written_leaves_no_record(tmp_path, monkeypatch):
    """On a full disk the picture's record was written and the picture was not: `photo_dream.png.json`
    stood alone beside the photo."""
    import pytest

    from dreamvid import stills as stillsjob
    from dreamvid.errors import UserError
    from dreamvid.jobs import plan_jobs
    from helpers import Warnings
    from stub_dreamer import StubDreamer

    Image.fromarray(translating_frames(1, (32, 24), 0, 0)[0]).save(tmp_path / "photo.png")
    settings = build_settings({"model": "vgg16-hed", "steps": 1, "octaves": 1})
    [job] = plan_jobs([tmp_path / "photo.png"], settings)

    def full_disk(path, picture):
        raise UserError(f"cannot write image {path}")

    monkeypatch.setattr(stillsjob, "write_image", full_disk)
    with pytest.raises(UserError):
        stillsjob.run_stills(job, StubDreamer(), settings, Warnings(), 1)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["photo.png"]


def test_a_picture_only_pillow_reads_is_dreamed(tmp_path):
    """A TGA opened (Pillow reads its header) but OpenCV could not decode it: "cannot decode image
    (truncated or damaged?)" for a sound file."""
    from dreamvid.io.images import read_image

    pixels = translating_frames(1, (20, 12), 0, 0)[0]
    Image.fromarray(pixels).save(tmp_path / "frame.tga")
    picture = read_image(tmp_path / "frame.tga")
    assert np.array_equal(np.rint(picture.rgb * 255).astype(np.uint8), pixels)


def test_an_animation_given_as_a_still_says_that_only_its_first_frame_is_dreamed(tmp_path):
    from dreamvid.jobs import plan_jobs

    frames = [Image.fromarray(frame) for frame in translating_frames(3, (32, 24), 1, 0)]
    frames[0].save(tmp_path / "loop.gif", save_all=True, append_images=frames[1:], duration=100, loop=0)
    warnings = []
    [job] = plan_jobs([tmp_path / "loop.gif"], build_settings({"model": "vgg16-hed"}), warn=warnings.append)
    assert job.kind == "image"
    assert warnings == [f"{tmp_path / 'loop.gif'} holds 3 frames (an animation or pages): only the first is dreamed"]


def test_scoring_a_video_too_small_for_the_flow_is_one_line(tmp_path):
    from dreamvid.errors import UserError
    from dreamvid.score import score_videos

    encode(tmp_path / "strip.mp4", translating_frames(3, (64, 8), 1, 0))
    try:
        score_videos(tmp_path / "strip.mp4", tmp_path / "strip.mp4")
    except UserError as error:
        assert "frames of 64x8 are too small for the optical flow" in str(error)
    else:
        raise AssertionError("a 64x8 video was scored")


def test_a_kill_while_the_work_folder_is_removed_leaves_nothing_in_the_way(tmp_path, monkeypatch):
    """SIGTERM (or a kill) while a finished render deleted its work folder left half of it: the rerun
    skipped the finished output and left the folder for good, and `--overwrite` then stopped on it
    ("exists but is not a dreamvid work folder")."""
    import shutil

    import pytest

    from dreamvid.jobs import plan_jobs
    from dreamvid.journal import workfolder

    moving_clip(tmp_path / "clip.mp4", frames=2)
    settings = build_settings({"model": "vgg16-hed"})
    [job] = plan_jobs([tmp_path / "clip.mp4"], settings)
    work = workfolder.WorkFolder.open(job.work_folder, {"plan": 1})
    (work.path / "frame_000000.png").write_bytes(b"a frame")
    real = shutil.rmtree

    def killed(path, *args, **kwargs):
        if Path(path).exists():
            (Path(path) / "plan.json").unlink()  # the deletion had begun
            raise KeyboardInterrupt
        real(path, *args, **kwargs)

    monkeypatch.setattr(workfolder.shutil, "rmtree", killed)
    with pytest.raises(KeyboardInterrupt):
        work.remove()
    monkeypatch.setattr(workfolder.shutil, "rmtree", real)
    assert not job.work_folder.exists()
    plan_jobs([tmp_path / "clip.mp4"], settings, overwrite=True)
    assert sorted(path.name for path in tmp_path.iterdir()) == ["clip.mp4"]


def test_the_soundtrack_of_a_file_named_like_an_ffmpeg_protocol_is_read(tmp_path, monkeypatch):
    """An audio-driven schedule decodes the soundtrack; ffmpeg took a relative `pipe:1.m4a` for its pipe
    protocol and read nothing (the name is a legal file name)."""
    from clips import audio_only
    from dreamvid.io.audio import RATE, decode

    monkeypatch.chdir(tmp_path)
    audio_only(tmp_path / "pipe:1.m4a", seconds=1.0)
    samples = decode(Path("pipe:1.m4a"))
    assert abs(len(samples) - RATE) < RATE * 0.1 and np.abs(samples).max() > 0.1


def plan_one(command: str, photo, output):
    """The job that `dreamvid [zoom] photo -o output` plans, as the command's planner decides it."""
    from dreamvid.jobs import plan_jobs
    from dreamvid.job import ZoomMotion
    from dreamvid.jobs import plan_zoom_jobs

    settings = build_settings({"model": "vgg16-hed"})
    if command == "zoom":
        return plan_zoom_jobs([photo], settings, ZoomMotion.parse(frames=2), output)[0]
    return plan_jobs([photo], settings, output)[0]


@pytest.mark.parametrize("command, name, refusal", [
    ("render", "photo_dream.png", "output out must end in an image suffix (.avif, .bmp, .exr, .heic, .heif, .hif, "
                                  ".jpeg, .jpg, .png, .tif, .tiff, .webp), or be a folder: out/"),
    ("zoom", "photo_zoom.mp4", "output out: a zoom is a video: give .mp4, .mov, .mkv or .m4v, or a folder: out/"),
])
def test_a_still_or_a_zoom_goes_into_a_folder_given_as_its_output(tmp_path, cli, command, name, refusal):
    """`photo.png -o outdir/` was refused ("must end in an image suffix"), and so was `dreamvid zoom photo.png
    -o outdir/` ("a zoom is a video"): a folder output holds the default name, as in a queue, decided by the
    same code for both: an existing folder, or one typed with a slash, made when the output is written.
    What cannot be such a folder is refused before TensorFlow loads."""
    Image.fromarray(translating_frames(1, (96, 64), 0, 0)[0]).save(tmp_path / "photo.png")
    (tmp_path / "outdir").mkdir()
    for output in (tmp_path / "outdir", f"{tmp_path / 'outdir'}/", str(tmp_path / "outdir")):
        assert plan_one(command, tmp_path / "photo.png", output).output == tmp_path / "outdir" / name
    for output, message in (("missing/sub/", f"cannot write missing/sub/{name}: folder missing does not exist"),
                            ("photo.png/", "output photo.png/ is a file, not a folder"),
                            ("out", refusal)):
        run = cli(tmp_path, *(["zoom"] if command == "zoom" else []), "photo.png", "-o", output, "--model",
                  "vgg16-hed")
        assert run.status == 2 and run.loaded == [], run.stderr
        assert run.stderr.strip().splitlines() == [f"dreamvid: error: {message}"]


def _full_disk_at(path: Path) -> None:
    """Make the next write of `path` through its hidden temporary name (atomic.writing) hit a full
    disk: the temporary is a link to /dev/full, where every write fails with ENOSPC."""
    from dreamvid.atomic import partial_name

    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    partial_name(path).symlink_to("/dev/full")


def test_a_still_on_a_full_disk_fails_as_a_video_does(tmp_path, cli):
    """A still that could not be written exited 2 (bad input, before any work) with libpng's "Write
    Error" line above dreamvid's, while a video on a full disk exits 1 (a job failed while rendering).
    Now both exit 1 with one line naming the output, and nothing is left behind."""
    Image.fromarray(translating_frames(1, (32, 24), 0, 0)[0]).save(tmp_path / "photo.png")
    _full_disk_at(tmp_path / "photo_dream.png")
    run = cli(tmp_path, "photo.png", "--model", "vgg16-hed", "--steps", "1", "--octaves", "1", "-q")
    assert run.status == 1
    assert run.stderr.strip().splitlines() == ["dreamvid: error: No space left on device: photo_dream.png"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["photo.png"]


def test_a_checkpoint_on_a_full_disk_is_one_error_naming_it(tmp_path, capfd):
    """A video's first write is a checkpoint: on a full disk libpng printed its own line, and the error
    named the hidden temporary file."""
    import errno

    from dreamvid.temporal.checkpoints import save_piece

    piece = tmp_path / "frame_000000.png"
    _full_disk_at(piece)
    with pytest.raises(OSError) as raised:
        save_piece(piece, translating_frames(1, (32, 24), 0, 0)[0])
    assert raised.value.errno == errno.ENOSPC and raised.value.filename == str(piece)
    assert capfd.readouterr().err == ""
    assert list(tmp_path.iterdir()) == []


SIGNALLED = """
import os, signal, sys
from dreamvid.cli import console
from dreamvid.journal import workfolder

stage, number = sys.argv.pop(1), getattr(signal, sys.argv.pop(1))
owner, name = (workfolder.WorkFolder, "remove") if stage.startswith("removal") else (console, "print_results")
real = getattr(owner, name)

def signalled(*args, **kwargs):
    if stage == "removal":  # "removal-start": as the removal begins
        real(*args, **kwargs)
    os.kill(os.getpid(), number)  # raised here, by the command's own handler
    real(*args, **kwargs)

setattr(owner, name, signalled)
from dreamvid.cli import main
main(sys.argv[1:])
"""


@pytest.mark.parametrize("source, stage, number", [("shot", "removal", "SIGINT"), ("clip.mp4", "summary", "SIGTERM"),
                                                   ("clip.mp4", "removal", "SIGTERM"),
                                                   ("shot", "removal-start", "SIGTERM"),
                                                   ("clip.mp4", "removal-start", "SIGINT")])
def test_a_signal_after_the_render_finished_says_there_is_nothing_to_resume(tmp_path, source, stage, number):
    """A signal that came once the output was complete (a folder's work folder already removed, or the
    summary being printed) said "finished frames are kept; run the same command again to resume". One
    that came while a video's work folder was removed (signals held) was dropped: the command exited 0."""
    import subprocess
    import sys

    (tmp_path / "shot").mkdir()
    for index in range(2):
        Image.fromarray(translating_frames(1, (32, 24), 0, 0, seed=index)[0]).save(tmp_path / "shot" / f"f{index}.png")
    moving_clip(tmp_path / "clip.mp4", frames=3, size=(64, 48))
    run = subprocess.run([sys.executable, "-c", SIGNALLED, stage, number, source, "--model", "vgg16-hed", "--steps",
                          "1", "--octaves", "1", "-q"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    status, what = (130, "interrupted") if number == "SIGINT" else (143, "stopped by SIGTERM")
    assert run.returncode == status, run.stderr
    assert run.stderr.strip().splitlines() == [
        f"dreamvid: error: {what} after the render finished: every output is complete, nothing to resume"]
    output = tmp_path / (Path(source).stem + "_dream" + Path(source).suffix)
    assert output.exists() and not any(path.name.startswith(".") or "parts" in path.name or "partial" in path.name
                                       for path in tmp_path.iterdir())


HELD = """
import os, signal, sys
from dreamvid.interrupts import signals_held

number = getattr(signal, sys.argv[1])
try:
    with signals_held():
        os.kill(os.getpid(), number)
        print("the block finished", flush=True)
except KeyboardInterrupt:
    print("KeyboardInterrupt after the block", flush=True)
    sys.exit(130)
print("carried on", flush=True)
"""


@pytest.mark.parametrize("number, status, lines", [
    ("SIGINT", 130, ["the block finished", "KeyboardInterrupt after the block"]),
    ("SIGTERM", -15, ["the block finished"]),  # the default handler is back: the process dies of it
])
def test_a_signal_held_during_a_cleanup_is_raised_when_it_ends(number, status, lines):
    """signals_held noted a Ctrl-C or SIGTERM and dropped it: the command went on and exited 0."""
    import subprocess
    import sys

    run = subprocess.run([sys.executable, "-c", HELD, number], capture_output=True, text=True, timeout=60)
    assert run.returncode == status, run.stderr
    assert run.stdout.splitlines() == lines


FULL = """
import sys
from dreamvid.io import encode as video, sinks
from dreamvid.atomic import partial_name

where = sys.argv.pop(1)
if where == "still":  # the picture's temporary is full once its folder is made and its record written
    from dreamvid import stills as stillsjob

    real_sidecar = stillsjob.write_sidecar

    def sidecar(path, *args, **kwargs):
        partial_name(path.with_suffix("")).symlink_to("/dev/full")
        return real_sidecar(path, *args, **kwargs)

    stillsjob.write_sidecar = sidecar
elif where in ("frames", "record"):  # a folder of frames is built in a hidden staging folder: frame 1's
    real_staging = sinks.new_staging  # temporary is full, or its record's

    def staging(target):
        folder = real_staging(target)
        partial_name(folder / ("clip_00001.png" if where == "frames" else "dreamvid.json")).symlink_to("/dev/full")
        return folder

    sinks.new_staging = staging
else:  # a variable-rate video keeps its frames as images until it is muxed: frame 1's is full, or the list
    real_init = video.VideoWriter.__init__  # of them given to ffmpeg

    def init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        if self._folder is not None:
            (self._folder / ("0000001.png" if where == "timed" else "frames.ffconcat")).symlink_to("/dev/full")

    video.VideoWriter.__init__ = init
from dreamvid.cli import main
main(sys.argv[1:])
"""


@pytest.mark.parametrize("where, args, named, parts", [
    ("frames", ["-o", "frames/"], "frames/clip_00001.png", "frames.parts"),
    ("timed", [], "clip_dream.mp4", "clip_dream.mp4.parts"),
    ("record", ["-o", "frames/"], "frames/dreamvid.json", "frames.parts"),
    ("listing", [], "clip_dream.mp4", "clip_dream.mp4.parts"),
])
def test_the_frames_of_a_video_on_a_full_disk_are_one_error_naming_the_output(tmp_path, where, args, named, parts):
    """A variable-rate video's frames went through cv2.imwrite: libpng printed "Write Error" above
    dreamvid's own "cannot write frame ..(disk full?)" naming a hidden folder; a folder of frames named
    its hidden staging folder. Now one line naming what the user asked for; the checkpoints stay."""
    import subprocess
    import sys

    from clips import vfr_clip

    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    vfr_clip(tmp_path / "clip.mp4", [0.0, 0.1, 0.3, 0.35])
    run = subprocess.run([sys.executable, "-c", FULL, where, "clip.mp4", *args, "--model", "vgg16-hed", "--steps", "1",
                          "--octaves", "1", "-q"], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert run.returncode == 1, run.stderr
    assert run.stderr.strip().splitlines() == [f"dreamvid: error: No space left on device: {named}"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["clip.mp4", parts]


def test_a_timed_frame_on_a_full_disk_is_an_os_error_naming_the_video(tmp_path, capfd):
    import errno

    from dreamvid.io.encode import VideoWriter

    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    writer = VideoWriter(tmp_path / "out.mp4", 32, 24, Fraction(10), frame_times=[0.0, 0.1, 0.3])
    (tmp_path / ".out.mp4.frames" / "0000000.png").symlink_to("/dev/full")
    with pytest.raises(OSError) as raised:
        writer.write(translating_frames(1, (32, 24), 0, 0)[0])
    assert raised.value.errno == errno.ENOSPC and raised.value.filename == str(tmp_path / "out.mp4")
    assert capfd.readouterr().err == ""
    assert list(tmp_path.iterdir()) == []


def test_a_still_that_cannot_be_written_leaves_no_folder_made_for_it(tmp_path):
    """`photo.png -o newdir/` on a full disk left the empty `newdir` that dreamvid had made."""
    import subprocess
    import sys

    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full here")
    Image.fromarray(translating_frames(1, (96, 64), 0, 0)[0]).save(tmp_path / "photo.png")
    run = subprocess.run([sys.executable, "-c", FULL, "still", "photo.png", "-o", "newdir/", "--model", "vgg16-hed",
                          "--steps", "1", "--octaves", "1", "-q"], cwd=tmp_path, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 1, run.stderr
    assert run.stderr.strip().splitlines() == ["dreamvid: error: No space left on device: newdir/photo_dream.png"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["photo.png"]


def run_with_site(tmp_path, site: str, env: dict[str, str], *args: str):
    """The installed command on a 2-frame clip in `tmp_path`, with `site` as its sitecustomize (to send a
    signal at a chosen moment of the process's life)."""
    import os
    import subprocess
    import sys

    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(site)
    moving_clip(tmp_path / "clip.mp4", frames=2, size=(64, 48))
    return subprocess.run([str(Path(sys.executable).with_name("dreamvid")), "clip.mp4", "--model", "vgg16-hed", *args],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(tmp_path / "site"), "TF_CPP_MIN_LOG_LEVEL": "2", **env})


SIGNAL_WHILE_LOADING = """
import builtins, os, signal

real = builtins.__import__


def signalled(name, *args, **kwargs):
    if name == "typer":  # the command's first heavy import: the signal comes while the command loads
        builtins.__import__ = real
        os.kill(os.getpid(), getattr(signal, os.environ["SIGNAL_WHILE_LOADING"]))
    return real(name, *args, **kwargs)


builtins.__import__ = signalled
"""


@pytest.mark.parametrize("number, status, what", [("SIGINT", 130, "interrupted"),
                                                  ("SIGTERM", 143, "stopped by SIGTERM")])
def test_a_signal_while_the_command_loads_is_one_line(tmp_path, number, status, what):
    """Ctrl-C in the first fraction of a second (found by benchmarks/kill_fuzz.py: up to 0.7 s on a busy
    machine) printed a 20-line KeyboardInterrupt traceback from an import and exited 1 or by the signal;
    SIGTERM killed the command without a word."""
    run = run_with_site(tmp_path, SIGNAL_WHILE_LOADING, {"SIGNAL_WHILE_LOADING": number})
    assert run.returncode == status, run.stderr
    assert run.stderr.splitlines() == [f"dreamvid: error: {what} while starting: nothing was changed"]
    assert sorted(path.name for path in tmp_path.iterdir()) == ["clip.mp4", "site"]


SIGNAL_AT_EXIT = """
import atexit, os, signal, time

SIGNAL = getattr(signal, os.environ["SIGNAL_AT_EXIT"])


def late():  # registered first, so it runs last: the command has returned, the interpreter exits
    os.kill(os.getpid(), SIGNAL)
    time.sleep(600)  # and hangs there: the signal must still end it


class Teardown:
    def __del__(self):  # the interpreter tearing modules down, after it put the default handlers back
        os.kill(os.getpid(), SIGNAL)
        time.sleep(5)


if os.environ["SIGNAL_WHEN"] == "atexit":
    atexit.register(late)
else:
    held = Teardown()
"""


@pytest.mark.parametrize("when", ["atexit", "teardown"])
@pytest.mark.parametrize("number", ["SIGINT", "SIGTERM"])
def test_a_signal_while_the_finished_command_exits_changes_nothing(tmp_path, number, when):
    """The interpreter and TensorFlow took about a second to exit after the summary (1.4 s on a busy
    machine, found by benchmarks/kill_fuzz.py): a signal then killed the finished command without a word
    (status -2 or -15), or printed a traceback from the exit. The command now runs the exit functions
    and leaves with its status, tearing nothing down; a signal during the exit functions, even one that
    hangs, ends it the same way."""
    run = run_with_site(tmp_path, SIGNAL_AT_EXIT, {"SIGNAL_AT_EXIT": number, "SIGNAL_WHEN": when},
                        "--steps", "1", "--octaves", "1", "-q")
    assert run.returncode == 0 and run.stderr == "", run.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == ["clip.mp4", "clip_dream.mp4", "clip_dream.mp4.json",
                                                               "site"]
