"""``balancer serve --workers N``: N gateway processes on one port, one supervisor.

Each worker is a whole gateway (``balancer serve`` in a child process) that binds the port with
SO_REUSEPORT, so the kernel spreads connections across them; they share quotas, breakers, cooldowns and
the ledger through Redis (memory state with more than one worker is refused: each would keep its own
books). The supervisor forwards SIGHUP (reload) and SIGTERM/SIGINT (drain) to every worker, restarts a
worker that dies on its own (after a pause that grows while it keeps dying), and exits 0 when every worker
has drained. Workers write their metrics under one PROMETHEUS_MULTIPROC_DIR, so a scrape of any of them
counts them all; each worker's JSON log goes to the shared stderr in whole lines.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from types import FrameType

import structlog

from balancer import lifecycle
from balancer.config import Config

log = structlog.get_logger("balancer.workers")

RESTART_MIN_S, RESTART_MAX_S = 0.5, 30.0


class WorkersError(Exception):
    """This config cannot run with several workers (the message says why and what to change)."""


def check(cfg: Config, n: int) -> None:
    if n > 1 and cfg.state.url() is None:
        raise WorkersError(
            f"--workers {n} needs shared state: with in-memory state each worker would keep its own quotas, "
            "breakers, cooldowns and ledger. Set state.redis_url (or REDIS_URL), or run one worker."
        )


class Supervisor:
    def __init__(self, config_path: str, n: int, port: int | None) -> None:
        self.config_path, self.n, self.port = config_path, n, port
        self.procs: list[subprocess.Popen[bytes] | None] = [None] * n
        self.stopping = False
        self.metrics_dir = tempfile.mkdtemp(prefix="qiao-metrics-")

    def _spawn(self, i: int) -> subprocess.Popen[bytes]:
        cmd = [sys.executable, "-m", "balancer", "serve", "--config", self.config_path, "--worker"]
        if self.port is not None:
            cmd += ["--port", str(self.port)]
        env = {**os.environ, "PROMETHEUS_MULTIPROC_DIR": self.metrics_dir, "QIAO_WORKER": str(i)}
        env.pop("NOTIFY_SOCKET", None)  # systemd hears from the supervisor (its main process) alone
        proc = subprocess.Popen(cmd, env=env)  # noqa: S603 - our own interpreter and arguments
        log.info("worker_started", worker=i, pid=proc.pid)
        return proc

    def _signal_all(self, sig: int) -> None:
        for p in self.procs:
            if p is not None and p.poll() is None:
                p.send_signal(sig)

    def _on_stop(self, signum: int, _: FrameType | None) -> None:
        self.stopping = True
        log.info("workers_draining", signal=signal.Signals(signum).name)
        lifecycle.notify("STOPPING=1")
        self._signal_all(signal.SIGTERM)

    def _on_hup(self, signum: int, _: FrameType | None) -> None:
        log.info("workers_reloading")
        self._signal_all(signal.SIGHUP)

    def run(self) -> int:
        """Start the workers, keep them running until SIGTERM/SIGINT, then wait for each to drain."""
        signal.signal(signal.SIGTERM, self._on_stop)
        signal.signal(signal.SIGINT, self._on_stop)
        signal.signal(signal.SIGHUP, self._on_hup)
        if lifecycle.stop_pending():  # a SIGTERM while the supervisor started: no worker is started
            return 0
        pause = [RESTART_MIN_S] * self.n
        try:
            self.procs = [self._spawn(i) for i in range(self.n)]
            lifecycle.notify("READY=1")  # a worker still starting keeps a SIGHUP for when it serves
            while not self.stopping:
                time.sleep(0.2)
                for i, p in enumerate(self.procs):
                    if p is not None and p.poll() is not None and not self.stopping:
                        log.error("worker_died", worker=i, pid=p.pid, status=p.returncode, restart_in_s=pause[i])
                        self._mark_dead(p.pid)
                        time.sleep(pause[i])
                        pause[i] = min(RESTART_MAX_S, pause[i] * 2)
                        if not self.stopping:
                            self.procs[i] = self._spawn(i)
            codes = [p.wait() for p in self.procs if p is not None]
        finally:
            self._signal_all(signal.SIGKILL)
            shutil.rmtree(self.metrics_dir, ignore_errors=True)
        log.info("workers_stopped", statuses=codes)
        return 0 if all(c == 0 for c in codes) else 1

    def _mark_dead(self, pid: int) -> None:
        """A dead worker's live gauges leave the sums (its counters stay: they were served)."""
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(pid, self.metrics_dir)  # type: ignore[no-untyped-call]
