"""temporal/ray_connect.py against real `ray start --head` clusters (tests/ray_heads.py: a throwaway HOME,
free ports, stopped by process group), one with token authentication and one without: the driver connects
to both, with the token from ~/.ray/auth_token, RAY_AUTH_TOKEN or RAY_AUTH_TOKEN_PATH; a refusal is one
line within seconds; --ray auto leaves no token behind for later clusters; a GCS without the probe's call
(an older Ray) gets a quiet ray.init."""
from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time
from concurrent import futures
from pathlib import Path

import pytest

from clips import moving_clip
from ray_heads import clean_env, free_ports, join_node, running_head, start_head, stop_head, stop_processes
from dreamvid.errors import UserError
from dreamvid.temporal import ray_connect
from dreamvid.temporal.ray_connect import connect, probe

# Connects, then an actor round trip with an object-store argument: what a render's workers need.
CONNECT = """
import json, os, sys, time
from pathlib import Path
from dreamvid.errors import UserError
from dreamvid.temporal.ray_connect import connect

started = time.monotonic()
try:
    connect(sys.argv[1])
except UserError as error:
    print(json.dumps({"error": str(error), "seconds": time.monotonic() - started}))
    sys.exit(2)
import ray

@ray.remote
class Echo:
    def length(self, blob):
        return len(blob)

length = ray.get(Echo.remote().length.remote(ray.put(b"x" * 1_000_000)), timeout=120)
print(json.dumps({"length": length, "mode": os.environ.get("RAY_AUTH_MODE"),
                  "token_file": (Path.home() / ".ray" / "auth_token").exists()}))
ray.shutdown()
"""


def run_driver(address: str, home: Path, **env: str) -> dict:
    home.mkdir(parents=True, exist_ok=True)
    run = subprocess.run([sys.executable, "-c", CONNECT, address], env=clean_env(home, **env), capture_output=True,
                         text=True, timeout=180)
    assert run.stdout.strip(), run.stderr[-3000:]
    return {**json.loads(run.stdout.strip().splitlines()[-1]), "status": run.returncode, "stderr": run.stderr}


@pytest.fixture(scope="module")
def heads(tmp_path_factory):
    """(a head with token auth, a head without), started side by side."""
    root = tmp_path_factory.mktemp("heads")
    with futures.ThreadPoolExecutor(2) as pool:
        token = pool.submit(start_head, root / "token-home", token=secrets.token_hex(32))
        plain = pool.submit(start_head, root / "plain-home")
        started = [token.result(), plain.result()]
    try:
        assert started[0].token_auth and not started[1].token_auth
        yield started
    finally:
        for head in started:
            stop_head(head)


@pytest.fixture
def token_head(heads):
    return heads[0]


@pytest.fixture
def plain_head(heads):
    return heads[1]


@pytest.fixture
def no_auth_env(monkeypatch, tmp_path):
    """This process as a fresh machine would be: an empty HOME, none of Ray's auth variables."""
    for name in ("RAY_AUTH_MODE", "RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def test_connects_with_the_token_in_home(token_head, tmp_path):
    home = tmp_path / "home"
    (home / ".ray").mkdir(parents=True)
    (home / ".ray" / "auth_token").write_text(token_head.token)
    result = run_driver(token_head.address, home)
    assert result["status"] == 0 and result["length"] == 1_000_000 and result["mode"] == "token", result


@pytest.mark.slow
@pytest.mark.parametrize("where", ["RAY_AUTH_TOKEN", "RAY_AUTH_TOKEN_PATH"])
def test_connects_with_the_token_from_the_environment(token_head, tmp_path, where):
    file = tmp_path / "token"
    file.write_text(token_head.token + "\n")
    value = token_head.token if where == "RAY_AUTH_TOKEN" else str(file)
    result = run_driver(token_head.address, tmp_path / "home", **{where: value})
    assert result["status"] == 0 and result["length"] == 1_000_000, result
    assert not result["token_file"]  # nothing written to HOME


def test_connects_to_a_cluster_without_auth_whatever_this_machine_holds(plain_head, tmp_path):
    """A token file here and RAY_AUTH_MODE=token would make Ray demand tokens of a cluster that has none:
    it connects, and then its actors die. The probe sees the cluster has no auth and turns it off."""
    home = tmp_path / "home"
    (home / ".ray").mkdir(parents=True)
    (home / ".ray" / "auth_token").write_text(secrets.token_hex(32))
    result = run_driver(plain_head.address, home, RAY_AUTH_MODE="token")
    assert result["status"] == 0 and result["length"] == 1_000_000 and result["mode"] == "disabled", result


NODES = """
import ray
from dreamvid.temporal.ray_connect import connect

connect(__import__("sys").argv[1])
print(sum(node["Alive"] for node in ray.nodes()))
ray.shutdown()
"""


@pytest.mark.slow
def test_a_worker_node_joins_a_head_with_token_auth_given_ray_auth_mode_token(token_head, tmp_path):
    """Ray turns token auth on for a head that finds a token, but not for a node joining it: without
    RAY_AUTH_MODE=token, `ray start --address` fails after 20 s whatever token it has (as the README says)."""
    home = tmp_path / "node-home"
    (home / ".ray").mkdir(parents=True)
    (home / ".ray" / "auth_token").write_text(token_head.token)
    node = join_node(token_head, home, {"RAY_AUTH_MODE": "token"})
    try:
        run = subprocess.run([sys.executable, "-c", NODES, token_head.address], env=clean_env(home),
                             capture_output=True, text=True, timeout=120)
    finally:
        stop_processes(node)
    assert run.returncode == 0 and run.stdout.strip() == "2", run.stderr[-2000:]


def test_a_refusal_is_one_line_of_the_command_within_seconds(token_head, tmp_path):
    clip = tmp_path / "clip.mp4"
    moving_clip(clip, frames=4)
    home = tmp_path / "home"
    home.mkdir()
    command = Path(sys.executable).with_name("dreamvid")
    started = time.monotonic()
    run = subprocess.run([str(command), str(clip), "-o", str(tmp_path / "out.mp4"), "--ray", token_head.address],
                         env=clean_env(home), capture_output=True, text=True, timeout=120)
    seconds = time.monotonic() - started
    assert run.returncode == 2, run.stderr[-2000:]
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith(f"dreamvid: error: the Ray cluster at {token_head.address} refused the connection "
                               f"for authentication: it requires a token and none was found: ")
    assert "RAY_AUTH_TOKEN" in lines[0] and lines[0].endswith("`ray get-auth-token` on the head prints it")
    assert seconds < 20, seconds  # the interpreter and the command's imports included
    assert not (tmp_path / "out.mp4.parts").exists() and not (home / ".ray").exists()


def refusal(address: str) -> tuple[str, float]:
    started = time.monotonic()
    with pytest.raises(UserError) as refused:
        connect(address)
    return str(refused.value), time.monotonic() - started


def test_no_token_is_refused_at_once(token_head, no_auth_env):
    message, seconds = refusal(token_head.address)
    assert "refused the connection for authentication: it requires a token and none was found" in message
    assert seconds < 3


def test_a_wrong_token_is_refused_naming_where_it_came_from(token_head, no_auth_env, monkeypatch, tmp_path):
    monkeypatch.setenv("RAY_AUTH_TOKEN", "not-the-token")
    message, seconds = refusal(token_head.address)
    assert "for authentication: the token from RAY_AUTH_TOKEN is not the cluster's" in message and seconds < 3
    monkeypatch.delenv("RAY_AUTH_TOKEN")
    (no_auth_env / ".ray").mkdir(parents=True)
    (no_auth_env / ".ray" / "auth_token").write_text("stale")
    message, _ = refusal(token_head.address)
    assert f"the token from {no_auth_env / '.ray' / 'auth_token'} is not the cluster's" in message
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "missing"))  # named but not there: no fallback
    message, _ = refusal(token_head.address)
    assert message == f"RAY_AUTH_TOKEN_PATH={tmp_path / 'missing'} cannot be read (No such file or directory)"


def test_nothing_listening_is_one_line(no_auth_env, monkeypatch):
    monkeypatch.setattr(ray_connect, "PROBE_SECONDS", 1.0)
    port = free_ports(1)[0]
    message, seconds = refusal(f"127.0.0.1:{port}")
    assert message.startswith(f"no Ray cluster answers at 127.0.0.1:{port} (within 1 s)") and seconds < 5
    with pytest.raises(UserError, match="HOST:PORT, such as head:6379"):
        connect("head")


def test_an_older_ray_without_the_probes_call_gets_a_quiet_init(no_auth_env, monkeypatch, capfd):
    """A GCS that does not know GetClusterId answers UNIMPLEMENTED (here: a gRPC server with no services):
    the driver's auth settings are left alone and ray.init decides, its log lines kept from the terminal."""
    import grpc
    import ray

    server = grpc.server(futures.ThreadPoolExecutor(1))
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    calls = []

    def init(address, **options):
        calls.append(address)
        os.write(2, b"gcs_client.cc: failed to connect, retrying\n")  # as Ray's C++ core writes
        raise ConnectionError(f"Failed to connect to Ray cluster at {address}")

    monkeypatch.setattr(ray, "init", init)
    monkeypatch.setenv("RAY_gcs_server_port_wait_time_s", "1")  # restored afterwards (connect sets a default)
    try:
        assert probe(f"127.0.0.1:{port}", None) == "unknown"
        message, _ = refusal(f"127.0.0.1:{port}")
    finally:
        server.stop(0)
    assert calls == [f"127.0.0.1:{port}"]
    assert message.startswith(f"could not connect to the Ray cluster at 127.0.0.1:{port}: gcs_client.cc")
    assert "RAY_AUTH_MODE" not in os.environ
    assert "gcs_client" not in capfd.readouterr().err


@pytest.mark.slow
def test_auto_leaves_no_token_and_later_clusters_come_up_without_auth(tmp_path):
    """--ray auto secures its runtime with a token in the environment only: no ~/.ray/auth_token, so a
    `ray start --head` later in the same HOME comes up without token auth, as it would have before."""
    home = tmp_path / "home"
    result = run_driver("auto", home)
    assert result["status"] == 0 and result["length"] == 1_000_000 and result["mode"] == "token", result
    assert not result["token_file"] and not (home / ".ray").exists()
    with running_head(home) as head:
        assert not head.token_auth, head.said
        assert probe(head.address, None) == "ok"
