"""Loading a paper state file (JSON or TOML) into `PaperState`; unknown or missing keys fail.

`comment` keys are ignored anywhere. Numbers may be JSON strings (preferred: exact) or JSON/TOML
numbers (TOML floats are read as Decimal; JSON floats go through their shortest repr). Every error
names the offending key, e.g. `unknown key 'markets.um.BTCUSDT.filter'`. Schema:
docs/paper-exchange.md.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import replace
from decimal import Decimal
from decimal import InvalidOperation
from pathlib import Path
from typing import Any
from typing import cast

import orjson

from margin_gate.auth.signing import load_verifier
from margin_gate.paper.schema import AccountSpec
from margin_gate.paper.schema import ApiKeySpec
from margin_gate.paper.schema import BalanceSpec
from margin_gate.paper.schema import Bracket
from margin_gate.paper.schema import CollateralTier
from margin_gate.paper.schema import Filters
from margin_gate.paper.schema import FuturesSymbol
from margin_gate.paper.schema import KeyType
from margin_gate.paper.schema import Kind
from margin_gate.paper.schema import MarginSymbol
from margin_gate.paper.schema import PaperState
from margin_gate.paper.schema import PositionSide
from margin_gate.paper.schema import PositionSpec
from margin_gate.paper.schema import PriceSpec
from margin_gate.paper.schema import RiskSettings

__all__ = ["StateError", "load_state", "parse_state"]

# Assets valued at 1 USD, with collateral rate 1, unless the file says otherwise.
_STABLE = ("USDT", "USDC", "FDUSD", "BUSD")
_MISSING = object()
# Keys ignored wherever they appear: JSON has no comments, so state files carry them as keys.
_COMMENTS = frozenset({"comment", "_comment"})
_D0 = Decimal(0)


class StateError(ValueError):
    """A state file that cannot be used; the message names the key at fault."""


class _Obj:
    """One JSON object / TOML table, read key by key; `done()` refuses keys nobody read."""

    def __init__(self, data: object, where: str) -> None:
        if not isinstance(data, dict):
            raise StateError(f"'{where}' must be an object/table")
        self.data: dict[str, Any] = data
        self.where = where
        self._seen: set[str] = set()

    def _path(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def _get(self, key: str) -> Any:
        self._seen.add(key)
        return self.data.get(key, _MISSING)

    def dec(self, key: str, default: Decimal | None = None) -> Decimal:
        value = self._get(key)
        if value is _MISSING:
            if default is None:
                raise StateError(f"missing key '{self._path(key)}'")
            return default
        return _to_decimal(value, self._path(key))

    def integer(self, key: str, default: int | None = None) -> int:
        value = self._get(key)
        if value is _MISSING:
            if default is None:
                raise StateError(f"missing key '{self._path(key)}'")
            return default
        if isinstance(value, bool) or not isinstance(value, int):
            raise StateError(f"'{self._path(key)}' must be an integer")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self._get(key)
        if value is _MISSING:
            return default
        if not isinstance(value, bool):
            raise StateError(f"'{self._path(key)}' must be true or false")
        return value

    def text(self, key: str, default: str | None = None) -> str:
        value = self._get(key)
        if value is _MISSING:
            if default is None:
                raise StateError(f"missing key '{self._path(key)}'")
            return default
        if not isinstance(value, str) or not value:
            raise StateError(f"'{self._path(key)}' must be a non-empty string")
        return value

    def obj(self, key: str) -> _Obj:
        value = self._get(key)
        return _Obj({} if value is _MISSING else value, self._path(key))

    def array(self, key: str) -> list[Any]:
        value = self._get(key)
        if value is _MISSING:
            return []
        if not isinstance(value, list):
            raise StateError(f"'{self._path(key)}' must be a list")
        return value

    def entries(self) -> list[tuple[str, Any]]:
        """All key/value pairs of a map keyed by symbol or asset (every key counts as read)."""
        self._seen.update(self.data)
        return [(k, v) for k, v in self.data.items() if k not in _COMMENTS]

    def decimals(self) -> dict[str, Decimal]:
        return {k: _to_decimal(v, self._path(k)) for k, v in self.entries()}

    def done(self) -> None:
        unknown = [k for k in self.data if k not in self._seen and k not in _COMMENTS]
        if unknown:
            raise StateError(f"unknown key '{self._path(unknown[0])}'")


def _to_decimal(value: object, where: str) -> Decimal:
    if isinstance(value, bool):
        raise StateError(f"'{where}' must be a number")
    if isinstance(value, Decimal):
        result = value
    elif isinstance(value, int):
        result = Decimal(value)
    elif isinstance(value, float):
        result = Decimal(repr(value))
    elif isinstance(value, str):
        try:
            result = Decimal(value)
        except InvalidOperation:
            raise StateError(f"'{where}' is not a number: {value!r}") from None
    else:
        raise StateError(f"'{where}' must be a number")
    if not result.is_finite():
        raise StateError(f"'{where}' must be finite")
    return result


def load_state(path: str | Path) -> PaperState:
    """Read a state file: `.toml` as TOML, anything else as JSON."""
    file = Path(path)
    raw = file.read_bytes()
    try:
        if file.suffix.lower() == ".toml":
            data: Any = tomllib.loads(raw.decode("utf-8"), parse_float=Decimal)
        else:
            data = orjson.loads(raw)
    except (orjson.JSONDecodeError, tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise StateError(f"{file}: not valid {file.suffix.lstrip('.') or 'JSON'}: {exc}") from exc
    return replace(parse_state(data), source=file)


def parse_state(data: Mapping[str, Any]) -> PaperState:
    """Build and validate a `PaperState` from already-decoded JSON/TOML data."""
    root = _Obj(dict(data), "")
    seed = root.integer("seed", 0)
    keys = tuple(_key(item, f"keys[{i}]") for i, item in enumerate(root.array("keys")))
    markets = root.obj("markets")
    um = {s: _futures(s, "UM", _Obj(v, f"markets.um.{s}")) for s, v in markets.obj("um").entries()}
    cm = {s: _futures(s, "CM", _Obj(v, f"markets.cm.{s}")) for s, v in markets.obj("cm").entries()}
    margin_symbols = {
        s: _margin_symbol(s, _Obj(v, f"markets.margin.{s}"))
        for s, v in markets.obj("margin").entries()
    }
    markets.done()
    collateral = root.obj("collateral")
    rates = collateral.obj("rates").decimals()
    for stable in _STABLE:
        rates.setdefault(stable, Decimal(1))
    tiers = {
        asset: tuple(_tier(t, f"collateral.tiers.{asset}[{i}]") for i, t in enumerate(items))
        for asset, items in collateral.obj("tiers").entries()
    }
    default_rate = collateral.dec("default_rate", Decimal("0.1"))
    collateral.done()
    loans = root.obj("margin_loans")
    loan_mmr = loans.obj("maintenance_rates").decimals()
    default_loan_mmr = loans.dec("default_maintenance_rate", Decimal("0.10"))
    loans.done()
    risk = _risk(root.obj("risk"))
    matching = root.obj("matching")
    spread = matching.dec("spread", Decimal("0.0001"))
    matching.done()
    account = _account(root.obj("account"))
    prices = _prices(root.obj("prices"), um, cm)
    root.done()
    state = PaperState(
        seed=seed,
        keys=keys,
        um_symbols=um,
        cm_symbols=cm,
        margin_symbols=margin_symbols,
        collateral_rates=rates,
        collateral_tiers=tiers,
        default_collateral_rate=default_rate,
        loan_mmr=loan_mmr,
        default_loan_mmr=default_loan_mmr,
        risk=risk,
        spread=spread,
        account=account,
        prices=prices,
    )
    _validate(state)
    return state


def _key(item: object, where: str) -> ApiKeySpec:
    obj = _Obj(item, where)
    name = obj.text("name", "key")
    api_key = obj.text("api_key")
    key_type = obj.text("type", "hmac")
    if key_type not in ("hmac", "ed25519", "rsa"):
        raise StateError(f"'{where}.type' must be hmac, ed25519 or rsa")
    if key_type == "hmac":
        material = obj.text("secret").encode("utf-8")
    else:
        material = obj.text("public_key_pem").encode("utf-8")
    obj.done()
    try:
        load_verifier(cast(KeyType, key_type), material)
    except ValueError as exc:
        raise StateError(f"'{where}': {exc}") from exc
    return ApiKeySpec(name, api_key, cast(KeyType, key_type), material)


def _filters(obj: _Obj) -> Filters:
    tick = obj.dec("tick_size", Decimal("0.01"))
    step = obj.dec("step_size", Decimal("0.001"))
    filters = Filters(
        tick_size=tick,
        min_price=obj.dec("min_price", _D0),
        max_price=obj.dec("max_price", _D0),
        step_size=step,
        min_qty=obj.dec("min_qty", step),
        max_qty=obj.dec("max_qty", Decimal("1000000000")),
        min_notional=obj.dec("min_notional", _D0),
        multiplier_up=obj.dec("multiplier_up", _D0),
        multiplier_down=obj.dec("multiplier_down", _D0),
        market_take_bound=obj.dec("market_take_bound", _D0),
        max_num_orders=obj.integer("max_num_orders", 200),
    )
    obj.done()
    if tick <= 0 or step <= 0:
        raise StateError(f"'{obj.where}': tick_size and step_size must be positive")
    return filters


def _brackets(items: list[Any], where: str) -> tuple[Bracket, ...]:
    result = []
    for i, item in enumerate(items):
        obj = _Obj(item, f"{where}[{i}]")
        result.append(
            Bracket(
                bracket=obj.integer("bracket", i + 1),
                initial_leverage=obj.integer("initial_leverage"),
                floor=obj.dec("floor"),
                cap=obj.dec("cap"),
                mmr=obj.dec("mmr"),
                cum=obj.dec("cum", _D0),
            )
        )
        obj.done()
    if not result:
        raise StateError(f"'{where}' needs at least one bracket")
    result.sort(key=lambda b: b.floor)
    return tuple(result)


def _commission(obj: _Obj) -> tuple[Decimal, Decimal]:
    commission = obj.obj("commission")
    maker = commission.dec("maker", Decimal("0.0002"))
    taker = commission.dec("taker", Decimal("0.0005"))
    commission.done()
    return maker, taker


def _futures(symbol: str, kind: Kind, obj: _Obj) -> FuturesSymbol:
    base = obj.text("base")
    quote = obj.text("quote", "USDT" if kind == "UM" else "USD")
    maker, taker = _commission(obj)
    spec = FuturesSymbol(
        symbol=symbol,
        kind=kind,
        pair=obj.text("pair", base + quote),
        base=base,
        quote=quote,
        margin_asset=obj.text("margin_asset", quote if kind == "UM" else base),
        contract_type=obj.text("contract_type", "PERPETUAL"),
        delivery_date=obj.integer("delivery_date", 4133404800000),
        onboard_date=obj.integer("onboard_date", 1569398400000),
        contract_size=obj.dec("contract_size", Decimal(1) if kind == "UM" else Decimal(100)),
        filters=_filters(obj.obj("filters")),
        brackets=_brackets(obj.array("brackets"), f"{obj.where}.brackets"),
        maker=maker,
        taker=taker,
        funding_rate=obj.dec("funding_rate", Decimal("0.0001")),
    )
    obj.done()
    return spec


def _margin_symbol(symbol: str, obj: _Obj) -> MarginSymbol:
    maker, taker = _commission(obj)
    spec = MarginSymbol(
        symbol=symbol,
        base=obj.text("base"),
        quote=obj.text("quote", "USDT"),
        filters=_filters(obj.obj("filters")),
        maker=maker,
        taker=taker,
    )
    obj.done()
    return spec


def _tier(item: object, where: str) -> CollateralTier:
    obj = _Obj(item, where)
    tier = CollateralTier(obj.dec("floor"), obj.dec("cap"), obj.dec("rate"))
    obj.done()
    return tier


def _risk(obj: _Obj) -> RiskSettings:
    defaults = RiskSettings()
    risk = RiskSettings(
        margin_call=obj.dec("margin_call", defaults.margin_call),
        reduce_only=obj.dec("reduce_only", defaults.reduce_only),
        liquidation=obj.dec("liquidation", defaults.liquidation),
        hedge_legs_separate=obj.boolean("hedge_legs_separate", defaults.hedge_legs_separate),
        loan_interest_in_mm=obj.boolean("loan_interest_in_mm", defaults.loan_interest_in_mm),
        no_maint_margin_uni_mmr=obj.text(
            "no_maint_margin_uni_mmr", defaults.no_maint_margin_uni_mmr
        ),
        clearance_fee_rate=obj.dec("clearance_fee_rate", defaults.clearance_fee_rate),
        liquidation_delay_ms=obj.integer("liquidation_delay_ms", defaults.liquidation_delay_ms),
        um_reduce_only_code=obj.integer("um_reduce_only_code", defaults.um_reduce_only_code),
        cm_reduce_only_code=obj.integer("cm_reduce_only_code", defaults.cm_reduce_only_code),
    )
    obj.done()
    if not risk.liquidation <= risk.reduce_only <= risk.margin_call:
        raise StateError("risk thresholds must satisfy liquidation <= reduce_only <= margin_call")
    return risk


def _balance(obj: _Obj) -> BalanceSpec:
    spec = BalanceSpec(
        cross_margin_asset=obj.dec("cross_margin_asset", _D0),
        cross_margin_borrowed=obj.dec("cross_margin_borrowed", _D0),
        cross_margin_interest=obj.dec("cross_margin_interest", _D0),
        um_wallet_balance=obj.dec("um_wallet_balance", _D0),
        cm_wallet_balance=obj.dec("cm_wallet_balance", _D0),
    )
    obj.done()
    return spec


def _position(item: object, where: str, dual: bool) -> PositionSpec:
    obj = _Obj(item, where)
    side = obj.text("position_side", "LONG" if dual else "BOTH")
    if side not in ("BOTH", "LONG", "SHORT"):
        raise StateError(f"'{where}.position_side' must be BOTH, LONG or SHORT")
    if (side == "BOTH") == dual:
        raise StateError(f"'{where}.position_side' {side} does not match dual_side_position")
    amount = obj.dec("amount")
    if (side == "LONG" and amount < 0) or (side == "SHORT" and amount > 0):
        raise StateError(f"'{where}.amount' has the wrong sign for {side}")
    spec = PositionSpec(
        obj.text("symbol"), cast(PositionSide, side), amount, obj.dec("entry_price")
    )
    obj.done()
    if spec.entry_price <= 0 and spec.amount != 0:
        raise StateError(f"'{where}.entry_price' must be positive")
    return spec


def _account(obj: _Obj) -> AccountSpec:
    dual = obj.boolean("dual_side_position", False)
    balances = {
        asset: _balance(_Obj(v, f"account.balances.{asset}"))
        for asset, v in obj.obj("balances").entries()
    }
    um = tuple(
        _position(p, f"account.um_positions[{i}]", dual)
        for i, p in enumerate(obj.array("um_positions"))
    )
    cm = tuple(
        _position(p, f"account.cm_positions[{i}]", dual)
        for i, p in enumerate(obj.array("cm_positions"))
    )
    leverage_obj = obj.obj("leverage")
    leverage = {}
    for symbol, value in leverage_obj.entries():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise StateError(f"'account.leverage.{symbol}' must be a positive integer")
        leverage[symbol] = value
    spec = AccountSpec(
        account_type=obj.text("account_type", "PM_2"),
        dual_side_position=dual,
        balances=balances,
        um_positions=um,
        cm_positions=cm,
        leverage=leverage,
    )
    obj.done()
    return spec


def _prices(obj: _Obj, um: dict[str, FuturesSymbol], cm: dict[str, FuturesSymbol]) -> PriceSpec:
    mark = obj.obj("mark").decimals()
    index = obj.obj("index").decimals()
    asset_index = obj.obj("asset_index").decimals()
    obj.done()
    for symbol in (*um, *cm):
        if symbol not in mark:
            raise StateError(f"missing key 'prices.mark.{symbol}'")
        index.setdefault(symbol, mark[symbol])
    for stable in _STABLE:
        asset_index.setdefault(stable, Decimal(1))
    for where, table in (("mark", mark), ("index", index), ("asset_index", asset_index)):
        for key, value in table.items():
            if value <= 0:
                raise StateError(f"'prices.{where}.{key}' must be positive")
    return PriceSpec(mark, index, asset_index)


def _validate(state: PaperState) -> None:
    seen: set[str] = set()
    for key in state.keys:
        if key.api_key in seen:
            raise StateError(f"duplicate api_key for key '{key.name}'")
        seen.add(key.api_key)
    for kind, positions, table in (
        ("um", state.account.um_positions, state.um_symbols),
        ("cm", state.account.cm_positions, state.cm_symbols),
    ):
        for i, pos in enumerate(positions):
            if pos.symbol not in table:
                raise StateError(
                    f"'account.{kind}_positions[{i}].symbol' {pos.symbol} is not in markets.{kind}"
                )
    assets = set(state.account.balances)
    assets.update(s.margin_asset for s in (*state.um_symbols.values(), *state.cm_symbols.values()))
    for m in state.margin_symbols.values():
        assets.update((m.base, m.quote))
    for asset in sorted(assets):
        if asset not in state.prices.asset_index:
            raise StateError(f"missing key 'prices.asset_index.{asset}'")
    if not Decimal(0) <= state.spread < Decimal(1):
        raise StateError("'matching.spread' must be in [0, 1)")
