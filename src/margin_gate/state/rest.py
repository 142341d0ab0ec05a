"""Signed REST calls to the exchange for state loading, and the full account load (issue 5 §2).

`ExchangeRest` signs with the account's exchange key (`auth.signing`, §3.1: HMAC hex, Ed25519,
RSA), sends everything in the query string, and maps a non-2xx answer to `ExchangeError`.
`load_account` fetches everything the margin engine needs concurrently and stamps the local
time the load started (reconcile.py uses it to merge with the stream).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from typing import Any

import aiohttp
import orjson

from margin_gate.auth.signing import Signer
from margin_gate.clock import Clock
from margin_gate.margin.model import Commission
from margin_gate.margin.model import OpenOrder
from margin_gate.margin.model import SymbolKey
from margin_gate.state.codec import parse_account
from margin_gate.state.codec import parse_algo_open_orders
from margin_gate.state.codec import parse_balances
from margin_gate.state.codec import parse_commission
from margin_gate.state.codec import parse_conditional_open_orders
from margin_gate.state.codec import parse_dual_side
from margin_gate.state.codec import parse_futures_open_orders
from margin_gate.state.codec import parse_margin_open_orders
from margin_gate.state.codec import parse_positions
from margin_gate.state.codec_market import parse_asset_index
from margin_gate.state.codec_market import parse_brackets
from margin_gate.state.codec_market import parse_collateral_rates
from margin_gate.state.codec_market import parse_exchange_info
from margin_gate.state.codec_market import parse_premium_index
from margin_gate.state.data import LoadedAccount
from margin_gate.state.data import Static
from margin_gate.wire.params import encode_params

__all__ = ["ExchangeError", "ExchangeRest", "load_account"]

NO_BASE = "no upstream base URL for /{prefix}"


class ExchangeError(Exception):
    """The exchange answered an error (`status`, Binance `code`, `msg`), or nothing usable."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        super().__init__(f"HTTP {status} code {code}: {msg}")
        self.status, self.code, self.msg = status, code, msg


class ExchangeRest:
    """REST client for one exchange account. `bases` maps a path prefix (papi, fapi, dapi,
    api, sapi) to its base URL, as the gateway's `[upstream]` config does."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        bases: Mapping[str, str],
        api_key: str,
        signer: Signer,
        clock: Clock,
        *,
        timeout_s: float = 10.0,
        recv_window_ms: int = 5000,
    ) -> None:
        self.session = session
        self.bases = dict(bases)
        self.api_key = api_key
        self.signer = signer
        self.clock = clock
        self.timeout = aiohttp.ClientTimeout(total=timeout_s)
        self.recv_window_ms = recv_window_ms
        self.calls = 0
        self.errors = 0

    def base(self, path: str) -> str:
        prefix = path.split("/", 2)[1]
        found = self.bases.get(prefix)
        if found is None:
            raise ExchangeError(0, 0, NO_BASE.format(prefix=prefix))
        return found.rstrip("/")

    async def call(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None = None,
        *,
        security: str = "SIGNED",  # SIGNED | API_KEY | NONE (§3.1)
    ) -> Any:
        items = list((params or {}).items())
        if security == "SIGNED":
            items.append(("recvWindow", str(self.recv_window_ms)))
            items.append(("timestamp", str(self.clock.now_ms())))
            payload = encode_params(items)
            items.append(("signature", self.signer.sign(payload)))
        query = encode_params(items).decode()
        url = self.base(path) + path + (f"?{query}" if query else "")
        headers = {"X-MBX-APIKEY": self.api_key} if security != "NONE" else {}
        self.calls += 1
        try:
            async with self.session.request(
                method, url, headers=headers, timeout=self.timeout
            ) as response:
                body = await response.read()
                status = response.status
        except (TimeoutError, aiohttp.ClientError) as exc:
            self.errors += 1
            raise ExchangeError(0, 0, f"{type(exc).__name__}: {exc}") from exc
        try:
            data = orjson.loads(body) if body else None
        except orjson.JSONDecodeError:
            data = None
        if status >= 400 or (status == 200 and body and data is None):
            self.errors += 1
            code = data.get("code", 0) if isinstance(data, dict) else 0
            msg = data.get("msg", "") if isinstance(data, dict) else body[:200].decode("replace")
            raise ExchangeError(status, int(code), str(msg))
        return data

    async def get(self, path: str, params: Mapping[str, str] | None = None, **kw: Any) -> Any:
        return await self.call("GET", path, params, **kw)

    # -- listenKey (API-key only, §3.1 / §4.1) --

    async def create_listen_key(self) -> str:
        data = await self.call("POST", "/papi/v1/listenKey", security="API_KEY")
        return str(data["listenKey"])

    async def keepalive_listen_key(self) -> None:
        await self.call("PUT", "/papi/v1/listenKey", security="API_KEY")

    async def close_listen_key(self) -> None:
        await self.call("DELETE", "/papi/v1/listenKey", security="API_KEY")


async def _optional(rest: ExchangeRest, path: str) -> Any:
    """An endpoint an exchange may not serve (deprecated conditional orders): [] on 404."""
    try:
        return await rest.get(path)
    except ExchangeError as exc:
        if exc.status == 404:
            return []
        raise


async def _commissions(rest: ExchangeRest, keys: set[SymbolKey]) -> dict[SymbolKey, Commission]:
    async def one(key: SymbolKey) -> tuple[SymbolKey, Commission]:
        market, symbol = key
        path = "/papi/v1/um/commissionRate" if market == "UM" else "/papi/v1/cm/commissionRate"
        _, commission = parse_commission(await rest.get(path, {"symbol": symbol}))
        return key, commission

    return dict(await asyncio.gather(*(one(k) for k in sorted(keys))))


async def load_account(
    rest: ExchangeRest, clock: Clock, *, commission_symbols: AbstractSet[SymbolKey] = frozenset()
) -> LoadedAccount:
    """Everything issue 5 §2 lists, fetched concurrently; raises ExchangeError/CodecError."""
    started = clock.now_ms()
    r = await asyncio.gather(
        rest.get("/papi/v1/balance"),  # 0
        rest.get("/papi/v1/um/positionRisk"),  # 1
        rest.get("/papi/v1/cm/positionRisk"),  # 2
        rest.get("/papi/v1/um/openOrders"),  # 3
        rest.get("/papi/v1/cm/openOrders"),  # 4
        rest.get("/papi/v1/margin/openOrders"),  # 5
        _optional(rest, "/papi/v1/um/algo/openAlgoOrders"),  # 6
        _optional(rest, "/papi/v1/um/conditional/openOrders"),  # 7
        _optional(rest, "/papi/v1/cm/conditional/openOrders"),  # 8
        rest.get("/papi/v1/um/leverageBracket"),  # 9
        rest.get("/papi/v1/cm/leverageBracket"),  # 10
        rest.get("/sapi/v1/portfolio/collateralRate", security="NONE"),  # 11
        rest.get("/sapi/v1/portfolio/asset-index-price", security="NONE"),  # 12
        rest.get("/fapi/v1/exchangeInfo", security="NONE"),  # 13
        rest.get("/dapi/v1/exchangeInfo", security="NONE"),  # 14
        rest.get("/api/v3/exchangeInfo", security="NONE"),  # 15
        rest.get("/fapi/v1/premiumIndex", security="NONE"),  # 16
        rest.get("/dapi/v1/premiumIndex", security="NONE"),  # 17
        rest.get("/papi/v1/account"),  # 18
        rest.get("/papi/v1/um/positionSide/dual"),  # 19
        rest.get("/papi/v1/cm/positionSide/dual"),  # 20
    )
    balances, balance_times = parse_balances(r[0])
    positions = (*parse_positions(r[1], "UM"), *parse_positions(r[2], "CM"))
    orders: list[OpenOrder] = [
        *parse_futures_open_orders(r[3], "UM"),
        *parse_futures_open_orders(r[4], "CM"),
        *parse_margin_open_orders(r[5]),
        *parse_algo_open_orders(r[6]),
        *parse_conditional_open_orders(r[7], "UM"),
        *parse_conditional_open_orders(r[8], "CM"),
    ]
    instruments = {
        **parse_exchange_info(r[13], "UM"),
        **parse_exchange_info(r[14], "CM"),
        **parse_exchange_info(r[15], "MARGIN"),
    }
    wanted = set(commission_symbols)
    wanted.update((p.position.market, p.position.symbol) for p in positions if p.position.amount)
    wanted.update((o.market, o.symbol) for o in orders if o.market != "MARGIN")
    commissions = await _commissions(rest, {k for k in wanted if k in instruments})
    static = Static(
        instruments=instruments,
        brackets={**parse_brackets(r[9], "UM"), **parse_brackets(r[10], "CM")},
        collateral_rates=parse_collateral_rates(r[11]),
        commissions=commissions,
        um_hedge_mode=parse_dual_side(r[19]),
        cm_hedge_mode=parse_dual_side(r[20]),
    )
    return LoadedAccount(
        static=static,
        balances=balances,
        balance_times=balance_times,
        positions=positions,
        open_orders=tuple(orders),
        account=parse_account(r[18]),
        marks={**parse_premium_index(r[16]), **parse_premium_index(r[17])},
        asset_index=parse_asset_index(r[12]),
        fetch_started_ms=started,
        fetch_done_ms=clock.now_ms(),
    )
