"""Every final file and folder appears whole: the swap of two folders in one step (renameat2), or in two
renames that the next run completes when a kill cut them short; the user's other files carried over."""
from __future__ import annotations

import os
import sys

import pytest

from dreamvid import atomic


LINUX = pytest.mark.skipif(sys.platform != "linux", reason="renameat2 is Linux's")


@LINUX
def test_exchange_swaps_two_folders_in_one_step(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "one").write_text("a")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "two").write_text("b")
    assert atomic.exchange(tmp_path / "a", tmp_path / "b")
    assert [p.name for p in (tmp_path / "a").iterdir()] == ["two"]
    assert [p.name for p in (tmp_path / "b").iterdir()] == ["one"]


@pytest.mark.parametrize("renameat2", [True, False])
def test_swap_folder_replaces_the_target_whole(renameat2, tmp_path, monkeypatch):
    if not renameat2:
        monkeypatch.setattr(atomic, "exchange", lambda first, second: False)
    target, new = tmp_path / "out", tmp_path / ".out.new"
    target.mkdir()
    (target / "old.png").write_text("old")
    new.mkdir()
    (new / "new.png").write_text("new")
    atomic.swap_folder(new, target)
    assert [p.name for p in target.iterdir()] == ["new.png"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]  # the old folder is gone, nothing left beside


def test_two_rename_swap_cut_short_is_undone_by_the_next_run(tmp_path, monkeypatch):
    monkeypatch.setattr(atomic, "exchange", lambda first, second: False)
    target, new = tmp_path / "out", tmp_path / ".out.new"
    target.mkdir()
    (target / "old.png").write_text("old")
    new.mkdir()
    real, calls = os.rename, []

    def killed_at_the_second(source, destination):
        calls.append(source)
        if len(calls) == 2:
            raise KeyboardInterrupt  # stands for a kill between the two renames
        real(source, destination)

    monkeypatch.setattr(os, "rename", killed_at_the_second)
    with pytest.raises(KeyboardInterrupt):
        atomic.swap_folder(new, target)
    monkeypatch.setattr(os, "rename", real)
    assert not target.exists()
    atomic.recover_folder(target)
    assert [p.name for p in target.iterdir()] == ["old.png"]


def test_carry_over_links_the_other_files_and_writing_cleans_up(tmp_path):
    old, new = tmp_path / "old", tmp_path / "new"
    old.mkdir()
    new.mkdir()
    (old / "notes.txt").write_text("mine")
    (old / "sub").mkdir()
    (old / "sub" / "deep.txt").write_text("deep")
    (old / "frame.png").write_text("dreamvid's")
    assert atomic.carry_over(old, new, skip={"frame.png"}) == ["notes.txt", "sub"]
    assert (new / "notes.txt").stat().st_ino == (old / "notes.txt").stat().st_ino  # a link: no copy, no loss
    assert (new / "sub" / "deep.txt").read_text() == "deep" and not (new / "frame.png").exists()

    with pytest.raises(ValueError):
        with atomic.writing(tmp_path / "final.txt") as temporary:
            temporary.write_text("half")
            raise ValueError
    assert not (tmp_path / "final.txt").exists() and not atomic.partial_name(tmp_path / "final.txt").exists()
