"""Throwaway `ray start --head` clusters for tests: each in its own process group, HOME, --temp-dir and free
ports, and stopped by exactly its processes. Never `ray stop`: it kills every Ray process of the machine,
other users' and other test runs' included."""
from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

RAY = str(Path(sys.executable).with_name("ray"))


@dataclass(frozen=True)
class Head:
    address: str  # 127.0.0.1:PORT, the GCS
    home: Path  # the HOME it was started with (its ~/.ray/auth_token, if any, is the cluster's token)
    pgid: int
    token_auth: bool  # `ray start` said it turned token authentication on
    said: str  # what `ray start` printed
    temp: str  # its --temp-dir (sessions, logs, sockets)

    @property
    def token(self) -> str:
        return (self.home / ".ray" / "auth_token").read_text().strip()


def free_ports(count: int) -> list[int]:
    """Ports nothing listens on now (bound and released: another process could take one, rarely)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def clean_env(home: Path, **extra: str) -> dict[str, str]:
    """This process's environment with another HOME and none of Ray's auth settings (a test's Ray runtime
    may have set them here), plus `extra`."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("RAY_AUTH")}
    return {**env, "HOME": str(home), **extra}


def start_head(home: Path, *, token: str | None = None, cpus: int = 1, env: dict[str, str] | None = None) -> Head:
    """A head node with HOME=home; with `token`, written to home/.ray/auth_token first, so that the head
    turns token authentication on (as it does wherever a token is found)."""
    home.mkdir(parents=True, exist_ok=True)
    if token is not None:
        (home / ".ray").mkdir(exist_ok=True)
        (home / ".ray" / "auth_token").write_text(token)
    gcs, client, agent, agent_grpc, runtime_env, metrics = free_ports(6)
    # Ray's unix sockets live under its temp dir, and a socket's path has at most 107 bytes: pytest's
    # tmp_path is too deep, so each head gets a short folder of its own in /tmp (removed when it stops).
    temp = tempfile.mkdtemp(prefix="rayt-")
    args = [RAY, "start", "--head", f"--port={gcs}", f"--num-cpus={cpus}", "--include-dashboard=false",
            "--disable-usage-stats", f"--temp-dir={temp}", f"--ray-client-server-port={client}",
            f"--dashboard-agent-listen-port={agent}", f"--dashboard-agent-grpc-port={agent_grpc}",
            f"--runtime-env-agent-port={runtime_env}", f"--metrics-export-port={metrics}"]
    process = subprocess.Popen(args, env={**clean_env(home), **(env or {})}, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    said = process.communicate(timeout=120)[0]
    head = Head(f"127.0.0.1:{gcs}", home, process.pid, "Token authentication is enabled" in said, said, temp)
    if process.returncode != 0:
        stop_head(head)
        raise RuntimeError(f"ray start failed:\n{said[-3000:]}")
    return head


def join_node(head: Head, home: Path, env: dict[str, str] | None = None, cpus: int = 1) -> int:
    """A worker node joined to `head` (`ray start --address`) with HOME=home and `env`; returns the process
    group to stop it by (stop_processes). It shares the head's temp dir, as nodes of one machine do."""
    agent, agent_grpc, runtime_env, metrics = free_ports(4)
    process = subprocess.Popen([RAY, "start", f"--address={head.address}", f"--num-cpus={cpus}",
                                "--disable-usage-stats", f"--dashboard-agent-listen-port={agent}",
                                f"--dashboard-agent-grpc-port={agent_grpc}", f"--runtime-env-agent-port={runtime_env}",
                                f"--metrics-export-port={metrics}"],
                               env={**clean_env(home), **(env or {})}, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, start_new_session=True)
    said = process.communicate(timeout=120)[0]
    if process.returncode != 0:
        stop_processes(process.pid)
        raise RuntimeError(f"ray start --address failed:\n{said[-3000:]}")
    return process.pid


@contextlib.contextmanager
def running_head(home: Path, **options) -> Iterator[Head]:
    head = start_head(home, **options)
    try:
        yield head
    finally:
        stop_head(head)


def stop_head(head: Head) -> None:
    stop_processes(head.pgid)
    shutil.rmtree(head.temp, ignore_errors=True)


def stop_processes(pgid: int) -> None:
    """Stop the process group `pgid` and every descendant of its members (Ray's workers start groups of
    their own): TERM, then KILL whatever is left after two seconds."""
    pids = _tree(pgid)
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, sig)
        deadline = time.monotonic() + 2
        while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
            time.sleep(0.1)
        if not any(_alive(pid) for pid in pids):
            return


def _tree(pgid: int) -> list[int]:
    parents: dict[int, list[int]] = {}
    members = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat") as file:
                fields = file.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(name))
        if int(fields[2]) == pgid:
            members.append(int(name))
    found, todo = set(), members
    while todo:
        pid = todo.pop()
        if pid not in found:
            found.add(pid)
            todo += parents.get(pid, [])
    return sorted(found)


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as file:
            return file.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
