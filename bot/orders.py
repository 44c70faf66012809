"""What an application costs, item by item, from the catalogue (type × years × holders + seal)."""

from __future__ import annotations

from dataclasses import dataclass

from dialogs import Application, catalogue


@dataclass(frozen=True)
class Item:
    label: str
    fen: int


def items(app: Application) -> list[Item]:
    c = catalogue.load()
    out: list[Item] = []
    if app.cert_type_id in ("org", "person") and app.years:
        base = c.price(app.platform, app.cert_type_id, app.years)
        out.append(Item(f"{app.cert_type} {app.years}年", base))
        if app.seal:
            with_seal = c.price(app.platform, app.cert_type_id, app.years, seal=True)
            if with_seal != base:
                out.append(Item(f"电子签章 {app.years}年", with_seal - base))
    for holder in app.applicants:
        out.append(Item(f"机构个人证书（{holder.name}）{holder.years}年", c.price(app.platform, "org_person", holder.years)))
    return out


def total(app: Application) -> int:
    fen = sum(i.fen for i in items(app))
    # The catalogue may have changed since the user confirmed: the confirmed total is what was agreed.
    return app.total_fen if fen != app.total_fen else fen


def yuan(fen: int) -> str:
    return f"¥{fen / 100:,.2f}"


def describe(app: Application, number: str) -> str:
    lines = [f"订单 {number}（{app.platform_name}）"]
    lines += [f"• {i.label}：{yuan(i.fen)}" for i in items(app)]
    lines.append(f"合计：{yuan(total(app))}")
    return "\n".join(lines)
