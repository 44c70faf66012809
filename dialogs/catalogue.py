"""The platform catalogue (catalogue.toml) and the bank list (banks.toml) as typed, read-only data."""

from __future__ import annotations

import tomllib
from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

_HERE = Path(__file__).parent


class Seal(BaseModel):
    model_config = ConfigDict(frozen=True)
    offered: bool = False
    default: bool = False


class Platform(BaseModel):
    """One 项目 with everything that differs between platforms (defaults already merged in)."""

    model_config = ConfigDict(frozen=True)
    id: str
    name: str
    aliases: tuple[str, ...] = ()
    cert_types: tuple[str, ...]
    years: tuple[int, ...]
    prices: dict[str, dict[int, int]]  # cert type -> years -> fen
    seal: Seal = Seal()
    seal_price_per_year: int = 0
    holders_with_own_years: bool = False
    payment_methods: tuple[str, ...]
    post_payment: str
    documents: dict[str, tuple[str, ...]]
    seal_documents: tuple[str, ...] = ()


class Bank(BaseModel):
    model_config = ConfigDict(frozen=True)
    name: str
    aliases: tuple[str, ...] = ()


class Catalogue(BaseModel):
    model_config = ConfigDict(frozen=True)
    cert_types: dict[str, str]
    platforms: dict[str, Platform]
    payment_method_names: dict[str, str]
    post_payment_names: dict[str, str]
    document_names: dict[str, str]
    document_short_names: dict[str, str] = Field(default_factory=dict)
    banks: tuple[Bank, ...] = Field(default=())

    def platform(self, platform_id: str) -> Platform:
        return self.platforms[platform_id]

    def cert_type_name(self, cert_type: str) -> str:
        return self.cert_types[cert_type]

    def price(self, platform_id: str, cert_type: str, years: int, *, seal: bool = False) -> int:
        """Price in fen of one certificate of this type for this many years (plus the seal if taken)."""
        p = self.platforms[platform_id]
        if cert_type not in p.cert_types:
            raise KeyError(f"{platform_id} does not offer {cert_type}")
        fen = p.prices[cert_type][years]
        if seal and p.seal.offered:
            fen += p.seal_price_per_year * years
        return fen

    def documents(self, platform_id: str, cert_type: str, *, seal: bool = False) -> tuple[str, ...]:
        p = self.platforms[platform_id]
        docs = p.documents[cert_type]
        return docs + p.seal_documents if seal else docs


def _merge(defaults: dict, own: dict) -> dict:
    """Platform values win over the defaults, one level into tables (prices.org overrides only org)."""
    out = dict(defaults)
    for key, value in own.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = {**out[key], **value}
        else:
            out[key] = value
    return out


def _int_keys(prices: dict[str, dict[str, int]]) -> dict[str, dict[int, int]]:
    # TOML table keys are strings; years are ints everywhere else.
    return {ct: {int(y): fen for y, fen in table.items()} for ct, table in prices.items()}


@cache
def load(path: Path | None = None, banks_path: Path | None = None) -> Catalogue:
    """Read and check the catalogue once per process; a broken file fails loudly at first use."""
    raw = tomllib.loads((path or _HERE / "catalogue.toml").read_text(encoding="utf-8"))
    banks_raw = tomllib.loads((banks_path or _HERE / "banks.toml").read_text(encoding="utf-8"))
    defaults = raw["defaults"]
    platforms = {}
    for pid, own in raw["platforms"].items():
        merged = _merge(defaults, own)
        merged["prices"] = _int_keys(merged["prices"])
        merged["documents"] = {k: tuple(v) for k, v in merged["documents"].items()}
        platform = Platform(id=pid, **merged)
        for ct in platform.cert_types:
            if ct not in raw["cert_types"] or set(platform.years) - set(platform.prices.get(ct, {})):
                raise ValueError(f"catalogue: {pid} lacks a price or name for {ct}")
        platforms[pid] = platform
    return Catalogue(
        cert_types=raw["cert_types"],
        platforms=platforms,
        payment_method_names=raw["payment_method_names"],
        post_payment_names=raw["post_payment_names"],
        document_names=raw["document_names"],
        document_short_names=raw.get("document_short_names", {}),
        banks=tuple(Bank(**b) for b in banks_raw["banks"]),
    )
