"""Exchange-side liquidation below the liquidation level, and manual margin liquidation.

`begin` (uniMMR < 1.05): the account goes FORCE_LIQUIDATION, order entry answers -3048 and
cross-margin open orders are cancelled at once (binance-pm.md §1.3, §1.8). The app then runs
`run` after `RiskSettings.liquidation_delay_ms` (the control API can hold it), which:
1. cancels the remaining open and algo orders;
2. closes every futures position with an IOC LIQUIDATION order (client id `autoclose-...`)
   at mark ± spread, and charges the clearance fee (rate × notional) as INSURANCE_CLEAR;
3. if loans or negative futures wallets remain, nets each asset's futures wallets into the
   cross-margin wallet (a net negative becomes a loan), repays loans from their own asset and
   sells other collateral for the rest (direct pair, or through USDT);
4. returns the account to its band, or BANKRUPTED if actual equity is negative or nothing
   could be done. Modelling choices (all positions closed at once, no ADL, no insurance fund)
   are listed in docs/paper-exchange.md.
"""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING
from typing import Any

from margin_gate.paper import algo
from margin_gate.paper import events
from margin_gate.paper import futures
from margin_gate.paper import margin
from margin_gate.paper.futures import FuturesRequest
from margin_gate.paper.numbers import ONE
from margin_gate.paper.numbers import ZERO
from margin_gate.paper.numbers import ceil_to
from margin_gate.paper.numbers import floor_to
from margin_gate.paper.orders import Order
from margin_gate.paper.schema import MarginSymbol

if TYPE_CHECKING:
    from margin_gate.paper.engine import PaperExchange

__all__ = ["begin", "has_work", "liquidate_margin", "run"]

_STABLES = ("USDT", "USDC", "FDUSD", "BUSD")
Hop = tuple[MarginSymbol, bool]  # (symbol, buy base with quote?)


def has_work(ex: PaperExchange) -> bool:
    """Whether a liquidation could change anything: positions, or debts and something to pay."""
    if any(True for _ in ex.ledger.open_positions()):
        return True
    balances = ex.ledger.balances.values()
    in_debt = any(b.liability > 0 or b.um_wallet < 0 or b.cm_wallet < 0 for b in balances)
    has_assets = any(b.free > 0 or b.um_wallet > 0 or b.cm_wallet > 0 for b in balances)
    return in_debt and has_assets


def begin(ex: PaperExchange) -> None:
    ex.liquidating = True
    ex.status = "FORCE_LIQUIDATION"
    margin.cancel_all(ex, None)
    ex.sink.liquidation_due()


def run(ex: PaperExchange) -> None:
    if not ex.liquidating:
        return
    futures.cancel_all(ex, "UM", None)
    futures.cancel_all(ex, "CM", None)
    algo.cancel_all(ex, None)
    progress = _close_positions(ex)
    debts = any(
        b.liability > 0 or b.um_wallet < 0 or b.cm_wallet < 0 for b in ex.ledger.balances.values()
    )
    if debts:
        _collect(ex)
        progress = bool(liquidate_margin(ex)) or progress
    ex.liquidating = False
    snap = ex.risk()
    if snap.actual_equity < 0 or not progress:
        ex.bankrupt = True
        ex.status = "BANKRUPTED"
        return
    ex.status = "NORMAL"
    ex.after_change()


def _close_positions(ex: PaperExchange) -> bool:
    now = ex.now()
    dual = ex.ledger.dual_side
    rate = ex.state.risk.clearance_fee_rate
    done = False
    for seq, pos in enumerate(list(ex.ledger.open_positions()), start=1):
        spec = ex.state.futures_symbol(pos.symbol)
        assert spec is not None
        req = FuturesRequest(
            spec=spec,
            side="SELL" if pos.amount > 0 else "BUY",
            type="MARKET",
            time_in_force="IOC",
            quantity=abs(pos.amount),
            price=ZERO,
            position_side=pos.side,
            reduce_only=not dual,
            client_id=f"autoclose-{now}{seq:03d}",
            good_till_date=0,
            stp="NONE",
            order_type_label="LIQUIDATION",
        )
        order = futures.place_request(ex, req)
        if not isinstance(order, Order) or not order.fills:
            continue
        done = True
        notional = order.cum_quote  # UM: quote; CM: coin
        fee = notional * rate
        bal = ex.ledger.balance(spec.margin_asset)
        if spec.kind == "UM":
            bal.um_wallet -= fee
            wallet = bal.um_wallet
        else:
            bal.cm_wallet -= fee
            wallet = bal.cm_wallet
        ex.ledger.touch(now)
        ex.emit(
            events.account_update,
            spec.kind,
            "INSURANCE_CLEAR",
            [(spec.margin_asset, wallet, -fee)],
            [],
            now=now,
            txn_time=now,
        )
    return done


def _collect(ex: PaperExchange) -> None:
    """Net futures wallets into cross margin; a net negative asset becomes a loan."""
    now = ex.now()
    for bal in list(ex.ledger.balances.values()):
        for kind in ("UM", "CM"):
            amount = bal.um_wallet if kind == "UM" else bal.cm_wallet
            if not amount:
                continue
            if kind == "UM":
                bal.um_wallet = ZERO
            else:
                bal.cm_wallet = ZERO
            bal.free += amount
            ex.emit(
                events.account_update,
                kind,
                "MARGIN_TRANSFER",
                [(bal.asset, ZERO, -amount)],
                [],
                now=now,
                txn_time=now,
            )
            ex.emit(
                events.balance_update, bal.asset, amount, now=now, update_id=ex.next_update_id()
            )
        if bal.free < 0:
            bal.borrowed += -bal.free
            bal.free = ZERO
    ex.ledger.touch(now)


def _pair(ex: PaperExchange, src: str, dst: str) -> Hop | None:
    for spec in ex.state.margin_symbols.values():
        if spec.base == dst and spec.quote == src:
            return spec, True
        if spec.base == src and spec.quote == dst:
            return spec, False
    return None


def _route(ex: PaperExchange, src: str, dst: str) -> list[Hop] | None:
    direct = _pair(ex, src, dst)
    if direct is not None:
        return [direct]
    for hub in _STABLES:
        if hub in (src, dst):
            continue
        first, second = _pair(ex, src, hub), _pair(ex, hub, dst)
        if first is not None and second is not None:
            return [first, second]
    return None


def _hop(ex: PaperExchange, hop: Hop, have: Decimal, want: Decimal, cid: str) -> Decimal:
    """Trade at most `have` of the paying asset for about `want` of the other; returns received."""
    spec, buy = hop
    f = spec.filters
    keep = ONE - spec.taker
    price = ex.margin_taker_price(spec, buy)
    if buy:
        qty = min(ceil_to(want / keep, f.step_size), floor_to(have / price, f.step_size))
    else:
        qty = min(ceil_to(want / (price * keep), f.step_size), floor_to(have, f.step_size))
    if qty <= 0:
        return ZERO
    order = margin.execute_market(ex, spec, buy, qty, cid)
    fill = order.fills[-1]
    return fill.qty - fill.commission if buy else fill.quote_qty - fill.commission


def _value_order(ex: PaperExchange, asset: str) -> tuple[int, Decimal]:
    bal = ex.ledger.balance(asset)
    return (0 if asset in _STABLES else 1, -bal.free * ex.ledger.asset_index[asset])


def liquidate_margin(ex: PaperExchange) -> list[dict[str, Any]]:
    """Repay every cross-margin loan from its own asset, then by selling other collateral.

    Returns the `POST /sapi/v1/margin/manual-liquidation` items: asset repaid, interest and
    principal repaid, the asset spent (`liabilityAsset`) and how much of it (`liabilityQty`)."""
    now = ex.now()
    items: list[dict[str, Any]] = []
    touched: list[str] = []
    debts = [b for b in ex.ledger.balances.values() if b.liability > 0]
    debts.sort(key=lambda b: -b.liability * ex.ledger.asset_index[b.asset])
    for debt in debts:
        asset = debt.asset
        touched.append(asset)
        if debt.free > 0:
            interest, principal = margin.repay_debt(ex, asset, debt.liability, now)
            items.append(_item(asset, interest, principal, asset, interest + principal))
        candidates = [
            b.asset
            for b in ex.ledger.balances.values()
            if b.asset != asset and b.free > 0 and b.liability == 0
        ]
        for source in sorted(candidates, key=lambda a: _value_order(ex, a)):
            if debt.liability <= 0:
                break
            route = _route(ex, source, asset)
            if route is None:
                continue
            cid = f"autoclose-{now}-{len(items) + 1}"
            src_bal = ex.ledger.balance(source)
            before = src_bal.free
            want = debt.liability
            if len(route) == 2:
                hub_spec, hub_buy = route[1]
                hub_price = ex.margin_taker_price(hub_spec, hub_buy)
                hub_want = want / (ONE - hub_spec.taker) * hub_price * Decimal("1.001")
                got_hub = _hop(ex, route[0], src_bal.free, hub_want, cid + "a")
                got = _hop(ex, route[1], got_hub, want, cid + "b")
            else:
                got = _hop(ex, route[0], src_bal.free, want, cid)
            spent = before - src_bal.free
            touched.append(source)
            if got <= 0:
                continue
            interest, principal = margin.repay_debt(ex, asset, got, now)
            items.append(_item(asset, interest, principal, source, spent))
    if touched:
        balances = [ex.ledger.balance(a) for a in dict.fromkeys(touched)]
        ex.emit(events.outbound_account_position, balances, now=now, update_id=ex.next_update_id())
    return items


def _item(
    asset: str, interest: Decimal, principal: Decimal, spent_asset: str, spent: Decimal
) -> dict[str, Any]:
    return {
        "asset": asset,
        "interest": interest,
        "principal": principal,
        "liabilityAsset": spent_asset,
        "liabilityQty": spent,
    }
