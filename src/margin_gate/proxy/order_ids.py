"""Which client id confirms a reservation on the user stream, and injecting one when the bot
sent none (docs/state.md: reservations are keyed by the id the stream will carry).

| engine route | parameter the gateway sets when absent |
|---|---|
| um/cm/fapi/dapi/margin/spot orders | `newClientOrderId` |
| algo orders (papi um algo, fapi/dapi algoOrder) | `clientAlgoId` |
| PAPI conditional orders | `newClientStrategyId` |
| batchOrders | `newClientOrderId` inside each JSON element (`<id>-<i>`) |
| margin OCO | `limitClientOrderId` (the stop leg's fill is confirmed by the TTL) |
| modify (PUT) | none: reserved as `<origClientOrderId>#<request id>` |
| loans | none: reserved as `mg-<request id>`, confirmed by `liabilityChange` |

Injected ids are `mg-<request id>`: ≤ 36 characters of `[A-Za-z0-9-]` (Binance's limit).
"""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from margin_gate.margin.routes import RouteKind
from margin_gate.wire.params import Params

__all__ = ["ClientIds", "client_ids"]

_PARAM: dict[str, str] = {
    "um_order": "newClientOrderId",
    "cm_order": "newClientOrderId",
    "fapi_order": "newClientOrderId",
    "dapi_order": "newClientOrderId",
    "margin_order": "newClientOrderId",
    "spot_order": "newClientOrderId",
    "um_algo": "clientAlgoId",
    "cm_algo": "clientAlgoId",
    "um_conditional": "newClientStrategyId",
    "cm_conditional": "newClientStrategyId",
    "margin_oco": "limitClientOrderId",
}


@dataclass(frozen=True, slots=True)
class ClientIds:
    """Reservation ids and stream client ids (one per batch element), and the params to send."""

    reservation_ids: tuple[str, ...]
    stream_ids: tuple[str | None, ...]
    params: Params  # the bot's params, plus any id we injected


def _with(params: Params, name: str, value: str) -> Params:
    return Params((*params.items_, (name, value)), params.signature, params.signed_payload)


def _replace(params: Params, name: str, value: str) -> Params:
    items = tuple((k, value if k == name else v) for k, v in params.items_)
    return Params(items, params.signature, params.signed_payload)


def client_ids(
    route: RouteKind, params: Params, request_id: str, modify_target: str | None = None
) -> ClientIds:
    """The ids for one order. `modify_target`: the original's client id when known."""
    own = f"mg-{request_id}"
    name = _PARAM.get(route)
    if name is not None:
        given = params.get(name)
        if given:
            return ClientIds((given,), (given,), params)
        return ClientIds((own,), (own,), _with(params, name, own))
    if route in ("um_batch", "cm_batch"):
        return _batch(params, own)
    if route in ("um_modify", "cm_modify"):
        original = params.get("origClientOrderId") or modify_target
        rid = f"{original or own}#{request_id}"
        return ClientIds((rid,), (original or rid,), params)
    return ClientIds((own,), (None,), params)  # loans


def _batch(params: Params, own: str) -> ClientIds:
    elements = orjson.loads(params.get("batchOrders", "[]"))
    ids: list[str] = []
    changed = False
    for i, element in enumerate(elements):
        given = element.get("newClientOrderId")
        if not given:
            given = element["newClientOrderId"] = f"{own}-{i}"
            changed = True
        ids.append(str(given))
    sent = params
    if changed:
        sent = _replace(params, "batchOrders", orjson.dumps(elements).decode())
    return ClientIds(tuple(ids), tuple(ids), sent)
