"""Everything that reaches Redis: connection, callback admission (nonce, retries), per-user turns (lock + state).

Keys carry the openid as a hash tag (`conv:{openid}`) so every key of one user lives in one Redis Cluster
slot, and a turn's writes can be one atomic script.  A plain text message costs two round trips: one
pipeline for admission (nonce + retry claim + rate count) with the user's lock and state, and the finish
script (save + unlock + cached reply + last seen).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import redis

from bot.config import Settings
from bot.records import ApplicationRecord

log = logging.getLogger(__name__)

_embedded_lock = threading.Lock()
_embedded_server: object | None = None


def connect(settings: Settings) -> redis.Redis:
    """One client per process; with no REDIS_URL an in-process fakeredis that forgets everything on exit."""
    if settings.redis_url:
        return redis.Redis.from_url(
            settings.redis_url,
            socket_timeout=settings.redis_timeout_s,
            socket_connect_timeout=settings.redis_timeout_s,
            health_check_interval=30,
        )
    import fakeredis

    global _embedded_server
    with _embedded_lock:
        if _embedded_server is None:
            _embedded_server = fakeredis.FakeServer()
            log.warning("REDIS_URL is not set: using an embedded in-process Redis; nothing survives a restart")
    return fakeredis.FakeRedis(server=_embedded_server)


def conv_key(openid: str) -> str:
    return f"conv:{{{openid}}}"


def lock_key(openid: str) -> str:
    return f"lock:{{{openid}}}"


def seen_key(openid: str, message_id: str) -> str:
    return f"seen:{{{openid}}}:{message_id}"


def reply_key(openid: str, message_id: str) -> str:
    """The reply to a message, kept for WeChat's retries (apart from the small seen marker: see Settings)."""
    return f"reply:{{{openid}}}:{message_id}"


def last_seen_key(openid: str) -> str:
    return f"lastseen:{{{openid}}}"


def record_key(openid: str, number: str) -> str:
    return f"app:{{{openid}}}:{number}"


def records_key(openid: str) -> str:
    return f"apps:{{{openid}}}"


# One index of every record, for staff and for the retention purge (a single key: fine on Cluster).
RECORD_INDEX = "appindex"


def number_key(number: str) -> str:
    """Back office looks records up by number alone: this maps the number to its owner."""
    return f"appnum:{{{number}}}"


def rate_key(openid: str, window: int) -> str:
    return f"rate:{{{openid}}}:{window}"


def nonce_key(nonce: str) -> str:
    return f"nonce:{{{nonce}}}"


class Busy(Exception):
    """The user's previous message is still being handled past the wait we can afford."""


@dataclass
class Admission:
    nonce_fresh: bool
    first_time: bool
    cached_reply: str | None = None
    flooding: bool = False
    # When the caller asked for it and the user's lock was free: the lock, taken in the same round trip,
    # and the state read under it.
    lock_token: str | None = None
    state: bytes | None = None


# Save (or delete) the state, cache the reply for retries and release the lock, but only while we still
# own the lock: a turn that overran its lock must not overwrite the newer turn's state. A record the turn
# created (KEYS[5], listed in KEYS[6]) is written with the state that consumed its draft, or not at all.
_FINISH = """
local owned = redis.call('GET', KEYS[1]) == ARGV[1]
if owned then
  if ARGV[2] == 'set' then redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[4])
  elseif ARGV[2] == 'del' then redis.call('DEL', KEYS[2]) end
  if ARGV[8] ~= '' then
    redis.call('SET', KEYS[5], ARGV[8])
    redis.call('ZADD', KEYS[6], ARGV[10], ARGV[9])
  end
  redis.call('DEL', KEYS[1])
end
if ARGV[5] ~= '' then redis.call('SET', KEYS[3], ARGV[5], 'EX', ARGV[11]) end
if ARGV[6] ~= '' then redis.call('SET', KEYS[4], ARGV[6], 'EX', ARGV[7]) end
if owned then return 1 else return 0 end
"""

# Drop a lock left by this process's own turns (see Store._orphans), only if nobody took it since.
_RELEASE = """
local held = redis.call('GET', KEYS[1])
for _, token in ipairs(ARGV) do
  if held == token then return redis.call('DEL', KEYS[1]) end
end
return 0
"""

_UNSET = object()


@dataclass
class Turn:
    """One message's unit of work on one user's keys: load under the lock, queue a save, finish once."""

    store: Store
    openid: str
    message_id: str
    lock_token: str | None = None
    touch: bool = True  # a user's message stamps last-seen (the 48 h customer-service window); jobs don't
    _loaded: bytes | None = None
    _pending: object = field(default=_UNSET)
    _record: ApplicationRecord | None = None  # created by this turn, written by finish() with the state

    def load(self) -> bytes | None:
        if self.lock_token is None:
            self.lock_token, self._loaded = self.store.lock_and_load(self.openid)
        return self._loaded

    def save(self, raw: bytes | str | None) -> None:
        """Queue the new state (None deletes it); written atomically with the unlock in finish()."""
        if self.lock_token is None:
            self.load()
        self._pending = raw

    def finish(self, reply: str | None) -> bool:
        return self.store.finish_turn(self, reply)

    def abandon(self) -> None:
        """The handler failed: release the lock, keep the state as it was, cache no reply."""
        self._pending = _UNSET
        self._record = None
        if self.lock_token is not None:
            try:
                self.store.finish_turn(self, None)
            except redis.RedisError:
                pass  # the lock expires by itself


class Store:
    def __init__(self, client: redis.Redis, settings: Settings) -> None:
        self.redis = client
        self.settings = settings
        # Locks of turns that could not finish because Redis went away (openid -> tokens). Left alone they would
        # shut their users out for the lock's TTL after Redis is back; the user's next turn drops them first.
        self._orphans: dict[str, set[str]] = {}
        # EVALSHA: the scripts' text is not resent with every turn (redis-py loads them again after a restart)
        self._finish_script = client.register_script(_FINISH)
        self._release = client.register_script(_RELEASE)

    # -- admission: the gateway's first round trip ------------------------------------------------------
    def admit(self, nonce: str, openid: str, message_id: str, *, lock: bool = False) -> Admission:
        """Claim the nonce and the message in one round trip (and, with lock=True, take the user's lock and
        read the state in the same one, so an ordinary message costs two round trips in all).

        WeChat's own retries resend the very same request, nonce included: a nonce seen again for the same
        message is a retry (answered from the cache), for any other message it is a replay (refused).
        """
        s = self.settings
        ident = f"{openid}:{message_id}".encode()
        token = secrets.token_hex(8) if lock else None
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(nonce_key(nonce), ident, nx=True, ex=s.nonce_ttl_s)
        pipe.set(seen_key(openid, message_id), b"", nx=True, ex=s.dedup_ttl_s)
        if s.rate_limit_messages:
            window = rate_key(openid, int(time.time()) // s.rate_limit_window_s)
            pipe.incr(window)
            pipe.expire(window, s.rate_limit_window_s * 2)
        results = self._execute_with_lock(pipe, openid, token) if token else pipe.execute()
        nonce_ok, first = results[0], results[1]
        counted = results[2] if s.rate_limit_messages else None
        admission = self._admission(nonce, ident, openid, message_id, nonce_ok, first, counted)
        if token and results[-2]:
            if admission.first_time and not admission.flooding:
                admission.lock_token, admission.state = token, results[-1]
            else:
                self._unlock(openid, token)  # ours since a moment ago; this message goes no further
        return admission

    def _admission(self, nonce: str, ident: bytes, openid: str, message_id: str, nonce_ok: object, first: object,
                   counted: int | None) -> Admission:
        if not nonce_ok and self.redis.get(nonce_key(nonce)) != ident:
            if first:  # a replayed request must not burn the claim of a message WeChat has yet to send
                self.redis.delete(seen_key(openid, message_id))
            return Admission(nonce_fresh=False, first_time=False)
        if first:
            flooding = counted is not None and counted > self.settings.rate_limit_messages
            return Admission(nonce_fresh=True, first_time=True, flooding=flooding)
        cached = self.redis.get(reply_key(openid, message_id))
        return Admission(nonce_fresh=True, first_time=False, cached_reply=cached.decode() if cached else None)

    def turn(self, openid: str, message_id: str, admission: Admission | None = None) -> Turn:
        """A turn; one whose admission took the lock starts loaded (no round trip of its own)."""
        if admission is not None and admission.lock_token:
            return Turn(self, openid, message_id, lock_token=admission.lock_token, _loaded=admission.state)
        return Turn(self, openid, message_id)

    # -- the per-user lock and state --------------------------------------------------------------------
    def lock_and_load(self, openid: str, wait_s: float | None = None) -> tuple[str, bytes | None]:
        """Take the user's lock and read the state in one round trip; wait while another turn holds it."""
        token = secrets.token_hex(8)
        deadline = time.monotonic() + (wait_s if wait_s is not None else self.settings.reply_deadline_s - 0.5)
        delay = 0.005
        while True:
            *_, got, raw = self._execute_with_lock(self.redis.pipeline(transaction=False), openid, token)
            if got:
                return token, raw
            if time.monotonic() + delay > deadline:
                raise Busy(openid)
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def finish_turn(self, turn: Turn, reply: str | None) -> bool:
        if turn.lock_token is None:
            # A turn that never needed the state: only the retry cache and the last-seen stamp.
            pipe = self.redis.pipeline(transaction=False)
            if reply:
                pipe.set(reply_key(turn.openid, turn.message_id), reply, ex=self.settings.retry_reply_ttl_s)
            if turn.touch:
                pipe.set(last_seen_key(turn.openid), int(time.time()), ex=2 * 24 * 3600)
            pipe.execute()
            return True
        action, payload = "keep", b""
        if turn._pending is not _UNSET:
            action, payload = ("del", b"") if turn._pending is None else ("set", turn._pending)
        try:
            owned = self._finish(turn, action, payload, reply)
        except redis.RedisError:
            self._orphan(turn.openid, turn.lock_token)
            raise
        if not owned:
            log.warning("turn lost its lock before finishing; state not saved (user %s)", hash_openid(turn.openid))
        return bool(owned)

    def _execute_with_lock(self, pipe: redis.client.Pipeline, openid: str, token: str) -> list:
        """Run the pipeline with the user's lock taken and the state read at its end (results [-2] and [-1]),
        dropping first any lock this process's own failed turns left behind."""
        orphans = self._orphans.pop(openid, set())
        if orphans:
            self._release(keys=[lock_key(openid)], args=list(orphans), client=pipe)
        pipe.set(lock_key(openid), token, nx=True, px=self.settings.lock_ttl_ms)
        pipe.get(conv_key(openid))
        try:
            return pipe.execute()
        except redis.RedisError:
            # Sent but unanswered: the lock may have been taken, and the orphans may still be there.
            self._orphan(openid, token, *orphans)
            raise

    def _unlock(self, openid: str, token: str) -> None:
        try:
            self._release(keys=[lock_key(openid)], args=[token])
        except redis.RedisError:
            self._orphan(openid, token)
            raise

    def _orphan(self, openid: str, *tokens: str) -> None:
        self._orphans.setdefault(openid, set()).update(tokens)

    def _finish(self, turn: Turn, action: str, payload: bytes | str, reply: str | None) -> int:
        s = self.settings
        record = turn._record
        return self._finish_script(
            keys=[lock_key(turn.openid), conv_key(turn.openid), reply_key(turn.openid, turn.message_id),
                  last_seen_key(turn.openid), record_key(turn.openid, record.number if record else ""),
                  records_key(turn.openid)],
            args=[turn.lock_token, action, payload, s.conversation_ttl_s, reply or "",
                  int(time.time()) if turn.touch else "", 2 * 24 * 3600,
                  record.model_dump_json() if record else "", record.number if record else "",
                  record.created_at.timestamp() if record else 0, s.retry_reply_ttl_s],
        )

    # -- state outside a message turn (events, jobs) -----------------------------------------------------
    @contextmanager
    def conversation(self, openid: str) -> Iterator[Turn]:
        """A job's turn on a user's conversation: the same lock as messages, no retry cache, no last-seen."""
        turn = Turn(self, openid, message_id="job", touch=False)
        turn.load()
        try:
            yield turn
        except BaseException:
            turn.abandon()
            raise
        turn.finish(None)

    def forget(self, openid: str) -> None:
        self.redis.delete(conv_key(openid))

    def last_seen(self, openid: str) -> int | None:
        raw = self.redis.get(last_seen_key(openid))
        return int(raw) if raw else None

    # -- application records ------------------------------------------------------------------------------
    def new_application_number(self, prefix: str, day: str) -> str:
        seq = self.redis.incr(f"appseq:{{{day}}}")
        self.redis.expire(f"appseq:{{{day}}}", 3 * 24 * 3600)
        return f"{prefix}{day}{seq:06d}"

    def save_record(self, record: ApplicationRecord, turn: Turn | None = None) -> None:
        """A new record; created in a message turn, it is written by the turn's finish together with the state
        (the draft it came from), so an outage in between cannot leave the record without its draft consumed.

        The indexes in other slots come first: an index entry without its record is skipped by every reader,
        while a record missing from the indexes could neither be found by number nor be purged."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.set(number_key(record.number), record.openid)
        pipe.zadd(RECORD_INDEX, {record.number: record.created_at.timestamp()})
        pipe.execute()
        if turn is not None and turn.openid == record.openid:
            turn.load()
            turn._record = record
            return
        pipe = self.redis.pipeline(transaction=True)
        pipe.set(record_key(record.openid, record.number), record.model_dump_json())
        pipe.zadd(records_key(record.openid), {record.number: record.created_at.timestamp()})
        pipe.execute()

    def update_record(self, number: str, change: Callable[[ApplicationRecord], None]) -> ApplicationRecord:
        """Read-modify-write under WATCH: jobs, handlers and staff may change one record at the same time."""
        owner = self.redis.get(number_key(number))
        if not owner:
            raise KeyError(number)
        key = record_key(owner.decode(), number)
        while True:
            with self.redis.pipeline(transaction=True) as pipe:
                try:
                    pipe.watch(key)
                    raw = pipe.get(key)
                    if raw is None:
                        raise KeyError(number)
                    record = ApplicationRecord.model_validate_json(raw)
                    change(record)
                    pipe.multi()
                    pipe.set(key, record.model_dump_json())
                    pipe.execute()
                    return record
                except redis.WatchError:
                    continue

    def record_numbers(self, until: float | None = None) -> list[str]:
        hi = "+inf" if until is None else until
        return [n.decode() for n in self.redis.zrangebyscore(RECORD_INDEX, "-inf", hi)]

    def delete_record(self, record: ApplicationRecord) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(record_key(record.openid, record.number))
        pipe.zrem(records_key(record.openid), record.number)
        pipe.execute()
        self.redis.zrem(RECORD_INDEX, record.number)
        self.redis.delete(number_key(record.number))

    def records(self, openid: str, limit: int = 10) -> list[ApplicationRecord]:
        numbers = [n.decode() for n in self.redis.zrevrange(records_key(openid), 0, limit - 1)]
        if not numbers:
            return []
        raws = self.redis.mget([record_key(openid, n) for n in numbers])
        return [ApplicationRecord.model_validate_json(r) for r in raws if r]

    def record(self, number: str) -> ApplicationRecord | None:
        owner = self.redis.get(number_key(number))
        if not owner:
            return None
        raw = self.redis.get(record_key(owner.decode(), number))
        return ApplicationRecord.model_validate_json(raw) if raw else None

    def ping(self) -> bool:
        try:
            return bool(self.redis.ping())
        except redis.RedisError:
            return False


def hash_openid(openid: str) -> str:
    """Logs name users by a short keyed-free digest: enough to follow one user, not to identify them."""
    import hashlib

    return hashlib.sha256(openid.encode()).hexdigest()[:12]
