"""Account REST routes: account and balances, positions, brackets, commission, leverage,
position mode, max borrowable, PM Pro account, and the PM listenKey (API-key only, §3.1)."""

from __future__ import annotations

from typing import Any

from margin_gate.paper import errors
from margin_gate.paper import views_account
from margin_gate.paper.http import Call
from margin_gate.paper.http import Endpoint
from margin_gate.paper.http import Routes
from margin_gate.paper.listenkeys import ListenKeys
from margin_gate.paper.views_account import max_cap
from margin_gate.wire.errors import BAD_SYMBOL
from margin_gate.wire.errors import INVALID_LISTEN_KEY
from margin_gate.wire.errors import BinanceError

__all__ = ["account_routes"]


def _commission(kind: str) -> Any:
    def handler(call: Call) -> Any:
        ex = call.exchange
        symbol = call.params.get("symbol")
        if not symbol:
            return errors.missing("symbol")
        table = ex.state.um_symbols if kind == "UM" else ex.state.cm_symbols
        spec = table.get(symbol)
        return BAD_SYMBOL if spec is None else views_account.commission_rate(spec)

    return handler


def _brackets(kind: str) -> Any:
    def handler(call: Call) -> Any:
        symbol = call.params.get("symbol")
        rows = views_account.brackets(call.exchange, kind, symbol)
        return BAD_SYMBOL if symbol and not rows else rows

    return handler


def _set_leverage(kind: str) -> Any:
    def handler(call: Call) -> Any:
        ex = call.exchange
        symbol = call.params.get("symbol") or ""
        table = ex.state.um_symbols if kind == "UM" else ex.state.cm_symbols
        spec = table.get(symbol)
        if spec is None:
            return BAD_SYMBOL if symbol else errors.missing("symbol")
        raw = call.params.get("leverage") or ""
        top = max(b.initial_leverage for b in spec.brackets)
        if not raw.isdigit() or not 1 <= int(raw) <= top:
            return BinanceError(-4028, f"Leverage {raw} is not valid")
        leverage = int(raw)
        ex.ledger.leverage[symbol] = leverage
        ex.ledger.touch(ex.now())
        cap_key = "maxNotionalValue" if kind == "UM" else "maxQty"
        return {"leverage": leverage, cap_key: str(max_cap(spec, leverage)), "symbol": symbol}

    return handler


def _dual_get(call: Call) -> Any:
    return {"dualSidePosition": call.exchange.ledger.dual_side}


def _dual_set(call: Call) -> Any:
    ex = call.exchange
    raw = (call.params.get("dualSidePosition") or "").lower()
    if raw not in ("true", "false"):
        return errors.missing("dualSidePosition")
    wanted = raw == "true"
    if wanted == ex.ledger.dual_side:
        return BinanceError(-4059, "No need to change position side.")
    if any(True for _ in ex.ledger.open_positions()) or any(
        o.venue != "MARGIN" for o in ex.book.open.values()
    ):
        return errors.POSITION_SIDE_CHANGE
    ex.ledger.dual_side = wanted
    return {"code": 200, "msg": "success"}


def _max_borrowable(call: Call) -> Any:
    asset = call.params.get("asset")
    if not asset:
        return errors.missing("asset")
    return views_account.max_borrowable(call.exchange, asset)


def _listen_key_routes(keys: ListenKeys) -> Routes:
    def create(call: Call) -> Any:
        return {"listenKey": keys.create(call.exchange.now())}

    def keepalive(call: Call) -> Any:
        now = call.exchange.now()
        key = call.params.get("listenKey") or keys.active(now)
        if not key or not keys.keepalive(key, now):
            return INVALID_LISTEN_KEY
        return {}

    def close(call: Call) -> Any:
        key = call.params.get("listenKey") or keys.active(call.exchange.now())
        if key:
            keys.close(key)
        return {}

    return {
        ("POST", "/papi/v1/listenKey"): Endpoint(create, "API_KEY"),
        ("PUT", "/papi/v1/listenKey"): Endpoint(keepalive, "API_KEY"),
        ("DELETE", "/papi/v1/listenKey"): Endpoint(close, "API_KEY"),
    }


def account_routes(keys: ListenKeys) -> Routes:
    def um_risk(call: Call) -> Any:
        return views_account.um_position_risk(call.exchange, call.params.get("symbol"))

    def cm_risk(call: Call) -> Any:
        p = call.params
        return views_account.cm_position_risk(call.exchange, p.get("marginAsset"), p.get("pair"))

    routes: Routes = {
        ("GET", "/papi/v1/account"): Endpoint(
            lambda call: views_account.account_info(call.exchange), weight=20
        ),
        ("GET", "/sapi/v1/portfolio/account"): Endpoint(
            lambda call: views_account.pm_pro_account(call.exchange), weight=5
        ),
        ("GET", "/papi/v1/balance"): Endpoint(
            lambda call: views_account.balances(call.exchange, call.params.get("asset")),
            weight=20,
        ),
        ("GET", "/papi/v1/um/positionRisk"): Endpoint(um_risk, weight=5),
        ("GET", "/fapi/v2/positionRisk"): Endpoint(um_risk, weight=5),
        ("GET", "/fapi/v3/positionRisk"): Endpoint(um_risk, weight=5),
        ("GET", "/papi/v1/cm/positionRisk"): Endpoint(cm_risk),
        ("GET", "/dapi/v1/positionRisk"): Endpoint(cm_risk),
        ("GET", "/papi/v1/um/account"): Endpoint(
            lambda call: views_account.um_account(call.exchange), weight=5
        ),
        ("GET", "/papi/v1/um/leverageBracket"): Endpoint(_brackets("UM")),
        ("GET", "/papi/v1/cm/leverageBracket"): Endpoint(_brackets("CM")),
        ("GET", "/papi/v1/um/commissionRate"): Endpoint(_commission("UM"), weight=20),
        ("GET", "/papi/v1/cm/commissionRate"): Endpoint(_commission("CM"), weight=20),
        ("POST", "/papi/v1/um/leverage"): Endpoint(_set_leverage("UM")),
        ("POST", "/papi/v1/cm/leverage"): Endpoint(_set_leverage("CM")),
        ("POST", "/fapi/v1/leverage"): Endpoint(_set_leverage("UM")),
        ("POST", "/dapi/v1/leverage"): Endpoint(_set_leverage("CM")),
        ("GET", "/papi/v1/um/positionSide/dual"): Endpoint(_dual_get, weight=30),
        ("GET", "/papi/v1/cm/positionSide/dual"): Endpoint(_dual_get, weight=30),
        ("POST", "/papi/v1/um/positionSide/dual"): Endpoint(_dual_set),
        ("POST", "/papi/v1/cm/positionSide/dual"): Endpoint(_dual_set),
        ("GET", "/papi/v1/margin/maxBorrowable"): Endpoint(_max_borrowable, weight=5),
    }
    routes.update(_listen_key_routes(keys))
    return routes
