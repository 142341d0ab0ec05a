"""Live state ⇄ JSON for Redis: account data, static market data, reservations, health.

Pure. Decimals travel as strings (exact), tuple keys as `|`-joined strings. `*_from_json`
raises ValueError/KeyError/TypeError on anything malformed; the Redis store then reloads.

Account data lives in Redis as a hash, one field per entry (`data_fields`), so the owner writes
and publishes only the entries a batch changed (`delta_fields`) and mirrors apply them
(`apply_fields`):

    s                      scalars {sv, ld, ol, st, xu, re, lm, dr, gu, dg}
    b:<asset>              balance row          p:<market>|<symbol>|<side>   [amount, entry]
    o:<order key>          open order row       f:<market>|<symbol>|<tradeId> pending fill row
    pt:<symbol> wt:<market:asset> mt:<asset> le:<asset> os:<order key> cs:<order key>
                           watermarks / stream times (integers)
    rm:<mark>              1 (a REST watermark mark: a set member)
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping
from decimal import Decimal
from typing import Any
from typing import cast

import orjson

from margin_gate.margin.legs import leg_from_json
from margin_gate.margin.legs import leg_to_json
from margin_gate.margin.model import Balance
from margin_gate.margin.model import Bracket
from margin_gate.margin.model import CollateralRate
from margin_gate.margin.model import CollateralTier
from margin_gate.margin.model import Commission
from margin_gate.margin.model import Instrument
from margin_gate.margin.model import Market
from margin_gate.margin.model import OpenOrder
from margin_gate.margin.model import Position
from margin_gate.margin.model import SymbolKey
from margin_gate.state.data import AccountData
from margin_gate.state.data import Changes
from margin_gate.state.data import Health
from margin_gate.state.data import Static
from margin_gate.state.reservations import split_nonce
from margin_gate.state.types import PendingFill
from margin_gate.state.types import Reservation
from margin_gate.state.types import ReservationState

__all__ = [
    "apply_fields",
    "data_fields",
    "data_from_fields",
    "data_from_json",
    "data_to_json",
    "delta_fields",
    "dumps",
    "health_from_json",
    "health_to_json",
    "reservation_from_json",
    "reservation_to_json",
    "static_from_json",
    "static_to_json",
]


def _default(value: object) -> object:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, frozenset | set):
        return sorted(value)
    raise TypeError(f"not JSON-able: {type(value).__name__}")


def dumps(value: object) -> bytes:
    return orjson.dumps(value, default=_default)


def _d(value: object) -> Decimal:
    return Decimal(cast(str, value))


def _od(value: object) -> Decimal | None:
    return None if value is None else Decimal(cast(str, value))


# -- static --


def _instrument_to(i: Instrument) -> list[Any]:
    return [
        i.symbol, i.market, i.base_asset, i.quote_asset, i.margin_asset, i.contract_size,
        i.tick_size, i.step_size, i.min_qty, i.percent_price_up, i.percent_price_down,
        i.market_take_bound,
    ]  # fmt: skip


def _instrument_from(v: list[Any]) -> Instrument:
    return Instrument(
        v[0], cast(Market, v[1]), v[2], v[3], v[4], _d(v[5]), _d(v[6]), _d(v[7]), _d(v[8]),
        _od(v[9]), _od(v[10]), _od(v[11]),
    )  # fmt: skip


def _rate_to(rate: CollateralRate) -> object:
    if isinstance(rate, Decimal):
        return rate
    return [[t.floor, t.cap, t.rate] for t in rate]


def _rate_from(v: object) -> CollateralRate:
    if isinstance(v, str):
        return Decimal(v)
    return tuple(CollateralTier(_d(t[0]), _od(t[1]), _d(t[2])) for t in cast(list[Any], v))


def static_to_json(s: Static) -> bytes:
    return dumps(
        {
            "i": [_instrument_to(i) for i in s.instruments.values()],
            "b": {
                k: [[b.floor, b.cap, b.maint_margin_ratio, b.cum] for b in v]
                for k, v in s.brackets.items()
            },
            "cr": {k: _rate_to(v) for k, v in s.collateral_rates.items()},
            "lr": s.loan_mm_rates,
            "fee": [[k[0], k[1], c.maker, c.taker] for k, c in s.commissions.items()],
            "hu": s.um_hedge_mode,
            "hc": s.cm_hedge_mode,
        }
    )


def static_from_json(raw: bytes | str) -> Static:
    o = orjson.loads(raw)
    instruments = {i.key: i for i in map(_instrument_from, o["i"])}
    commissions: dict[SymbolKey, Commission] = {
        (cast(Market, f[0]), f[1]): Commission(_d(f[2]), _d(f[3])) for f in o["fee"]
    }
    return Static(
        instruments=instruments,
        brackets={
            k: tuple(Bracket(_d(b[0]), _d(b[1]), _d(b[2]), _d(b[3])) for b in v)
            for k, v in o["b"].items()
        },
        collateral_rates={k: _rate_from(v) for k, v in o["cr"].items()},
        loan_mm_rates={k: _d(v) for k, v in o["lr"].items()},
        commissions=commissions,
        um_hedge_mode=bool(o["hu"]),
        cm_hedge_mode=bool(o["hc"]),
    )


# -- dynamic account data --


def _order_to(o: OpenOrder) -> list[Any]:
    return [
        o.market, o.symbol, o.order_id, o.side, o.order_type, o.quantity, o.price, o.stop_price,
        o.position_side, o.reduce_only, o.client_order_id, o.activation_price, o.callback_rate,
        o.price_match, o.side_effect,
    ]  # fmt: skip


def _order_from(v: list[Any]) -> OpenOrder:
    return OpenOrder(
        v[0], v[1], v[2], v[3], v[4], _od(v[5]), _od(v[6]), _od(v[7]), v[8], bool(v[9]), v[10],
        _od(v[11]), _od(v[12]), bool(v[13]), v[14],
    )  # fmt: skip


def _fill_to(f: PendingFill) -> list[Any]:
    return [
        f.market, f.symbol, f.trade_id, f.order_id, f.side, f.position_side, f.qty, f.price,
        f.time, f.realized, f.fee, f.fee_asset, f.quote_qty, f.position_open, f.open_assets,
    ]  # fmt: skip


def _fill_from(v: list[Any]) -> PendingFill:
    return PendingFill(
        v[0], v[1], int(v[2]), v[3], v[4], v[5], _d(v[6]), _d(v[7]), int(v[8]), _d(v[9]),
        _d(v[10]), v[11], _d(v[12]), bool(v[13]), frozenset(v[14]),
    )  # fmt: skip


def _balance_to(b: Balance) -> list[Any]:
    return [
        b.asset, b.cross_margin_asset, b.cross_margin_borrowed, b.cross_margin_interest,
        b.um_wallet, b.cm_wallet, b.cross_margin_locked,
    ]  # fmt: skip


def data_to_json(d: AccountData) -> bytes:
    """Everything but the static data (stored separately; `sv` names its version)."""
    return dumps(
        {
            "sv": d.static_version,
            "ld": d.loaded,
            "v": d.version,
            "b": [_balance_to(b) for b in d.balances.values()],
            "p": [
                [p.market, p.symbol, p.position_side, p.amount, p.entry_price]
                for p in d.positions.values()
            ],
            "o": {k: _order_to(o) for k, o in d.open_orders.items()},
            "f": [_fill_to(f) for f in d.fills.values()],
            "ol": d.open_loss,
            "st": d.account_status,
            "xu": d.exchange_uni_mmr,
            "pt": d.pos_t,
            "wt": d.wallet_t,
            "mt": d.margin_t,
            "le": d.liab_e,
            "re": d.risk_e,
            "rm": d.rest_marks,
            "os": d.order_seen,
            "cs": d.closed_seen,
            "lm": d.loaded_ms,
            "dr": d.drift,
            "gu": d.gateway_uni_mmr,
            "dg": d.degraded_reason,
        }
    )


def data_from_json(raw: bytes | str, static: Static) -> AccountData:
    o = orjson.loads(raw)
    balances = [
        Balance(b[0], _d(b[1]), _d(b[2]), _d(b[3]), _d(b[4]), _d(b[5]), _d(b[6])) for b in o["b"]
    ]
    positions = [Position(p[1], p[0], p[2], _d(p[3]), _d(p[4])) for p in o["p"]]
    fills = [_fill_from(f) for f in o["f"]]
    return AccountData(
        static=static,
        static_version=int(o["sv"]),
        loaded=bool(o["ld"]),
        version=int(o["v"]),
        balances={b.asset: b for b in balances},
        positions={(p.market, p.symbol, p.position_side): p for p in positions},
        open_orders={k: _order_from(v) for k, v in o["o"].items()},
        fills={f.key: f for f in fills},
        open_loss={k: _d(v) for k, v in o["ol"].items()},
        account_status=o["st"],
        exchange_uni_mmr=_od(o["xu"]),
        pos_t=dict(o["pt"]),
        wallet_t=dict(o["wt"]),
        margin_t=dict(o["mt"]),
        liab_e=dict(o["le"]),
        risk_e=int(o["re"]),
        rest_marks=set(o["rm"]),
        order_seen=dict(o["os"]),
        closed_seen=dict(o["cs"]),
        loaded_ms=int(o["lm"]),
        drift=_od(o["dr"]),
        gateway_uni_mmr=_od(o["gu"]),
        degraded_reason=o["dg"],
    )


# -- account data as hash fields (deltas) --

_INT_MAPS = {
    "pos_t": "pt",
    "wallet_t": "wt",
    "margin_t": "mt",
    "liab_e": "le",
    "order_seen": "os",
    "closed_seen": "cs",
}
_PREFIX = {
    "balances": "b",
    "positions": "p",
    "open_orders": "o",
    "fills": "f",
    **_INT_MAPS,
    "rest_marks": "rm",
}
_BY_PREFIX = {v: k for k, v in _PREFIX.items()}


def _key_str(container: str, key: Any) -> str:
    if container in ("positions", "fills"):
        return f"{key[0]}|{key[1]}|{key[2]}"
    return str(key)


def _key_of(container: str, text: str) -> Any:
    if container == "positions":
        market, symbol, side = text.split("|")
        return (market, symbol, side)
    if container == "fills":
        market, symbol, trade = text.split("|")
        return (market, symbol, int(trade))
    return text


def _position_to(p: Position) -> list[Any]:
    return [p.amount, p.entry_price]


_ENCODE: dict[str, Callable[[Any], object]] = {
    "balances": _balance_to,
    "positions": _position_to,
    "open_orders": _order_to,
    "fills": _fill_to,
}


def _scalars(d: AccountData) -> dict[str, Any]:
    return {
        "sv": d.static_version,
        "ld": d.loaded,
        "ol": d.open_loss,
        "st": d.account_status,
        "xu": d.exchange_uni_mmr,
        "re": d.risk_e,
        "lm": d.loaded_ms,
        "dr": d.drift,
        "gu": d.gateway_uni_mmr,
        "dg": d.degraded_reason,
    }


def _entry(d: AccountData, container: str, key: Any) -> bytes | None:
    """The field value of one entry, None when the entry is absent."""
    values = getattr(d, container)
    if container == "rest_marks":
        return b"1" if key in values else None
    value = values.get(key)
    if value is None:
        return None
    encode = _ENCODE.get(container)
    return dumps(encode(value) if encode is not None else value)


def _fields_of(d: AccountData, container: str, keys: Iterable[Any]) -> Iterable[tuple[str, Any]]:
    prefix = _PREFIX[container]
    for key in keys:
        yield f"{prefix}:{_key_str(container, key)}", key


def data_fields(d: AccountData) -> dict[str, bytes]:
    """Every field of `d` (a full write: REST reconcile, first load)."""
    fields = {"s": dumps(_scalars(d))}
    for container in _PREFIX:
        for name, key in _fields_of(d, container, getattr(d, container)):
            value = _entry(d, container, key)
            if value is not None:
                fields[name] = value
    return fields


def delta_fields(d: AccountData, changes: Changes) -> tuple[dict[str, bytes], list[str]]:
    """The fields `changes` touched: (set → value, deleted)."""
    sets: dict[str, bytes] = {}
    dels: list[str] = []
    if changes.scalars:
        sets["s"] = dumps(_scalars(d))
    for container, keys in changes.keys.items():
        for name, key in _fields_of(d, container, keys):
            value = _entry(d, container, key)
            if value is None:
                dels.append(name)
            else:
                sets[name] = value
    return sets, dels


def _apply_scalars(d: AccountData, o: Mapping[str, Any]) -> None:
    d.static_version = int(o["sv"])
    d.loaded = bool(o["ld"])
    d.open_loss = {k: _d(v) for k, v in o["ol"].items()}
    d.account_status = o["st"]
    d.exchange_uni_mmr = _od(o["xu"])
    d.risk_e = int(o["re"])
    d.loaded_ms = int(o["lm"])
    d.drift = _od(o["dr"])
    d.gateway_uni_mmr = _od(o["gu"])
    d.degraded_reason = o["dg"]


def _decode(container: str, key: Any, v: Any) -> Any:
    if container == "balances":
        return Balance(v[0], _d(v[1]), _d(v[2]), _d(v[3]), _d(v[4]), _d(v[5]), _d(v[6]))
    if container == "positions":
        return Position(key[1], key[0], key[2], _d(v[0]), _d(v[1]))
    if container == "open_orders":
        return _order_from(v)
    if container == "fills":
        return _fill_from(v)
    return int(v)


def apply_fields(d: AccountData, sets: Mapping[str, Any], dels: Iterable[str]) -> None:
    """Write parsed field values (`sets`: name → JSON value) and delete fields into `d`
    (a `copy()`, so the change is tracked). ValueError/KeyError on an unknown field."""
    for name in dels:
        prefix, _, text = name.partition(":")
        container = _BY_PREFIX[prefix]
        key = _key_of(container, text)
        values = getattr(d, container)
        if container == "rest_marks":
            values.discard(key)
        else:
            values.pop(key, None)
    for name, value in sets.items():
        if name == "s":
            _apply_scalars(d, value)
            continue
        prefix, _, text = name.partition(":")
        container = _BY_PREFIX[prefix]
        key = _key_of(container, text)
        if container == "rest_marks":
            d.rest_marks.add(key)
        else:
            getattr(d, container)[key] = _decode(container, key, value)


def data_from_fields(fields: Mapping[str, Any], static: Static, version: int) -> AccountData:
    """Account data from all its fields (parsed JSON values), e.g. a Redis HGETALL."""
    d = AccountData(static=static, version=version)
    apply_fields(d, fields, ())
    return d


# -- reservations and health --


def reservation_to_json(r: Reservation) -> bytes:
    """Flat enough for the Lua scripts: they read `m` (match key), `st`, `a` and `x` (expiry);
    `n` is the nonce as two 52-bit halves (the fingerprint's terms)."""
    hi, lo = split_nonce(r.nonce)
    return dumps(
        {
            "id": r.id,
            "n": [hi, lo],
            "legs": [leg_to_json(leg) for leg in r.legs],
            "c": r.created_ms,
            "x": r.expires_ms,
            "cid": r.client_id,
            "m": r.match_key,
            "st": r.state,
            "a": r.answered_ms,
            "oid": r.order_id,
            "bot": r.bot,
        }
    )


def reservation_from_json(raw: bytes | str | Mapping[str, Any]) -> Reservation:
    o = raw if isinstance(raw, Mapping) else orjson.loads(raw)
    state = o["st"]
    if state not in ("in_flight", "accepted", "unknown"):
        raise ValueError(f"bad reservation state {state!r}")
    return Reservation(
        id=o["id"],
        legs=tuple(leg_from_json(leg) for leg in o["legs"]),
        created_ms=int(o["c"]),
        expires_ms=int(o["x"]),
        client_id=o["cid"],
        state=cast(ReservationState, state),
        answered_ms=None if o["a"] is None else int(o["a"]),
        order_id=o["oid"],
        bot=o["bot"],
        nonce=(int(o["n"][0]) << 52) | int(o["n"][1]) if "n" in o else 0,
    )


def health_to_json(h: Health) -> dict[str, Any]:
    return {"c": h.stream_connected, "d": h.down_since_ms, "s": h.sync_ms, "u": h.updated_ms}


def health_from_json(o: Mapping[str, Any]) -> Health:
    return Health(bool(o["c"]), o["d"], int(o["s"]), int(o["u"]))
