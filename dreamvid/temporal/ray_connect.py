"""Connecting the driver to Ray, with or without token authentication (Ray 2.60's; older Rays have none).

- "auto": a Ray runtime of this run on this machine, secured by a token that lives only in this process's
  environment, and so in the Ray processes it starts. Ray would otherwise write ~/.ray/auth_token, and
  every later `ray start --head` on this machine would turn token auth on because dreamvid once ran.
- "HOST:PORT": a gRPC probe of the head's GCS (milliseconds, no Ray log lines) tells whether the
  cluster wants a token and whether ours is right, and the driver's auth mode is set to match. It must
  match both ways: a driver that demands tokens connects to a cluster without auth, but the cluster's
  workers cannot call back into it, so actors die before finishing their first task. A refusal is one
  line within a second, instead of 20 s of Ray's retries and 20 log lines.

Ray reads its auth settings when it is imported and caches them; _set_auth_mode refreshes them."""
from __future__ import annotations

import os
import secrets
import sys
import tempfile
from pathlib import Path

from ..errors import UserError

# How long the head may take to answer the probe (still starting, a slow network).
PROBE_SECONDS = 10.0
# How long ray.init itself retries after a good probe (Ray's default, 20 s, read at call time).
INIT_SECONDS = "10"
TOKEN_HELP = ("copy the head's ~/.ray/auth_token to ~/.ray/auth_token here, or set RAY_AUTH_TOKEN (or "
              "RAY_AUTH_TOKEN_PATH, a file holding it); `ray get-auth-token` on the head prints it")
INIT_OPTIONS = dict(include_dashboard=False, log_to_driver=False, logging_level="error", configure_logging=True)


def connect(address: str, **options) -> None:
    """Start or join Ray for a render; a UserError, in one line, when the cluster is not there or refuses."""
    import ray

    options = {**INIT_OPTIONS, **options}
    if address == "auto":
        # A token for this run only, in the environment, where Ray looks first: it writes no file. A user
        # who turned auth off (RAY_AUTH_MODE=disabled) keeps it off.
        if os.environ.get("RAY_AUTH_MODE") != "disabled":
            _set_auth_mode("token", os.environ.get("RAY_AUTH_TOKEN") or secrets.token_hex(32))
        ray.init(address="local", **options)  # always a runtime of our own, never a stale one found here
        return
    if address.startswith("ray://"):  # Ray Client: its own protocol, no GCS to probe
        _quiet_init(address, options)
        return
    if ":" not in address:
        raise UserError(f"--ray needs auto or a cluster's HOST:PORT, such as {address}:6379 (got {address})")
    answer = probe(address, None)
    if answer == "unavailable":
        port = address.rsplit(":", 1)[-1]
        raise UserError(f"no Ray cluster answers at {address} (within {PROBE_SECONDS:.0f} s): is "
                        f"`ray start --head --port {port}` running there, and the port open?")
    if answer == "unauthenticated":
        token, origin = find_token()
        if token is None:
            raise UserError(f"{refused(address)}: it requires a token and none was found: {TOKEN_HELP}")
        if probe(address, token) != "ok":
            raise UserError(f"{refused(address)}: the token from {origin} is not the cluster's: {TOKEN_HELP}")
        _set_auth_mode("token")  # Ray finds the same token, in the same order as find_token
    elif answer == "ok":
        _set_auth_mode("disabled")  # no auth on the cluster: the driver must not demand it either
    elif answer != "unknown":  # "unknown": a Ray without the probe's call, or without grpc; Ray decides
        raise UserError(f"{address} does not answer as a Ray head's GCS port ({answer})")
    _quiet_init(address, options)


def refused(address: str) -> str:
    """How every authentication refusal begins, whatever the cause that follows."""
    return f"the Ray cluster at {address} refused the connection for authentication"


def find_token() -> tuple[str | None, str]:
    """(token, where it came from), in Ray's own order: RAY_AUTH_TOKEN, the file RAY_AUTH_TOKEN_PATH names
    (set but unreadable is an error, as for Ray: no falling back), then ~/.ray/auth_token."""
    if os.environ.get("RAY_AUTH_TOKEN", "").strip():
        return os.environ["RAY_AUTH_TOKEN"].strip(), "RAY_AUTH_TOKEN"
    named = os.environ.get("RAY_AUTH_TOKEN_PATH")
    if named:
        try:
            token = Path(named).expanduser().read_text().strip()
        except OSError as error:
            raise UserError(f"RAY_AUTH_TOKEN_PATH={named} cannot be read ({error.strerror})") from None
        if not token:
            raise UserError(f"RAY_AUTH_TOKEN_PATH={named} is empty")
        return token, f"RAY_AUTH_TOKEN_PATH={named}"
    default = Path.home() / ".ray" / "auth_token"
    try:
        token = default.read_text().strip()
    except OSError:
        return None, ""
    return (token, str(default)) if token else (None, "")


def probe(address: str, token: str | None) -> str:
    """Ask the GCS at `address` for its cluster id: "ok", "unauthenticated", "unavailable" (nothing answers
    within PROBE_SECONDS), "unknown" (this Ray or its GCS lacks the call, or grpc is missing: Ray decides)
    or what else it said."""
    try:
        import grpc
        from ray.core.generated import gcs_service_pb2, gcs_service_pb2_grpc

        request = gcs_service_pb2.GetClusterIdRequest()
    except (ImportError, AttributeError):
        return "unknown"
    metadata = [("authorization", f"Bearer {token}")] if token else []
    with grpc.insecure_channel(address) as channel:
        stub = gcs_service_pb2_grpc.NodeInfoGcsServiceStub(channel)
        try:
            # wait_for_ready: keep trying to connect until the deadline (a head that is still starting)
            stub.GetClusterId(request, metadata=metadata, timeout=PROBE_SECONDS,
                              wait_for_ready=True)
            return "ok"
        except grpc.RpcError as error:
            code = error.code()
            if code == grpc.StatusCode.UNAUTHENTICATED:
                return "unauthenticated"
            if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                return "unavailable"
            if code == grpc.StatusCode.UNIMPLEMENTED:
                return "unknown"
            return f"{code.name}: {error.details()}"


def _set_auth_mode(mode: str, token: str | None = None) -> None:
    """This process's Ray auth mode (and token), for Ray's processes too (they inherit the environment).
    Ray caches both when it is imported: refresh its config and token loader, as Ray's own tests do."""
    os.environ["RAY_AUTH_MODE"] = mode
    if token is not None:
        os.environ["RAY_AUTH_TOKEN"] = token
    try:
        from ray._raylet import AuthenticationTokenLoader, Config
    except ImportError:  # a Ray before token auth: nothing cached
        return
    Config.initialize("")
    AuthenticationTokenLoader.instance().reset_cache()


def _quiet_init(address: str, options: dict) -> None:
    """ray.init with Ray's C++ log lines (one per failed attempt, whatever the log level) kept from the
    terminal; a failure is one line, naming authentication when that is what failed."""
    import ray

    os.environ.setdefault("RAY_gcs_server_port_wait_time_s", INIT_SECONDS)
    quiet = _QuietStderr()
    try:
        with quiet:
            ray.init(address=address, **options)
    except (ConnectionError, RuntimeError) as error:
        said = f"{quiet.text} {error} {error.__cause__}"
        if "InvalidAuthToken" in said or "Unauthenticated" in said or "UNAUTHENTICATED" in said:
            raise UserError(f"{refused(address)}: {TOKEN_HELP}") from None
        last = [line for line in quiet.text.splitlines() if line.strip()][-1:] or [str(error)]
        raise UserError(f"could not connect to the Ray cluster at {address}: {last[0].strip()[-300:]}") from None


class _QuietStderr:
    """fd 2 into a temporary file while Ray connects; `text` is what was said there."""

    text = ""

    def __enter__(self) -> "_QuietStderr":
        sys.stderr.flush()
        self._file = tempfile.TemporaryFile()
        self._saved = os.dup(2)
        os.dup2(self._file.fileno(), 2)
        return self

    def __exit__(self, *exc) -> None:
        sys.stderr.flush()
        os.dup2(self._saved, 2)
        os.close(self._saved)
        self._file.seek(0)
        self.text = self._file.read().decode(errors="replace")
        self._file.close()
