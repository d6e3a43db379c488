"""The pieces finished frames wait in: a full disk is one error naming the piece, and nothing is left."""
from __future__ import annotations

import pytest

from clips import translating_frames
from helpers import full_disk_at


def test_a_checkpoint_on_a_full_disk_is_one_error_naming_it(tmp_path, capfd):
    """A video's first write is a checkpoint: on a full disk libpng printed its own line, and the error
    named the hidden temporary file."""
    import errno

    from dreamvid.temporal.checkpoints import save_piece

    piece = tmp_path / "frame_000000.png"
    full_disk_at(piece)
    with pytest.raises(OSError) as raised:
        save_piece(piece, translating_frames(1, (32, 24), 0, 0)[0])
    assert raised.value.errno == errno.ENOSPC and raised.value.filename == str(piece)
    assert capfd.readouterr().err == ""
    assert list(tmp_path.iterdir()) == []
