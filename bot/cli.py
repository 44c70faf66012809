"""`szca-bot` commands: serve, worker, chat, menu, faq-eval."""

from __future__ import annotations

import argparse
import logging
import sys
import threading
import time
from typing import Sequence


def serve(args: argparse.Namespace) -> int:
    from werkzeug.serving import make_server

    from bot.app import create_app
    from bot.config import load_settings

    overrides = {k: v for k, v in {"host": args.host, "port": args.port}.items() if v is not None}
    settings = load_settings(**overrides)
    app = create_app(settings)
    server = make_server(settings.host, settings.port, app, threaded=True)
    print(f"SZCA assistant listening on http://{settings.host}:{server.port}/wechat", flush=True)
    if settings.sandbox:
        print(f"Simulator: {settings.base_url}/simulator   (terminal: szca-bot chat --url {settings.base_url})", flush=True)
    if settings.embedded_redis:
        print("Embedded Redis: nothing survives a restart. Set REDIS_URL to keep state.", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


def worker(args: argparse.Namespace) -> int:
    from bot import services
    from bot.jobs import BotWorker
    from bot.config import load_settings

    settings = load_settings()
    if settings.embedded_redis:
        print("szca-bot worker needs REDIS_URL; with the embedded Redis, jobs run inside `szca-bot serve`.", file=sys.stderr)
        return 2
    svc = services.install(services.build(settings))
    from bot import logs

    logs.setup(settings.log_level)
    BotWorker([svc.queue], connection=svc.redis).work(with_scheduler=True, burst=args.burst,
                                                    logging_level=settings.log_level)
    return 0


def chat(args: argparse.Namespace) -> int:
    from bot.simclient import WeChatUser

    base_url = args.url
    if base_url is None:
        base_url = _start_embedded_server()
    user = WeChatUser(base_url, openid=args.openid) if args.openid else WeChatUser(base_url)
    print(f"与 SZCA 助手对话（{base_url}）。输入文字发送；/click KEY 点击菜单（NEW_APPLICATION, MY_APPLICATIONS, FAQ, "
          "HUMAN_AGENT）；/subscribe 关注；/image 文件 发送图片；/quit 退出。", flush=True)
    last_pushed = 0
    _show(user.event("subscribe"))
    for line in _lines():
        line = line.strip()
        if not line:
            continue
        if line in ("/quit", "/exit"):
            break
        if line.startswith("/click "):
            reply = user.click(line.split(maxsplit=1)[1])
        elif line == "/subscribe":
            reply = user.event("subscribe")
        elif line.startswith("/image "):
            reply = user.image(_upload(user, line.split(maxsplit=1)[1]))
        else:
            reply = user.text(line)
        _show(reply)
        time.sleep(0.3)  # let pushed follow-ups arrive
        for item in user.pushed(after=last_pushed):
            last_pushed = item["id"]
            body = item.get("text", {}).get("content") if item.get("msgtype") == "text" else f"[{item.get('msgtype')}]"
            print(f"助手（推送）：{body}")
    return 0


def _show(reply) -> None:
    if reply.status != 200:
        print(f"[HTTP {reply.status}] {reply.body}")
    elif reply.text:
        print(f"助手：{reply.text}")
    elif reply.msg_type:
        print(f"助手：[{reply.msg_type}]")


def _lines():  # pragma: no cover - interactive
    while True:
        try:
            yield input("我：")
        except EOFError:
            return


def _upload(user, path: str) -> str:
    with open(path, "rb") as fh:
        token = user.http.get(f"{user.base_url}/emulator/cgi-bin/token",
                              params={"appid": user.app_id, "secret": "dev-secret", "grant_type": "client_credential"}).json()
        resp = user.http.post(f"{user.base_url}/emulator/cgi-bin/media/upload",
                              params={"access_token": token["access_token"], "type": "image"}, files={"media": fh})
    return resp.json()["media_id"]


def _start_embedded_server() -> str:
    from werkzeug.serving import make_server

    from bot.app import create_app
    from bot.config import load_settings

    probe = make_server("127.0.0.1", 0, lambda e, s: [])
    port = probe.port
    probe.server_close()
    settings = load_settings(port=port, log_level="WARNING")
    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # keep the terminal for the conversation
    server = make_server("127.0.0.1", port, create_app(settings), threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return settings.base_url


def menu(args: argparse.Namespace) -> int:
    from bot import menu as menu_data
    from bot import services
    from bot.config import load_settings

    svc = services.build(load_settings())
    result = svc.wechat.menu.create(menu_data.load())
    print(f"menu created: {result}")
    return 0


def _services():  # noqa: ANN202 - bot.services.Services
    """Settings from the environment, masked logging, and the services a one-off command works with."""
    from bot import logs, services
    from bot.config import load_settings

    settings = load_settings()
    logs.setup(settings.log_level)
    return services.install(services.build(settings))


def purge(args: argparse.Namespace) -> int:
    """Delete applications (records and files) whose retention period has ended; run daily from cron."""
    from datetime import datetime

    from bot import documents

    svc = _services()
    count = documents.purge_expired(svc.store, svc.files, datetime.now())
    print(f"purged {count} application(s) past their retention period")
    return 0


def review_cmd(args: argparse.Namespace) -> int:
    """Staff actions from a shell: the same functions (and audit, and notifications) as the JSON API."""
    import getpass
    import json

    from bot import review, steps

    svc = _services()
    staff = f"cli:{getpass.getuser()}"
    if args.action == "list":
        for number in reversed(svc.store.record_numbers()):
            record = svc.store.record(number)
            if record and (not args.status or record.status == args.status):
                row = review.summary(record)
                print(f"{row['number']}  {row['status_text']:<8}  {row['platform']}  {row['cert_type']}  {row['unit']}")
        return 0
    if args.number is None:
        print("an application number is required", file=sys.stderr)
        return 2
    if args.action == "show":
        record = svc.store.record(args.number)
        if record is None:
            print(f"no application {args.number}", file=sys.stderr)
            return 1
        print(json.dumps({**review.summary(record), "history": [h.model_dump(mode="json") for h in record.history]},
                         ensure_ascii=False, indent=2))
        return 0
    body = {k: v for k, v in {"reason": args.reason, "note": args.note, "carrier": args.carrier,
                               "tracking": args.tracking, "code": args.code, "url": args.url}.items() if v is not None}
    if args.passed is not None:
        body["passed"] = args.passed == "yes"
    if args.fix_documents:
        body["fix_documents"] = args.fix_documents.split(",")
    try:
        outcome = review.ACTIONS[args.action](svc, args.number, staff, body)
    except review.ReviewError as exc:
        review.audit(svc, staff, args.action, args.number, str(exc.status), "cli")
        print(f"refused ({exc.status}): {exc.message}", file=sys.stderr)
        return 1
    if outcome.notification:
        steps.tell(svc, outcome.record, outcome.notification)
    review.audit(svc, staff, args.action, args.number, "200", "cli")
    print(f"{outcome.record.number}: {outcome.record.status_text}")
    return 0


def remind(args: argparse.Namespace) -> int:
    """Remind, once, users whose application draft has been left for 24 h; run it hourly from cron."""
    from datetime import datetime

    from bot import notify

    svc = _services()
    print(f"reminded {len(notify.remind_stale_drafts(svc, datetime.now()))} user(s) of an unfinished draft")
    return 0


def faq_eval(args: argparse.Namespace) -> int:
    from faq.evaluate import main as evaluate

    return evaluate(args.rest)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="szca-bot", description="The SZCA6688 WeChat assistant")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("serve", help="run the service (embedded Redis, emulator and simulator unless configured)")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.set_defaults(func=serve)
    p = sub.add_parser("worker", help="run the RQ job worker (needs REDIS_URL)")
    p.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    p.set_defaults(func=worker)
    p = sub.add_parser("chat", help="chat with the assistant in the terminal")
    p.add_argument("--url", help="a running service; default: start an embedded one")
    p.add_argument("--openid")
    p.set_defaults(func=chat)
    p = sub.add_parser("menu", help="create the custom menu through the WeChat API")
    p.set_defaults(func=menu)
    p = sub.add_parser("review", help="staff actions: list, show, approve, reject, confirm-transfer, financial-auth, ship, refund, code")
    p.add_argument("action", choices=["list", "show", "approve", "reject", "confirm-transfer", "financial-auth", "ship",
                                      "refund", "code", "invoice"])
    p.add_argument("number", nargs="?")
    p.add_argument("--status", help="with list: only this status")
    p.add_argument("--reason")
    p.add_argument("--note")
    p.add_argument("--fix-documents", help="with reject: documents to send again, comma separated ids")
    p.add_argument("--carrier")
    p.add_argument("--tracking")
    p.add_argument("--code")
    p.add_argument("--url", help="with invoice: the e-invoice link")
    p.add_argument("--passed", choices=["yes", "no"], help="with financial-auth")
    p.set_defaults(func=review_cmd)
    p = sub.add_parser("remind", help="remind users of drafts left unfinished for 24 h (run hourly)")
    p.set_defaults(func=remind)
    p = sub.add_parser("purge", help="delete applications past their retention period (run daily)")
    p.set_defaults(func=purge)
    p = sub.add_parser("faq-eval", help="evaluate the FAQ matcher on the labelled set")
    p.add_argument("rest", nargs=argparse.REMAINDER)
    p.set_defaults(func=faq_eval)
    args = parser.parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
