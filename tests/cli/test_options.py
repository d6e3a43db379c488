"""The options the commands share, parsed as the command line gives them."""
import pytest


def test_the_command_line_takes_coherence_and_the_overrides(monkeypatch):
    """Parsed as the CLI parses it (the render stops right after the settings are built)."""
    import dreamvid.jobs
    from typer.testing import CliRunner

    from dreamvid.cli import app

    seen = []

    def stop(inputs, settings, *args, **kwargs):
        seen.append(settings)
        raise SystemExit(0)

    monkeypatch.setattr(dreamvid.jobs, "plan_jobs", stop)
    runner = CliRunner()
    assert runner.invoke(app, ["render", "clip.mp4", "--coherence", "0.5"]).exit_code == 0
    assert runner.invoke(app, ["render", "clip.mp4", "--coherence", "0.5", "--blend", "0.6",
                               "--flow-octaves", "2"]).exit_code == 0
    assert seen[0].coherence == 0.5 and seen[0].blend is None
    assert (seen[0].at(0).blend, seen[0].at(0).flow_steps) == (pytest.approx(0.85), 3)
    assert (seen[1].at(0).blend, seen[1].at(0).flow_steps, seen[1].at(0).flow_octaves) == (0.6, 3, 2)
