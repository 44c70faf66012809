"""Load benchmark: signed WeChat callbacks from many simulated users against gunicorn and a real Redis.

    python -m bench.load                 # the whole run (~4 minutes on 2 cores)
    python -m bench.load --quick         # fewer messages, for a smoke run
    python -m bench.load --json out.json # the figures as JSON too

For each server configuration it starts gunicorn exactly as the Procfile does (gthread, 8 threads) on a private
redis-server (or REDIS_URL with --redis-url), drives POST /wechat over keep-alive connections from a closed-loop
asyncio client (each connection sends its next message when the reply has arrived), and reports messages/s,
p50/p99 latency, the server's CPU per message and errors. Scenarios:

    echo       a bare wechatpy echo app (bench/echo_app.py) on the same settings: the ceiling of the stack
    faq        a question from the FAQ evaluation set, from users not in a form
    dialogue   the next answer of a whole 机构证书 application (consent to the summary), many users interleaved
    mix        dialogue steps with questions asked mid-form, and FAQ-only users
    each also in safe mode (AES), the way the production account is configured.

Every request is checked: HTTP 200 and a reply that is not the apology or the rate-limit note; the service's
own log is scanned for any outcome other than ok. Requests are signed before the clock starts so the client
spends its time on the sockets. Users are many enough that none exceeds the production rate limit
(20 messages / 10 s): the benchmark runs the service's production settings, not a relaxed copy.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import itertools
import json
import os
import re
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator
from urllib.parse import urlencode

if __package__ in (None, ""):  # `python bench/load.py` as well as `python -m bench.load`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis  # noqa: E402
import requests  # noqa: E402

from bot import messages  # noqa: E402
from bot.simclient import WeChatUser, message_xml  # noqa: E402
from bot.store import conv_key, last_seen_key, reply_key  # noqa: E402
from tests.support.servers import RedisProcess, free_port  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
CONNECTIONS = 16
THREADS = 8  # as in the Procfile
SCENARIO_TIMEOUT_S = 300
USERS_PER_CONNECTION = 60  # with the pacing below, keeps every user under the production rate limit
RECONNECT_EVERY = 50  # requests per keep-alive connection (see drive)
MIN_GAP_S = 0.55  # no user sends faster than this (the limit is 20 messages in a 10 s window)
_msg_ids = itertools.count(int(time.time() * 1000) * 1000)


# -- what users send ------------------------------------------------------------------------------------
def faq_questions() -> list[str]:
    with open(ROOT / "tests" / "data" / "faq_eval.csv", encoding="utf-8") as fh:
        return [row["question"] for row in csv.DictReader(fh) if row["label"] != "out_of_scope"]


def dialogue_script(base_url: str, redis_url: str) -> list[str]:
    """The messages of a whole 机构证书 application up to the summary, learnt by walking it once over HTTP
    (the order of questions is the dialogue's business; the benchmark just answers what is asked)."""
    from tests.dialogs.conftest import TYPICAL

    answers = {**TYPICAL, "platform": "深圳公共资源交易平台", "cert_type": "机构证书"}
    client = redis.Redis.from_url(redis_url)
    user = WeChatUser(base_url)
    script = ["申请证书"]
    user.text(script[0])
    for _ in range(60):
        raw = client.get(conv_key(user.openid))
        dialog = json.loads(raw).get("dialog") if raw else None
        if dialog is None:
            raise RuntimeError("the scouting user's draft vanished")
        if dialog.get("confirming"):
            return script
        answer = answers[re.sub(r"\.\d+\.", ".", dialog["cursor"])]
        reply = user.text(answer)
        if reply.status != 200 or not reply.text or reply.text == messages.APOLOGY:
            raise RuntimeError(f"the scouting user got no answer at {dialog['cursor']}")
        script.append(answer)
    raise RuntimeError("the script never reached the summary")


def new_openid() -> str:
    return "obench" + secrets.token_urlsafe(18)


def interleave(users: list[list[str]]) -> list[tuple[str, str]]:
    """Round-robin over the users' message lists: many conversations in flight, each in its own order."""
    openids = [new_openid() for _ in users]
    out: list[tuple[str, str]] = []
    for step in range(max(map(len, users))):
        out.extend((openid, msgs[step]) for openid, msgs in zip(openids, users) if step < len(msgs))
    return out


def faq_plan(questions: list[str], per_connection: int) -> Callable[[int], list[tuple[str, str]]]:
    """Each user asks three questions (people ask one or two, then apply or leave), many users interleaved."""
    def plan(conn: int) -> list[tuple[str, str]]:
        ask = itertools.islice(itertools.cycle(questions), conn * 7, None)
        users = [[next(ask) for _ in range(3)] for _ in range(-(-per_connection // 3))]
        return interleave(users)[:per_connection]
    return plan


def dialogue_plan(script: list[str], users: int) -> Callable[[int], list[tuple[str, str]]]:
    return lambda conn: interleave([script] * users)


def mix_plan(script: list[str], questions: list[str], users: int) -> Callable[[int], list[tuple[str, str]]]:
    """Two in three users fill the form and ask a question after every third answer (answered, then the form's
    question again); one in three only asks questions."""
    def plan(conn: int) -> list[tuple[str, str]]:
        ask = itertools.islice(itertools.cycle(questions), conn * 11, None)
        seqs = []
        for n in range(users):
            if n % 3 == 2:
                seqs.append([next(ask) for _ in range(len(script) // 2)])
            else:
                seq: list[str] = []
                for i, answer in enumerate(script):
                    seq.append(answer)
                    if i % 3 == 2:
                        seq.append(next(ask))
                seqs.append(seq)
        return interleave(seqs)
    return plan


# -- the wire -------------------------------------------------------------------------------------------
def raw_request(port: int, openid: str, content: str, aes: bool) -> bytes:
    user = WeChatUser(f"http://127.0.0.1:{port}", openid=openid, aes_key=AES_KEY if aes else None)
    xml = message_xml(openid, user.account, "text", {"Content": content, "MsgId": next(_msg_ids)})
    params, body = user.envelope(xml, encrypt=aes, query=user.signed_query())
    head = (f"POST /wechat?{urlencode(params)} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Content-Type: text/xml\r\nContent-Length: {len(body)}\r\n\r\n")
    return head.encode("ascii") + body


BAD_REPLIES = (messages.APOLOGY.encode("utf-8"), messages.TOO_FAST.encode("utf-8"))
_content_length = re.compile(rb"content-length:\s*(\d+)", re.I)


def good_reply(status: int, body: bytes, aes: bool) -> bool:
    if status != 200:
        return False
    if aes:
        return b"<Encrypt>" in body
    return body.startswith(b"<xml>") and not any(bad in body for bad in BAD_REPLIES)


@dataclass
class ConnResult:
    latencies: list[float] = field(default_factory=list)
    done_at: list[float] = field(default_factory=list)
    errors: int = 0
    paced: int = 0  # times a connection waited so that one user would not send too fast
    samples: list[str] = field(default_factory=list)


async def drive(port: int, requests_: list[tuple[str, bytes]], aes: bool, pace: bool) -> ConnResult:
    result = ConnResult()
    last_sent: dict[str, float] = {}
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    for n, (openid, req) in enumerate(requests_, 1):
        if n % RECONNECT_EVERY == 0:
            # gunicorn keeps a connection on the worker that accepted it; connections that live for a whole
            # run can pile up on one worker and leave the others idle. Reconnecting now and then lets the
            # kernel hand the new connection to whichever worker accepts first, as with WeChat's own traffic.
            writer.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
        wait = last_sent.get(openid, 0.0) + MIN_GAP_S - time.perf_counter()
        if pace and wait > 0:
            result.paced += 1
            await asyncio.sleep(wait)
        started = last_sent[openid] = time.perf_counter()
        for attempt in range(2):
            try:
                writer.write(req)
                head = await reader.readuntil(b"\r\n\r\n")
                length = _content_length.search(head)
                body = await reader.readexactly(int(length.group(1)) if length else 0)
                break
            except (asyncio.IncompleteReadError, ConnectionError):
                # the server closed an idle keep-alive connection: open another and send again (the same
                # nonce and MsgId, so a message that did arrive is answered from the retry cache, not twice)
                writer.close()
                reader, writer = await asyncio.open_connection("127.0.0.1", port)
                if attempt:
                    raise
        result.done_at.append(time.perf_counter())
        result.latencies.append(result.done_at[-1] - started)
        status = int(head[9:12])
        if not good_reply(status, body, aes):
            result.errors += 1
            if len(result.samples) < 3:
                result.samples.append(f"{status} {body[:160]!r}")
        if b"connection: close" in head.lower():
            writer.close()
            reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.close()
    return result


# -- the servers ----------------------------------------------------------------------------------------
def cpu_seconds(pids: list[int]) -> float:
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime + stime
    return total / os.sysconf("SC_CLK_TCK")


def children(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1]) == pid:
                    found.append(int(entry.name))
            except (FileNotFoundError, ProcessLookupError):
                continue
    return found


class Gunicorn:
    """gunicorn as the Procfile runs it, on a free port, logging to a file the benchmark scans afterwards."""

    def __init__(self, app: str, workers: int, env: dict[str, str]) -> None:
        self.port = free_port()
        self.log_path = Path(tempfile.mkstemp(prefix="szca-bench-", suffix=".log")[1])
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", "--workers", str(workers), "--threads", str(THREADS),
             "--worker-class", "gthread", "--bind", f"127.0.0.1:{self.port}", "--timeout", "30", app],
            cwd=ROOT, env={**os.environ, **env}, stdout=self._log, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 60
        while len(children(self.proc.pid)) < workers or not self._healthy():
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn did not start; see {self.log_path}")
            time.sleep(0.2)
        for _ in range(workers * 4):  # every worker imports lazily; the first requests are not measured
            self._healthy()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _healthy(self) -> bool:
        try:
            return requests.get(f"{self.url}/healthz", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    def pids(self) -> list[int]:
        return [self.proc.pid, *children(self.proc.pid)]

    def log_offset(self) -> int:
        self._log.flush()
        return self.log_path.stat().st_size

    def bad_outcomes(self, since: int) -> dict[str, int]:
        with open(self.log_path, "rb") as fh:
            fh.seek(since)
            text = fh.read().decode("utf-8", "replace")
        counts: dict[str, int] = {}
        for outcome in re.findall(r"outcome=(\S+)", text):
            if outcome != "ok":
                counts[outcome] = counts.get(outcome, 0) + 1
        for line in text.splitlines():
            if "Traceback" in line or "[ERROR]" in line:
                counts["error-log-lines"] = counts.get("error-log-lines", 0) + 1
        return counts

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._log.close()


# -- one measured run -----------------------------------------------------------------------------------
@dataclass
class Figures:
    server: str
    workers: int
    scenario: str
    mode: str
    messages: int
    seconds: float
    per_s: float
    per_s_per_worker: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    server_cpu_ms_per_msg: float
    redis_cpu_ms_per_msg: float
    errors: int
    paced: int
    bad_outcomes: dict[str, int]
    error_samples: list[str]

    def line(self) -> str:
        errors = self.errors + sum(self.bad_outcomes.values())
        return (f"{self.server:9} {self.workers}w {self.scenario:9} {self.mode:5} {self.messages:6d} msgs "
                f"{self.per_s:7.0f}/s ({self.per_s_per_worker:5.0f}/s/worker)  p50 {self.p50_ms:5.1f} ms  "
                f"p99 {self.p99_ms:5.1f} ms  cpu {self.server_cpu_ms_per_msg:4.2f} ms/msg "
                f"(redis {self.redis_cpu_ms_per_msg:4.2f})  errors {errors}"
                + (f"  paced {self.paced}" if self.paced else ""))


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def measure(server: Gunicorn, redis_pid: int | None, *, name: str, workers: int, scenario: str, aes: bool,
            plan: Callable[[int], list[tuple[str, str]]]) -> Figures:
    batches = [[(openid, raw_request(server.port, openid, content, aes)) for openid, content in plan(conn)]
               for conn in range(CONNECTIONS)]
    offset = server.log_offset()
    pids = server.pids()
    cpu0, rcpu0 = cpu_seconds(pids), cpu_seconds([redis_pid] if redis_pid else [])
    started = time.perf_counter()

    async def all_connections() -> list[ConnResult]:
        # bounded in time as well as in count: a server that stops answering ends the run, not the machine
        # the echo app has no rate limit to respect, so its users are not paced
        runs = (drive(server.port, batch, aes, pace=name != "echo") for batch in batches)
        return await asyncio.wait_for(asyncio.gather(*runs), timeout=SCENARIO_TIMEOUT_S)

    results = asyncio.run(all_connections())
    seconds = time.perf_counter() - started
    cpu = cpu_seconds(pids) - cpu0
    rcpu = cpu_seconds([redis_pid] if redis_pid else []) - rcpu0
    time.sleep(0.2)  # let the last log lines reach the file
    latencies = [lat for r in results for lat in r.latencies]
    n = len(latencies)
    # Throughput while all connections are busy: gunicorn keeps a keep-alive connection on the worker that
    # accepted it, so with several workers some connections finish early and the tail would measure the
    # busiest worker alone.
    all_busy_until = min(r.done_at[-1] for r in results)
    in_window = sum(1 for r in results for t in r.done_at if t <= all_busy_until)
    per_s = in_window / (all_busy_until - started)
    return Figures(
        server=name, workers=workers, scenario=scenario, mode="aes" if aes else "plain", messages=n,
        seconds=round(seconds, 2), per_s=round(per_s, 1), per_s_per_worker=round(per_s / workers, 1),
        p50_ms=round(percentile(latencies, 0.5) * 1000, 2), p99_ms=round(percentile(latencies, 0.99) * 1000, 2),
        max_ms=round(max(latencies) * 1000, 2),
        server_cpu_ms_per_msg=round(cpu * 1000 / n, 3), redis_cpu_ms_per_msg=round(rcpu * 1000 / n, 3),
        errors=sum(r.errors for r in results), paced=sum(r.paced for r in results),
        bad_outcomes=server.bad_outcomes(offset) if name == "assistant" else {},
        error_samples=[s for r in results for s in r.samples][:3],
    )


def conversation_memory(client: redis.Redis, openids: list[str]) -> dict[str, float]:
    """Bytes Redis holds per conversation: the draft and its last-seen stamp (as long as the conversation
    lives), and per message the nonce and seen marker (10 minutes) and the reply kept for WeChat's retries
    (60 s). MEMORY USAGE counts each key with its overhead."""
    sample = openids[:200]
    avg = lambda xs: sum(xs) / len(xs) if xs else 0.0  # noqa: E731

    def sampled(pattern: str) -> float:
        return avg([client.memory_usage(k) or 0 for k in itertools.islice(client.scan_iter(pattern, count=1000), 200)])

    conversation = avg([(client.memory_usage(conv_key(o)) or 0) + (client.memory_usage(last_seen_key(o)) or 0)
                        for o in sample])
    marker = sampled("seen:*") + sampled("nonce:*")
    reply = avg([client.memory_usage(reply_key(o, k.decode().rsplit(":", 1)[1])) or 0
                 for o in sample[:20] for k in client.scan_iter(f"seen:{{{o}}}:*")])
    # a user who sends a message every 15 s (typing answers on a phone) keeps 40 markers and 4 replies
    return {"conversation_bytes": round(conversation), "per_message_marker_bytes": round(marker),
            "per_message_reply_bytes": round(reply),
            "steady_bytes_at_one_message_per_15s": round(conversation + 40 * marker + 4 * reply)}


def main(argv: list[str] | None = None) -> int:
    global USERS_PER_CONNECTION
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="fewer messages and no scale-out curve")
    parser.add_argument("--faq-messages", type=int, default=6000, help="messages in a FAQ or echo scenario")
    parser.add_argument("--workers", default="1,2,4", help="gunicorn worker counts for the scale-out curve")
    parser.add_argument("--redis-url", help="an existing Redis instead of a private redis-server (not flushed)")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args(argv)
    if args.quick:
        args.faq_messages, USERS_PER_CONNECTION, args.workers = 1500, 25, "1"
    worker_counts = [int(w) for w in args.workers.split(",")]
    per_connection = args.faq_messages // CONNECTIONS

    private = None if args.redis_url else RedisProcess.start_new()
    redis_url = args.redis_url or private.url
    redis_pid = private.proc.pid if private else None
    client = redis.Redis.from_url(redis_url)
    env = {"REDIS_URL": redis_url, "LOG_LEVEL": "INFO", "WECHAT_AES_KEY": AES_KEY,
           "DATA_DIR": tempfile.mkdtemp(prefix="szca-bench-data-")}
    questions = faq_questions()
    figures: list[Figures] = []
    memory: dict[str, float] = {}

    def record(f: Figures) -> None:
        figures.append(f)
        print(f.line(), flush=True)
        for sample in f.error_samples:
            print("    e.g.", sample, flush=True)

    print(f"{os.cpu_count()} cores; {CONNECTIONS} connections, closed loop; gunicorn gthread {THREADS} threads; "
          f"Redis {redis_url}", flush=True)
    try:
        def run_echo(workers: int, modes: tuple[bool, ...]) -> None:
            echo = Gunicorn("bench.echo_app:create_echo_app()", workers, env)
            try:
                for aes in modes:
                    record(measure(echo, None, name="echo", workers=workers, scenario="echo", aes=aes,
                                   plan=faq_plan(questions, per_connection)))
            finally:
                echo.stop()

        # The ceiling is measured before and after the assistant (the better run counts): shared cores drift.
        run_echo(1, (False, True))
        for workers in worker_counts:
            app = Gunicorn("bot.app:create_app()", workers, env)
            try:
                script = dialogue_script(app.url, redis_url)
                for aes in (False, True) if workers == worker_counts[0] else (False,):
                    record(measure(app, redis_pid, name="assistant", workers=workers, scenario="faq", aes=aes,
                                   plan=faq_plan(questions, per_connection)))
                    before = client.info("memory")["used_memory"]
                    dialogue_users: list[str] = []
                    base_plan = dialogue_plan(script, USERS_PER_CONNECTION)

                    def tracked(conn: int) -> list[tuple[str, str]]:
                        steps = base_plan(conn)
                        dialogue_users.extend(dict.fromkeys(o for o, _ in steps))
                        return steps

                    record(measure(app, redis_pid, name="assistant", workers=workers, scenario="dialogue", aes=aes,
                                   plan=tracked))
                    if not memory:
                        memory = conversation_memory(client, dialogue_users)
                        memory["used_memory_delta_per_conversation"] = round(
                            (client.info("memory")["used_memory"] - before) / len(dialogue_users))
                        memory["conversations"] = len(dialogue_users)
                    record(measure(app, redis_pid, name="assistant", workers=workers, scenario="mix", aes=aes,
                                   plan=mix_plan(script, questions, USERS_PER_CONNECTION)))
            finally:
                app.stop()
            run_echo(workers, (False, True) if workers == worker_counts[0] else (False,))
    finally:
        if private:
            private.stop()

    print_summary(figures, memory)
    if args.json:
        Path(args.json).write_text(json.dumps({"figures": [asdict(f) for f in figures], "memory": memory},
                                              ensure_ascii=False, indent=2))
    return 1 if any(f.errors or f.bad_outcomes for f in figures) else 0


def print_summary(figures: list[Figures], memory: dict[str, float]) -> None:
    ceiling: dict[tuple[int, str], Figures] = {}
    for f in figures:
        if f.server == "echo" and ((f.workers, f.mode) not in ceiling or f.per_s > ceiling[f.workers, f.mode].per_s):
            ceiling[f.workers, f.mode] = f
    print("\nratio to the echo app (same workers, same mode; the better of its runs):")
    for f in figures:
        top = ceiling.get((f.workers, f.mode))
        if f.server == "assistant" and top:
            print(f"  {f.workers}w {f.scenario:9} {f.mode:5} {f.per_s / top.per_s:6.1%}  "
                  f"(cpu per message {f.server_cpu_ms_per_msg:.2f} ms vs {top.server_cpu_ms_per_msg:.2f} ms)")
    curve = [f for f in figures if f.mode == "plain"]
    if len({f.workers for f in curve}) > 1:
        print("\nscale-out (plain mode, msgs/s by gunicorn workers):")
        for server, scenario in (("assistant", "faq"), ("assistant", "dialogue"), ("assistant", "mix"), ("echo", "echo")):
            points = {f.workers: f.per_s for f in curve if f.server == server and f.scenario == scenario}
            print(f"  {scenario:9} " + "  ".join(f"{w}w {p:6.0f}/s" for w, p in sorted(points.items())))
    if memory:
        print(f"\nRedis per active conversation ({memory['conversations']} at the summary): "
              f"{memory['conversation_bytes']} B draft + last-seen; per message {memory['per_message_marker_bytes']} B "
              f"for 10 min (nonce, seen) and {memory['per_message_reply_bytes']} B for 60 s (reply for retries); "
              f"{memory['steady_bytes_at_one_message_per_15s']} B in all for a user sending a message every 15 s; "
              f"used_memory delta right after the run {memory['used_memory_delta_per_conversation']} B per conversation")


if __name__ == "__main__":
    sys.exit(main())
