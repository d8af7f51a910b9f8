"""The service as child processes on this machine: the API (uvicorn) and dispatch workers.

One launcher for everything that runs the real stack locally: the demo (``bakeoff demo``), the
end-to-end and fault tests, and the load benchmarks. It sets the environment every process
reads (database, queue, public URL, operator folders, fast dispatch timings), logs each process
to ``<workdir>/<name>.log``, waits for ``/health`` and stops everything on exit::

    with LocalStack.prepare(tmp, "sqlite:///...") as stack:
        stack.start_api()
        stack.start_worker()
        stack.wait_ready()
        httpx.get(f"{stack.api_url}/projects", headers=...)

The processes bind to 127.0.0.1 only.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

import httpx

from adapters.simulator import free_port

__all__ = ["LocalStack", "free_port"]

# Dispatch timings that make a local run finish in seconds rather than hours.
FAST_DISPATCH: Mapping[str, str] = {
    "BAKEOFF_DISPATCH_POLL_INTERVAL_S": "0.2",
    "BAKEOFF_DISPATCH_CALLBACK_POLL_INTERVAL_S": "1",
    "BAKEOFF_DISPATCH_SLICE_S": "3",
    "BAKEOFF_DISPATCH_BATCH_SIZE": "8",
}


@dataclass
class LocalStack:
    """The environment and the child processes of one local run.

    Attributes
    ----------
    workdir
        Logs (``<name>.log``), the SQLite queue and the operator's model folder live here.
    database_url
        The database every process uses (migrated by the caller).
    env
        The environment of the child processes.
    api_url
        Where the API answers once started.
    """

    workdir: Path
    database_url: str
    env: dict[str, str]
    api_url: str
    cwd: Path | None = None
    procs: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @classmethod
    def prepare(
        cls,
        workdir: Path,
        database_url: str,
        *,
        environment: str = "test",
        redis_url: str | None = None,
        settings: Mapping[str, str] | None = None,
        cwd: Path | None = None,
    ) -> LocalStack:
        """The environment for a run; ``settings`` (``BAKEOFF_*``) override the defaults.

        Without ``redis_url`` the queue is a SQLite file in ``workdir`` (an inherited
        ``BAKEOFF_REDIS_URL`` is dropped, so a test never touches a shared Redis by accident).
        """
        workdir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        env = {
            **os.environ,
            "BAKEOFF_ENVIRONMENT": environment,
            "BAKEOFF_DATABASE_URL": database_url,
            "BAKEOFF_AUTO_MIGRATE": "false",
            "BAKEOFF_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "BAKEOFF_MODEL_DIR": str(workdir / "models"),
            "PYTHONUNBUFFERED": "1",
            **FAST_DISPATCH,
        }
        if redis_url is None:
            env.pop("BAKEOFF_REDIS_URL", None)
            env["BAKEOFF_QUEUE_PATH"] = str(workdir / "queue.db")
        else:
            env["BAKEOFF_REDIS_URL"] = redis_url
        env.update(settings or {})
        return cls(workdir, database_url, env, f"http://127.0.0.1:{port}", cwd)

    @property
    def port(self) -> int:
        return int(self.api_url.rsplit(":", 1)[1])

    def spawn(self, args: list[str], name: str) -> subprocess.Popen[bytes]:
        """Start ``python <args>`` as process ``name`` (a second one of a name replaces it)."""
        log = (self.workdir / f"{name}.log").open("ab")
        proc = subprocess.Popen(  # noqa: S603 - our own modules, fixed arguments
            [sys.executable, *args],
            cwd=self.cwd,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.procs[name if name not in self.procs else f"{name}-{len(self.procs)}"] = proc
        return proc

    def start_api(self, *, workers: int = 1) -> subprocess.Popen[bytes]:
        """The API on ``api_url`` (uvicorn, ``workers`` processes)."""
        args = ["-m", "uvicorn", "--factory", "service.main:create_app", "--host", "127.0.0.1"]
        args += ["--port", str(self.port), "--log-level", "warning", "--workers", str(workers)]
        return self.spawn(args, "api")

    def start_worker(self, *, workers: int = 2) -> subprocess.Popen[bytes]:
        """A dispatch worker (``bakeoff worker``) with ``workers`` threads."""
        return self.spawn(["-m", "service.cli.main", "worker", "--workers", str(workers)], "worker")

    def wait_ready(self, *, timeout_s: float = 120.0) -> None:
        """Wait until ``/health`` answers 200.

        Raises
        ------
        RuntimeError
            The API process ended, or did not answer in time (its log is in the message).
        """
        deadline = time.monotonic() + timeout_s
        api = self.procs.get("api")
        while True:
            try:
                if httpx.get(f"{self.api_url}/health", timeout=2.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            if (api is not None and api.poll() is not None) or time.monotonic() > deadline:
                raise RuntimeError(f"the API did not start:\n{self.log('api')}")
            time.sleep(0.2)

    def log(self, name: str, *, tail: int = 3000) -> str:
        """The end of process ``name``'s log."""
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace")[-tail:] if path.exists() else ""

    def stop(self) -> None:
        """Terminate every process (kill what does not stop within 10 s)."""
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs.values():
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()

    def __enter__(self) -> LocalStack:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
