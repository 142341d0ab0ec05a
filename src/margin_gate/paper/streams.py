"""WebSocket streams: the PM user data stream and the mark price streams (binance-pm.md §4).

- `/pm/ws/{listenKey}`: every user event of the account, as text frames, in engine order.
- `/ws/<stream>` and `/market/ws/<stream>`: one raw stream; `/stream?streams=a/b` and
  `/market/stream?streams=a/b`: combined `{"stream", "data"}` frames. Streams:
  `<symbol>@markPrice[@1s]` and `!markPrice@arr[@1s]` (UM symbols, like fstream). Clients may
  also send `{"method": "SUBSCRIBE" | "UNSUBSCRIBE", "params": [...], "id": n}`.
- Marks are pushed every second and at once when the control API moves a price.

`StreamHub` is the engine's `EventSink`: it serializes each event once and queues it to every
connection (bounded queues; a connection that cannot keep up is closed, never waited on).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection
from typing import TYPE_CHECKING
from typing import Any

import orjson
from starlette.websockets import WebSocket
from starlette.websockets import WebSocketDisconnect

from margin_gate.paper import events
from margin_gate.paper.listenkeys import ListenKeys
from margin_gate.paper.views_market import next_funding_time
from margin_gate.tasks import spawn

if TYPE_CHECKING:
    from margin_gate.paper.engine import PaperExchange

__all__ = ["StreamHub"]

_QUEUE = 10_000
_CLOSE = object()
_ARR = ("!markprice@arr", "!markprice@arr@1s")


class _Conn:
    def __init__(self, streams: Collection[str] = (), combined: bool = False) -> None:
        self.queue: asyncio.Queue[object] = asyncio.Queue(_QUEUE)
        self.streams = {s for s in streams if s}
        self.combined = combined
        self.close_code = 1000

    def push(self, item: object) -> None:
        try:
            self.queue.put_nowait(item)
        except asyncio.QueueFull:
            self.close(1008)

    def close(self, code: int) -> None:
        self.close_code = code
        while True:
            try:
                self.queue.put_nowait(_CLOSE)
                return
            except asyncio.QueueFull:
                self.queue.get_nowait()


class StreamHub:
    def __init__(self, keys: ListenKeys) -> None:
        self.keys = keys
        self.exchange: PaperExchange | None = None
        self._users: dict[str, set[_Conn]] = {}
        self._markets: set[_Conn] = set()
        self.liquidation_wakeup = asyncio.Event()
        self.liquidation_release = asyncio.Event()  # cleared while the control API holds it
        self.liquidation_release.set()

    # -- EventSink --

    @property
    def listening(self) -> bool:
        return bool(self._users)

    def user_event(self, event: dict[str, Any]) -> None:
        if not self._users:
            return
        text = orjson.dumps(event).decode()
        for conns in self._users.values():
            for conn in conns:
                conn.push(text)

    def prices_moved(self, symbols: Collection[str]) -> None:
        self.push_marks(set(symbols))

    def liquidation_due(self) -> None:
        self.liquidation_wakeup.set()

    # -- marks --

    def _mark(self, symbol: str, now: int) -> dict[str, Any] | None:
        ex = self.exchange
        assert ex is not None
        spec = ex.state.futures_symbol(symbol)
        if spec is None:
            return None
        return events.mark_price_update(
            spec, ex.ledger.mark[symbol], ex.ledger.index[symbol], next_funding_time(now), now=now
        )

    def push_marks(self, symbols: set[str] | None = None) -> None:
        """Send mark updates: all subscribed streams (None), or those of the moved symbols."""
        ex = self.exchange
        if ex is None or not self._markets:
            return
        now = ex.now()
        for conn in self._markets:
            for stream in conn.streams:
                payload = self._payload(stream, symbols, now)
                if payload is None:
                    continue
                data = {"stream": stream, "data": payload} if conn.combined else payload
                conn.push(orjson.dumps(data).decode())

    def _payload(self, stream: str, symbols: set[str] | None, now: int) -> Any:
        ex = self.exchange
        assert ex is not None
        lowered = stream.lower()
        if lowered in _ARR:
            um = ex.state.um_symbols
            if symbols is not None and not symbols & um.keys():
                return None
            return [self._mark(s, now) for s in um]
        symbol, _, kind = lowered.partition("@")
        if kind not in ("markprice", "markprice@1s"):
            return None
        upper = symbol.upper()
        if symbols is not None and upper not in symbols:
            return None
        return self._mark(upper, now)

    # -- lifecycle --

    def drop_users(self, code: int = 1001) -> int:
        """Close every user-stream connection (control API "drop the user stream")."""
        count = 0
        for conns in self._users.values():
            for conn in conns:
                conn.close(code)
                count += 1
        return count

    def expire(self, keys: Collection[str], now: int) -> None:
        """Send listenKeyExpired on each expired key's connections, then close them."""
        text = orjson.dumps(events.listen_key_expired(now)).decode()
        for key in keys:
            for conn in self._users.get(key, ()):
                conn.push(text)
                conn.close(1000)

    def hold_liquidation(self, hold: bool) -> None:
        if self.exchange is not None:
            self.exchange.liquidation_hold = hold
        if hold:
            self.liquidation_release.clear()
        else:
            self.liquidation_release.set()

    def reset(self) -> None:
        self.drop_users()
        self.keys.clear()

    async def tick_forever(self, interval: float = 1.0) -> None:
        while True:
            await asyncio.sleep(interval)
            ex = self.exchange
            if ex is None:
                continue
            gone = self.keys.pop_expired(ex.now())
            if gone:
                self.expire(gone, ex.now())
            self.push_marks(None)

    # -- endpoints --

    async def user_endpoint(self, websocket: WebSocket) -> None:
        key = websocket.path_params["listen_key"]
        ex = self.exchange
        if ex is None or not self.keys.is_valid(key, ex.now()):
            await websocket.close(code=1008)
            return
        conn = _Conn()
        self._users.setdefault(key, set()).add(conn)
        try:
            await self._serve(websocket, conn)
        finally:
            conns = self._users.get(key)
            if conns is not None:
                conns.discard(conn)
                if not conns:
                    del self._users[key]

    async def market_endpoint(self, websocket: WebSocket) -> None:
        if websocket.url.path.endswith("/stream"):
            names = websocket.query_params.get("streams", "")
            conn = _Conn(names.split("/"), combined=True)
        else:  # /ws/<stream>, or a bare /ws that SUBSCRIBEs later
            stream = websocket.path_params.get("stream")
            conn = _Conn([stream] if stream else [], combined=False)
        self._markets.add(conn)
        try:
            await self._serve(websocket, conn)
        finally:
            self._markets.discard(conn)

    async def _serve(self, websocket: WebSocket, conn: _Conn) -> None:
        await websocket.accept()
        writer = spawn(self._write(websocket, conn), name="paper-ws-writer")
        reader = spawn(self._read(websocket, conn), name="paper-ws-reader")
        _done, pending = await asyncio.wait({writer, reader}, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    @staticmethod
    async def _write(websocket: WebSocket, conn: _Conn) -> None:
        while True:
            item = await conn.queue.get()
            if item is _CLOSE:
                with contextlib.suppress(RuntimeError, OSError):
                    await websocket.close(code=conn.close_code)
                return
            assert isinstance(item, str)
            try:
                await websocket.send_text(item)
            except (WebSocketDisconnect, RuntimeError, OSError):
                return

    async def _read(self, websocket: WebSocket, conn: _Conn) -> None:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text:
                self._on_client_message(conn, text)

    @staticmethod
    def _on_client_message(conn: _Conn, text: str) -> None:
        try:
            request = orjson.loads(text)
        except orjson.JSONDecodeError:
            return
        if not isinstance(request, dict):
            return
        method, params = request.get("method"), request.get("params") or []
        if method == "SUBSCRIBE":
            conn.streams.update(p for p in params if isinstance(p, str))
        elif method == "UNSUBSCRIBE":
            conn.streams.difference_update(params)
        elif method == "LIST_SUBSCRIPTIONS":
            conn.push(
                orjson.dumps({"result": sorted(conn.streams), "id": request.get("id")}).decode()
            )
            return
        else:
            return
        conn.push(orjson.dumps({"result": None, "id": request.get("id")}).decode())
