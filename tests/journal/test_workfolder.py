"""The work folder of a long render: removed whole, even when a kill comes during the removal."""
from __future__ import annotations

from pathlib import Path

from clips import moving_clip
from dreamvid.settings import build_settings


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
