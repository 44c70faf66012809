"""Status notices to the applicant: template message, else customer-service message, else SMS, as a retried job."""

from __future__ import annotations

import hashlib
import json
import logging
import string
import time
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

import redis
import requests
from wechatpy.exceptions import WeChatClientException

from bot import jobs
from bot import services as services_mod
from bot.providers.sms import Sms, SmsError, SmsUnavailable, make_sms
from bot.records import ApplicationRecord
from bot.store import hash_openid
from dialogs.masking import mask_mobile

log = logging.getLogger(__name__)

KINDS_PATH = Path(__file__).with_name("notifications.toml")
CHANNELS = ("template", "custom", "sms")
# WeChat's customer-service window: a message only reaches a user who wrote within the last 48 hours.
SERVICE_WINDOW_S = 48 * 3600
# Kept longer than any retry schedule, so a late re-run of the job still finds what was sent.
MARK_TTL_S = 30 * 24 * 3600
# Besides the push errors: invalid template id (40037), template format invalid (47003), user refused (43101).
PERMANENT_ERRORS = jobs.PERMANENT_ERRORS | {40037, 43101, 47003}
# WeChat's current template fields and their length limits; longer values are refused with 47003.
FIELD_LIMITS = {"thing": 20, "character_string": 32, "phrase": 5, "car_number": 8, "phone_number": 17}
SENDING, SENT = jobs.SENDING, jobs.SENT

DRAFTS = "drafts"  # sorted set: openid -> last time the user touched the unfinished form
REMINDED = "drafts:reminded"  # sorted set: openid -> the touch time already reminded about
DRAFT_STALE_S = 24 * 3600


@dataclass(frozen=True)
class Kind:
    name: str
    sms_template: str
    sms_text: str
    text: str
    template: dict[str, str]
    url: str = ""


@cache
def kinds() -> dict[str, Kind]:
    raw = tomllib.loads(KINDS_PATH.read_text(encoding="utf-8"))
    return {name: Kind(name=name, **spec) for name, spec in raw.items()}


class _Blank(dict[str, str]):
    """A placeholder the caller did not give renders empty rather than failing the whole notice."""

    def __missing__(self, key: str) -> str:
        return ""


def render(text: str, params: Mapping[str, Any]) -> str:
    return text.format_map(_Blank({k: str(v) for k, v in params.items()}))


def render_sms(template_code: str, params: Mapping[str, Any], sign_name: str = "深圳CA") -> str:
    """The SMS as the phone shows it (the local outbox and the docs): signature, then the template's text."""
    for kind in kinds().values():
        if kind.sms_template == template_code:
            return f"【{sign_name}】{render(kind.sms_text, params)}"
    return ""


def template_data(kind: Kind, params: Mapping[str, Any]) -> dict[str, dict[str, str]]:
    """WeChat's current template data: {"thing2": {"value": …}}, each value cut to its field type's limit."""
    data = {}
    for field, text in kind.template.items():
        limit = FIELD_LIMITS.get(field.rstrip("0123456789"))
        value = render(text, params)
        data[field] = {"value": value[: limit - 1] + "…" if limit and len(value) > limit else value}
    return data


# --- enqueueing ---------------------------------------------------------------------------------------------

def notification_key(kind: str, number: str | None, params: Mapping[str, Any]) -> str:
    """The same event notified twice (a staff double click, a re-delivered callback) is one notification."""
    digest = hashlib.sha256(json.dumps(params, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:12]
    return f"{kind}:{number or '-'}:{digest}"


def notify(svc: services_mod.Services, number_or_openid: str, kind: str, params: Mapping[str, Any] | None = None,
           key: str | None = None) -> str:
    """Queue the notice of `kind` for an application number (or a user, for the draft reminder); returns its key."""
    if kind not in kinds():
        raise KeyError(f"unknown notification kind {kind!r}")
    params = dict(params or {})
    record = svc.store.record(number_or_openid)
    openid, number = (record.openid, record.number) if record else (number_or_openid, None)
    key = key or notification_key(kind, number, params)
    jobs.enqueue(svc.queue, deliver, kind, openid, number, params, key)
    return key


# --- delivery -----------------------------------------------------------------------------------------------

class Skipped(Exception):
    """This channel does not apply to this user or notice (no template id, out of the window, no mobile)."""


def mark_key(openid: str, key: str, channel: str) -> str:
    return f"notified:{{{openid}}}:{key}:{channel}"


def sms_for(svc: services_mod.Services) -> Sms:
    # Built per job, not cached: cheap next to the send, and never a provider of other settings.
    sign = svc.settings.aliyun_sms_sign_name or "深圳CA"
    return make_sms(svc.settings, svc.redis, lambda code, params: render_sms(code, params, sign))


def _final_attempt() -> bool:
    """On the job's last try a transient failure is recorded and the next channel tried, not raised."""
    from rq import get_current_job

    job = get_current_job()
    return job is None or not job.retries_left


def deliver(kind: str, openid: str, number: str | None, params: dict[str, Any], key: str) -> str:
    """The job: returns the channel that carried the notice, or "failed"."""
    return deliver_with(services_mod.current(), kind, openid, number, params, key, final=_final_attempt())


def deliver_with(svc: services_mod.Services, kind: str, openid: str, number: str | None, params: dict[str, Any],
                 key: str, final: bool = True, now: datetime | None = None) -> str:
    spec = kinds()[kind]
    record = svc.store.record(number) if number else None
    now = now or datetime.now()
    values = {**_record_params(record), "at": now.strftime("%Y-%m-%d %H:%M"), **params}
    senders = {"template": lambda: _send_template(svc, spec, openid, values),
               "custom": lambda: _send_custom(svc, spec, openid, values),
               "sms": lambda: _send_sms(svc, spec, record, values)}
    errors: dict[str, str] = {}
    used = "failed"
    for channel in CHANNELS:
        error = _attempt(svc.redis, mark_key(openid, key, channel), senders[channel], final)
        if error is None:
            used = channel
            break
        errors[channel] = error
    if used == "failed":
        log.warning("notice %s to %s reached no channel: %s", kind, hash_openid(openid), errors)
    else:
        log.info("notice %s to %s sent by %s", kind, hash_openid(openid), used)
    if number:
        _record_outcome(svc, number, {"kind": kind, "key": key, "channel": used, "at": now.isoformat(),
                                      "errors": errors})
    return used


def _attempt(client: redis.Redis, mark: str, send: Any, final: bool) -> str | None:
    """One channel, at least once and normally once (see `jobs.claim`): None when sent (now or by an earlier
    run), else why it was not.  The mark is dropped only on a failure worth retrying, and keeps a permanent
    failure so a re-run falls through at once."""
    state = jobs.claim(client, mark)
    if state is not None:
        return None if state in (SENDING, SENT) else state
    try:
        send()
    except Skipped as skipped:
        jobs.release(client, mark)  # a template id configured or a message from the user later makes it apply
        return f"skipped: {skipped}"
    except WeChatClientException as exc:
        if exc.errcode in PERMANENT_ERRORS or final:
            return _keep_failure(client, mark, f"wechat {exc.errcode}")
        jobs.release(client, mark)
        raise
    except (requests.RequestException, SmsUnavailable) as exc:
        if final:
            return _keep_failure(client, mark, f"unavailable: {type(exc).__name__}")
        jobs.release(client, mark)
        raise
    except SmsError as exc:
        return _keep_failure(client, mark, f"sms {exc.code or type(exc).__name__}")
    jobs.settle(client, mark, SENT, MARK_TTL_S)
    return None


def _keep_failure(client: redis.Redis, mark: str, error: str) -> str:
    jobs.settle(client, mark, error, MARK_TTL_S)
    return error


def _record_params(record: ApplicationRecord | None) -> dict[str, str]:
    if record is None:
        return {}
    return {"number": record.number, "project": str(record.data.get("platform_name") or record.platform),
            "cert_type": record.cert_type, "status": record.status_text}


def _send_template(svc: services_mod.Services, spec: Kind, openid: str, values: Mapping[str, Any]) -> None:
    template_id = svc.settings.template_ids.get(spec.name)
    if not template_id:
        raise Skipped("no template id")
    url = render(spec.url, values) or None
    svc.wechat.message.send_template(openid, template_id, template_data(spec, values), url=url)


def _send_custom(svc: services_mod.Services, spec: Kind, openid: str, values: Mapping[str, Any]) -> None:
    seen = svc.store.last_seen(openid)
    if seen is None or time.time() - seen > SERVICE_WINDOW_S:
        raise Skipped("outside the 48 h window")
    svc.wechat.message.send_text(openid, render(spec.text, values))


def recipient_mobile(record: ApplicationRecord | None) -> str | None:
    """The hall texts the 经办人 (机构 certificates) or the applicant (自然人)."""
    if record is None:
        return None
    for holder in ("handler", "natural_person"):
        person = record.data.get(holder)
        if isinstance(person, Mapping) and person.get("mobile"):
            return str(person["mobile"])
    applicants = record.data.get("applicants") or []
    return str(applicants[0]["mobile"]) if applicants and applicants[0].get("mobile") else None


def _send_sms(svc: services_mod.Services, spec: Kind, record: ApplicationRecord | None,
              values: Mapping[str, Any]) -> None:
    mobile = recipient_mobile(record)
    if not mobile:
        raise Skipped("no mobile")
    params = {name: str(values.get(name, "")) for name in _placeholders(spec.sms_text)}
    biz_id = sms_for(svc).send(mobile, spec.sms_template, params)
    log.info("notice %s by SMS to %s (BizId %s)", spec.name, mask_mobile(mobile), biz_id)


def _placeholders(text: str) -> list[str]:
    return [name for _, name, _, _ in string.Formatter().parse(text) if name]


def _record_outcome(svc: services_mod.Services, number: str, outcome: dict[str, Any]) -> None:
    def change(r: ApplicationRecord) -> None:
        kept = [n for n in r.data.get("notifications") or [] if n.get("key") != outcome["key"]]
        r.data["notifications"] = [*kept, outcome]

    try:
        svc.store.update_record(number, change)
    except KeyError:
        log.warning("notice outcome not recorded: application %s is gone", number)


# --- unfinished drafts --------------------------------------------------------------------------------------

def touch_draft(client: redis.Redis, openid: str, now: datetime) -> None:
    """The user worked on the form: the 24 h until a reminder start again."""
    client.zadd(DRAFTS, {openid: now.timestamp()})


def drop_draft(client: redis.Redis, openid: str) -> None:
    """The form was submitted or cancelled: nothing to remind about."""
    pipe = client.pipeline(transaction=False)
    pipe.zrem(DRAFTS, openid)
    pipe.zrem(REMINDED, openid)
    pipe.execute()


def remind_stale_drafts(svc: services_mod.Services, now: datetime) -> list[str]:
    """Queue one reminder per draft untouched for 24 h (once per touch: a draft touched again and left again
    is reminded again); returns the openids reminded."""
    client = svc.redis
    stale = client.zrangebyscore(DRAFTS, "-inf", now.timestamp() - DRAFT_STALE_S, withscores=True)
    reminded = []
    for raw, touched in stale:
        openid = raw.decode()
        # Claim the reminder for this touch time before queueing: two `remind` runs remind once.
        if not client.zadd(REMINDED, {openid: touched}, gt=True, ch=True):
            continue
        notify(svc, openid, "draft_reminder", {}, key=f"draft_reminder:{int(touched)}")
        reminded.append(openid)
    return reminded


__all__ = ["Kind", "kinds", "notify", "deliver", "deliver_with", "render", "render_sms", "template_data",
           "touch_draft", "drop_draft", "remind_stale_drafts", "recipient_mobile", "mark_key", "CHANNELS"]
