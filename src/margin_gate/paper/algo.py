"""UM conditional (algo) orders: STOP/TAKE_PROFIT[_MARKET], including closePosition.

`POST /fapi/v1/algoOrder` and `POST /papi/v1/um/algo/order` (binance-pm.md §2.3-§2.4). Triggers
on the mark price (workingType is recorded, not modelled): STOP* buys when mark >= trigger and
sells when mark <= trigger; TAKE_PROFIT* the other way round. A triggered algo places a MARKET
(or LIMIT, for STOP/TAKE_PROFIT) order through the normal order path; `closePosition` sizes it
to the whole position at trigger time. ALGO_UPDATE events follow each status change.
"""

from __future__ import annotations

from collections.abc import Collection
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING
from typing import Any

from margin_gate.paper import errors
from margin_gate.paper import events
from margin_gate.paper import futures
from margin_gate.paper.numbers import ZERO
from margin_gate.paper.numbers import fmt_step
from margin_gate.paper.numbers import parse_decimal
from margin_gate.paper.orders import Order
from margin_gate.paper.schema import FuturesSymbol
from margin_gate.wire.errors import BAD_SYMBOL
from margin_gate.wire.errors import BinanceError

if TYPE_CHECKING:
    from margin_gate.paper.engine import PaperExchange

__all__ = ["AlgoBook", "AlgoOrder", "cancel", "check_triggers", "place", "render"]

_TYPES = frozenset({"STOP_MARKET", "TAKE_PROFIT_MARKET", "STOP", "TAKE_PROFIT"})


@dataclass(slots=True)
class AlgoOrder:
    algo_id: int
    client_algo_id: str
    spec: FuturesSymbol
    side: str
    position_side: str
    type: str
    time_in_force: str
    quantity: Decimal
    price: Decimal
    trigger_price: Decimal
    working_type: str
    close_position: bool
    reduce_only: bool
    price_protect: bool
    create_time: int
    status: str = "NEW"
    update_time: int = 0
    trigger_time: int = 0
    order: Order | None = None

    def triggers_at(self, mark: Decimal) -> bool:
        stop = self.type.startswith("STOP")
        up = (self.side == "BUY") == stop
        return mark >= self.trigger_price if up else mark <= self.trigger_price


class AlgoBook:
    def __init__(self) -> None:
        self.open: dict[int, AlgoOrder] = {}
        self.all: dict[int, AlgoOrder] = {}
        self._next = 1_000_000_000_000

    def next_id(self) -> int:
        self._next += 1
        return self._next


def _flag(value: str | None) -> bool:
    return (value or "").lower() == "true"


def _quantity_price(
    order_type: str, p: Mapping[str, str]
) -> tuple[Decimal, Decimal, bool] | BinanceError:
    close_position = _flag(p.get("closePosition"))
    qty = parse_decimal(p.get("quantity"))
    if close_position:
        if qty is not None or _flag(p.get("reduceOnly")):
            return BinanceError(-4136, "Cannot send quantity or reduceOnly with closePosition.")
        qty = ZERO
    elif qty is None or qty <= 0:
        return errors.missing("quantity")
    price = ZERO
    if order_type in ("STOP", "TAKE_PROFIT"):
        parsed = parse_decimal(p.get("price"))
        if parsed is None:
            return errors.missing("price")
        price = parsed
    return qty, price, close_position


def _basics(
    ex: PaperExchange, p: Mapping[str, str]
) -> tuple[FuturesSymbol, str, str, Decimal] | BinanceError:
    if (p.get("algoType") or "CONDITIONAL") != "CONDITIONAL":
        return BinanceError(-1102, "Parameter 'algoType' was malformed.")
    symbol = p.get("symbol") or ""
    spec = ex.state.um_symbols.get(symbol)
    if spec is None:
        return BAD_SYMBOL if symbol else errors.missing("symbol")
    side = p.get("side") or ""
    if side not in ("BUY", "SELL"):
        return errors.BAD_SIDE
    order_type = p.get("type") or ""
    if order_type not in _TYPES:
        return errors.BAD_ORDER_TYPE
    trigger = parse_decimal(p.get("triggerPrice") or p.get("stopPrice"))
    if trigger is None or trigger <= 0:
        return errors.missing("triggerPrice")
    return spec, side, order_type, trigger


def place(ex: PaperExchange, p: Mapping[str, str]) -> AlgoOrder | BinanceError:
    gate = ex.trading_gate()
    if gate is not None:
        return gate
    basics = _basics(ex, p)
    if isinstance(basics, BinanceError):
        return basics
    spec, side, order_type, trigger = basics
    amounts = _quantity_price(order_type, p)
    if isinstance(amounts, BinanceError):
        return amounts
    qty, price, close_position = amounts
    position_side = p.get("positionSide") or "BOTH"
    if (position_side == "BOTH") == ex.ledger.dual_side:
        return errors.POSITION_SIDE_MISMATCH
    now = ex.now()
    order = AlgoOrder(
        algo_id=ex.algos.next_id(),
        client_algo_id=p.get("clientAlgoId") or ex.book.new_client_id("algo"),
        spec=spec,
        side=side,
        position_side=position_side,
        type=order_type,
        time_in_force=p.get("timeInForce") or "GTC",
        quantity=qty,
        price=price,
        trigger_price=trigger,
        working_type=p.get("workingType") or "CONTRACT_PRICE",
        close_position=close_position,
        reduce_only=_flag(p.get("reduceOnly")),
        price_protect=_flag(p.get("priceProtect")),
        create_time=now,
        update_time=now,
    )
    if order.triggers_at(ex.ledger.mark[spec.symbol]):
        return errors.IMMEDIATE_TRIGGER
    ex.algos.open[order.algo_id] = order
    ex.algos.all[order.algo_id] = order
    _emit(ex, order)
    return order


def _emit(ex: PaperExchange, algo: AlgoOrder) -> None:
    f = algo.spec.filters
    actual = algo.order
    body: dict[str, Any] = {
        "caid": algo.client_algo_id,
        "aid": algo.algo_id,
        "at": "CONDITIONAL",
        "o": algo.type,
        "s": algo.spec.symbol,
        "S": algo.side,
        "ps": algo.position_side,
        "f": algo.time_in_force,
        "q": fmt_step(algo.quantity, f.step_size),
        "X": algo.status,
        "ai": str(actual.order_id) if actual else "",
        "ap": fmt_step(actual.avg_price, f.tick_size) if actual else "0",
        "aq": fmt_step(actual.executed_qty, f.step_size) if actual else "0",
        "act": actual.type if actual else "",
        "tp": fmt_step(algo.trigger_price, f.tick_size),
        "p": fmt_step(algo.price, f.tick_size),
        "V": "NONE",
        "wt": algo.working_type,
        "pm": "NONE",
        "cp": algo.close_position,
        "pP": algo.price_protect,
        "R": algo.reduce_only,
        "tt": algo.trigger_time,
        "gtd": 0,
        "rm": "",
    }
    ex.emit(events.algo_update, body, now=ex.now())


def cancel(ex: PaperExchange, p: Mapping[str, str]) -> AlgoOrder | BinanceError:
    raw = p.get("algoId")
    client = p.get("clientAlgoId")
    found = None
    if raw and raw.isdigit():
        found = ex.algos.open.get(int(raw))
    elif client:
        found = next((a for a in ex.algos.open.values() if a.client_algo_id == client), None)
    else:
        return errors.missing("algoId")
    if found is None:
        return errors.UNKNOWN_ORDER
    _close(ex, found, "CANCELED")
    return found


def cancel_all(ex: PaperExchange, symbol: str | None) -> list[AlgoOrder]:
    closed = [a for a in ex.algos.open.values() if symbol is None or a.spec.symbol == symbol]
    for algo in closed:
        _close(ex, algo, "CANCELED")
    return closed


def _close(ex: PaperExchange, algo: AlgoOrder, status: str) -> None:
    algo.status = status
    algo.update_time = ex.now()
    ex.algos.open.pop(algo.algo_id, None)
    _emit(ex, algo)


def check_triggers(ex: PaperExchange, symbols: Collection[str]) -> None:
    for algo in list(ex.algos.open.values()):
        symbol = algo.spec.symbol
        if symbol in symbols and algo.triggers_at(ex.ledger.mark[symbol]):
            _trigger(ex, algo)


def _trigger(ex: PaperExchange, algo: AlgoOrder) -> None:
    now = ex.now()
    algo.trigger_time = now
    algo.status = "TRIGGERED"
    ex.algos.open.pop(algo.algo_id, None)
    _emit(ex, algo)
    params = {
        "symbol": algo.spec.symbol,
        "side": algo.side,
        "type": "MARKET" if algo.type.endswith("_MARKET") else "LIMIT",
        "positionSide": algo.position_side,
    }
    qty = algo.quantity
    if algo.close_position:
        legs = ex.ledger.legs("UM", algo.spec.symbol)
        qty = sum((abs(p.amount) for p in legs if p.side == algo.position_side), ZERO)
        if qty == 0:
            _close(ex, algo, "EXPIRED")
            return
    params["quantity"] = str(qty)
    if params["type"] == "LIMIT":
        params["price"] = str(algo.price)
        params["timeInForce"] = algo.time_in_force
    if (algo.reduce_only or algo.close_position) and not ex.ledger.dual_side:
        params["reduceOnly"] = "true"
    result = futures.place(ex, "UM", params)
    if isinstance(result, BinanceError):
        _close(ex, algo, "REJECTED")
        return
    algo.order = result
    _close(ex, algo, "FINISHED")


def render(algo: AlgoOrder) -> dict[str, Any]:
    """REST shape of an algo order (binance-pm.md §2.3 "New UM Algo Order" response keys)."""
    f = algo.spec.filters
    return {
        "algoId": algo.algo_id,
        "clientAlgoId": algo.client_algo_id,
        "algoType": "CONDITIONAL",
        "orderType": algo.type,
        "symbol": algo.spec.symbol,
        "side": algo.side,
        "positionSide": algo.position_side,
        "timeInForce": algo.time_in_force,
        "quantity": fmt_step(algo.quantity, f.step_size),
        "algoStatus": algo.status,
        "triggerPrice": fmt_step(algo.trigger_price, f.tick_size),
        "price": fmt_step(algo.price, f.tick_size),
        "selfTradePreventionMode": "NONE",
        "workingType": algo.working_type,
        "priceMatch": "NONE",
        "closePosition": algo.close_position,
        "priceProtect": algo.price_protect,
        "reduceOnly": algo.reduce_only,
        "createTime": algo.create_time,
        "updateTime": algo.update_time,
        "triggerTime": algo.trigger_time,
        "goodTillDate": 0,
    }
