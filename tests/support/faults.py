"""A private job stack for fault tests: its own Redis, an app serving the WeChat emulator, and `szca-bot worker`
processes that a test may kill outright.  Private, so killing workers never touches the session worker's queue."""

from __future__ import annotations

import os
import signal
from typing import Any, Callable

import psutil
import requests
from rq import Queue

from bot import services as services_mod
from tests.support.servers import LiveServer, RedisProcess, WorkerProcess

# Tests do not wait out the production back-off: eight immediate retries.
FAST_RETRIES = [0] * 8


class JobStack:
    def __init__(self, make_live: Callable[..., LiveServer], data_dir: str, **settings: Any) -> None:
        self._installed = services_mod.current()  # creating the app installs its services: put them back after
        self.redis = RedisProcess.start_new()
        self.server = make_live(redis_url=self.redis.url, start_jobs=False, job_retry_intervals_s=FAST_RETRIES,
                                **settings)
        self.env = {"DATA_DIR": data_dir, "JOB_RETRY_INTERVALS_S": str(FAST_RETRIES)}
        self.workers: list[WorkerProcess] = []

    @property
    def services(self) -> Any:
        return self.server.services

    @property
    def queue(self) -> Queue:
        return self.services.queue

    def start_worker(self, **env: str) -> WorkerProcess:
        worker = WorkerProcess(self.redis.url, f"{self.server.url}/emulator/cgi-bin/", {**self.env, **env})
        self.workers.append(worker)
        return worker

    def faults(self, **faults: Any) -> None:
        requests.post(f"{self.server.url}/emulator/_faults", json=faults).raise_for_status()

    def stats(self) -> dict[str, int]:
        return requests.get(f"{self.server.url}/emulator/_stats").json()

    def outbox(self) -> list[dict[str, Any]]:
        return requests.get(f"{self.server.url}/emulator/_outbox").json()

    def drained(self) -> bool:
        """Nothing queued, running or waiting for a retry."""
        q = self.queue
        return q.count == 0 and q.started_job_registry.count == 0 and q.scheduled_job_registry.count == 0

    def logs(self) -> str:
        return "\n".join(w.log_text() for w in self.workers)

    def close(self) -> None:
        for worker in self.workers:
            if worker.proc.poll() is None:
                worker.stop()
        self.redis.stop()
        services_mod.install(self._installed)


def kill_hard(worker: WorkerProcess) -> None:
    """SIGKILL the worker and everything under it, as a lost machine or the OOM killer would.  Killing the
    process group is not enough: RQ's work-horse leads a process group of its own."""
    family = [worker.proc.pid, *(p.pid for p in psutil.Process(worker.proc.pid).children(recursive=True))]
    for pid in family:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    worker.proc.wait(timeout=10)


def per_user(outbox: list[dict[str, Any]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for message in outbox:
        counts[message["touser"]] = counts.get(message["touser"], 0) + 1
    return counts
