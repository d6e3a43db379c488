"""io/pieces.py: a segment's packets cut from the source decode to the source's own frames, bit for bit,
for clips with B-frames, short and open GOPs, in each container family; what cannot be cut is the whole
file; a piece whose picture differs is refused; a node sees the driver's file only with its size and time."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from clips import encode_options, rotated_clip
from dreamvid.io.pieces import FileStamp, PacketTable, Piece, PieceCutter, PieceMismatch, PieceSource, open_pieces
from dreamvid.io.probe import list_packets
from dreamvid.io.sources import VideoSource

FRAMES = 48
# Segments as a render has them: from the start, across keyframes, one frame, resumed mid-GOP, the end.
SEGMENTS = [(0, 10), (5, 20), (13, 14), (22, 45), (40, 48), (47, 48)]
# name -> ffmpeg's encoding options: B-frames with keyframes every few frames, in each container family.
CLIPS = {
    "bframes-gop7.mp4": ["-c:v", "libx264", "-bf", "3", "-g", "7", "-keyint_min", "7", "-sc_threshold", "0"],
    "open-gop.mkv": ["-c:v", "libx264", "-bf", "3", "-g", "9", "-x264-params", "open-gop=1"],
    "bframes-gop8.ts": ["-c:v", "libx264", "-bf", "2", "-g", "8"],
    "bframes-gop6.mov": ["-c:v", "libx264", "-bf", "2", "-g", "6"],
}


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("pieces")
    made = {}
    for name, options in CLIPS.items():
        made[name] = folder / name
        encode_options(made[name], options, FRAMES)
    return made


def piece_frames(source: VideoSource, piece: Piece, data: bytes, first: int, end: int) -> list[np.ndarray]:
    with open_pieces(source, (piece,), (data,)) as piece_for:
        return list(piece_for(first, end).read(first, end))


def assert_same(got: list[np.ndarray], want: list[np.ndarray]) -> None:
    assert len(got) == len(want)
    for index, (a, b) in enumerate(zip(got, want)):
        assert np.array_equal(a, b), f"frame {index} differs"


@pytest.mark.parametrize("name", CLIPS)
def test_pieces_decode_to_the_sources_frames(clips, name):
    source = VideoSource.open(clips[name])
    assert len(source.info.keyframes) >= 5  # short GOPs: segments start mid-GOP
    cutter = PieceCutter(source.info)
    for first, end in SEGMENTS:
        piece, data = cutter.cut(first, end)
        assert not piece.whole and data is not None, cutter.mismatch
        assert piece.suffix == {".mov": ".mp4"}.get(clips[name].suffix, clips[name].suffix)
        assert_same(piece_frames(source, piece, data, first, end), list(source.read(first, end)))
        # a piece starts at the keyframe the source's own read starts from, not at the file's start
        key = max(k for k in source.info.keyframes if k <= first)
        if "open-gop" in name:
            assert piece.skip <= first - key  # fewer: the leading pictures of an open GOP are left out
        else:
            assert piece.skip == first - key


def test_an_open_gops_leading_pictures_are_dropped(clips):
    """The pieces of the open-GOP clip leave out pictures shown before their keyframe (they need the GOP
    before, which a piece lacks) and still decode to the source's frames (above)."""
    path = clips["open-gop.mkv"]
    source = VideoSource.open(path)
    table = PacketTable.read(path)
    dropped = 0
    for first, end in SEGMENTS:
        piece, data = PieceCutter(source.info).cut(first, end)
        key = max([k for k in source.info.keyframes if k <= first], default=0)
        needed = range(table.position[key], max(table.position[f] for f in range(key, end)) + 1)
        piece_file = path.with_name(f"piece-{first}{piece.suffix}")
        piece_file.write_bytes(data)
        dropped += len(needed) - len(list_packets(piece_file)[1])
    assert dropped > 0


def test_a_piece_is_a_few_percent_of_the_raw_frames(clips):
    source = VideoSource.open(clips["bframes-gop7.mp4"])
    piece, data = PieceCutter(source.info).cut(7, 47)
    raw = 40 * source.width * source.height * 3
    assert len(data) < raw / 5


def test_a_rotated_clips_pieces_keep_the_rotation(tmp_path):
    path = tmp_path / "rotated.mp4"
    rotated_clip(path, frames=12)
    source = VideoSource.open(path)
    assert source.info.rotation == 90
    cutter = PieceCutter(source.info)
    for first, end in [(0, 5), (3, 12)]:
        piece, data = cutter.cut(first, end)
        assert_same(piece_frames(source, piece, data, first, end), list(source.read(first, end)))


def test_a_source_without_keyframes_is_sent_whole(tmp_path):
    """An AVI has no presentation times: the probe cannot find keyframes again, so no piece is cut."""
    path = tmp_path / "clip.avi"
    encode_options(path, ["-c:v", "mpeg4", "-bf", "2", "-g", "8"], FRAMES)
    source = VideoSource.open(path)
    assert source.info.keyframes == ()
    piece, data = PieceCutter(source.info).cut(20, 30)
    assert piece.whole and data is None and (piece.first, piece.end) == (0, FRAMES)
    assert_same(piece_frames(source, piece, path.read_bytes(), 20, 30), list(source.read(20, 30)))


def test_a_piece_whose_picture_differs_is_refused(clips, tmp_path):
    source = VideoSource.open(clips["bframes-gop7.mp4"])
    other = tmp_path / "other.mp4"
    encode_options(other, CLIPS["bframes-gop7.mp4"], FRAMES, size=(64, 48))
    piece = Piece(0, 10, 0, ".mp4")
    with pytest.raises(PieceMismatch, match="width"):
        list(PieceSource(source, piece, other).read(0, 10))
    with pytest.raises(ValueError, match="not in the piece"):
        list(PieceSource(source, piece, other).read(5, 11))


def test_pieces_files_live_as_long_as_the_call(clips):
    source = VideoSource.open(clips["bframes-gop8.ts"])
    cutter = PieceCutter(source.info)
    cut = [cutter.cut(0, 10), cutter.cut(10, 30)]
    with open_pieces(source, tuple(p for p, _ in cut), tuple(d for _, d in cut)) as piece_for:
        files = [piece_for(0, 10).file, piece_for(12, 30).file]
        assert files[0] != files[1] and all(file.exists() for file in files)
        with pytest.raises(ValueError, match="no piece"):
            piece_for(5, 20)
    assert not any(file.exists() for file in files)


def test_a_file_stamp_tells_the_same_file_from_a_copy(tmp_path):
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"x" * 100)
    stamp = FileStamp.of(path)
    assert stamp.matches()
    os.utime(path, ns=(stamp.mtime_ns, stamp.mtime_ns + 1_000_000_000))  # same size, another time
    assert not stamp.matches()
    os.utime(path, ns=(stamp.mtime_ns, stamp.mtime_ns))
    path.write_bytes(b"x" * 101)
    os.utime(path, ns=(stamp.mtime_ns, stamp.mtime_ns))  # same time, another size
    assert not stamp.matches()
    path.unlink()
    assert not stamp.matches()
