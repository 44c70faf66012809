"""Recognise province, city and district at the start of a free Chinese address (regions.toml)."""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path


@dataclass(frozen=True)
class Region:
    province: str
    city: str
    district: str = ""


@dataclass(frozen=True)
class _Province:
    name: str
    short: str
    municipality: bool
    cities: tuple[str, ...]


@cache
def _provinces() -> tuple[_Province, ...]:
    raw = tomllib.loads((Path(__file__).parent / "regions.toml").read_text(encoding="utf-8"))
    return tuple(
        _Province(p["name"], p["short"], p.get("municipality", False), tuple(p["cities"])) for p in raw["provinces"]
    )


# A city that is not in the table, written after its province: "山西省孝义市…", "吉林省白山市…".
_CITY = re.compile(r"^(.{1,9}?(?:自治州|地区|盟|市))")
# Districts by suffix; 市 covers county-level cities (昆山市) once the prefecture is known.
_DISTRICT = re.compile(r"^(.{1,9}?(?:新区|区|县|旗|市))")


def _strip_city(name: str) -> str:
    return re.sub(r"(市|地区|盟)$", "", name)


def parse(address: str) -> tuple[Region | None, str]:
    """Split an address into (region, rest). The region is None when no province or city is recognised."""
    text = re.sub(r"\s+", "", address)
    province: _Province | None = None
    for p in _provinces():
        for prefix in (p.name, p.short + "省", p.short):
            if text.startswith(prefix):
                province, text = p, text[len(prefix):]
                break
        if province:
            break
    city = ""
    candidates = [province] if province else list(_provinces())
    for p in candidates:
        if p.municipality:
            if province is p:
                city = p.name
                # "北京市北京市朝阳区" or "上海市辖区" happen in copied forms.
                text = text.removeprefix(p.name).removeprefix("市辖区")
                break
            continue
        for c in p.cities:
            short = _strip_city(c)
            for prefix in (c, short):
                if len(prefix) >= 2 and text.startswith(prefix):
                    province, city, text = p, c, text[len(prefix):]
                    break
            if city:
                break
        if city:
            break
    if province and not city:
        m = _CITY.match(text)
        if m:
            city, text = m.group(1), text[m.end():]
    if not province or not city:
        return None, address.strip()
    district = ""
    m = _DISTRICT.match(text)
    if m and len(text) > m.end():
        district, text = m.group(1), text[m.end():]
    return Region(province.name, city, district), text
