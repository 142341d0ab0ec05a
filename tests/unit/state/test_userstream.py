"""The user stream's read loop: messages are handled in arrival order; consecutive events
that arrived together reach `on_events` as one batch, which ends after a listenKeyExpired and
before any other message (a pong, a ping, a close)."""

from __future__ import annotations

import asyncio
from typing import Any
from typing import cast

import aiohttp
import orjson
import pytest

from margin_gate.state.userstream import UserStream
from tests.unit.state.builders import clock
from tests.unit.state.builders import config

TEXT, PING, PONG, CLOSE = (
    aiohttp.WSMsgType.TEXT,
    aiohttp.WSMsgType.PING,
    aiohttp.WSMsgType.PONG,
    aiohttp.WSMsgType.CLOSE,
)


def text(event: dict[str, Any]) -> aiohttp.WSMessage:
    return aiohttp.WSMessage(TEXT, orjson.dumps(event).decode(), None)


def control(kind: aiohttp.WSMsgType) -> aiohttp.WSMessage:
    return aiohttp.WSMessage(kind, b"p" if kind in (PING, PONG) else None, None)


class FakeWs:
    """Hands out its messages in bursts: a burst is what arrives together."""

    def __init__(self, bursts: list[list[aiohttp.WSMessage]], log: list[Any]) -> None:
        self.bursts = bursts
        self.ready: list[aiohttp.WSMessage] = []
        self.close_code = 1000
        self.log = log

    async def receive(self) -> aiohttp.WSMessage:
        while not self.ready:
            await asyncio.sleep(0.001)  # the next burst arrives while the last is handled
            if not self.bursts:
                raise ConnectionResetError("no more messages")
            self.ready = self.bursts.pop(0)
        return self.ready.pop(0)

    async def pong(self, data: bytes) -> None:
        self.log.append("pong sent")

    def exception(self) -> None:
        return None


async def read(
    bursts: list[list[aiohttp.WSMessage]], log: list[Any] | None = None
) -> tuple[UserStream, list[Any]]:
    ws = FakeWs(bursts, [] if log is None else log)

    async def on_events(events: list[dict[str, Any]]) -> bool:
        ws.log.append([e["e"] for e in events])
        return all(e["e"] != "listenKeyExpired" for e in events)

    async def on_alive() -> None:
        ws.log.append("alive")

    async def nothing(*_: Any) -> None:
        return None

    stream = UserStream(
        cast(Any, None),
        cast(Any, None),
        "ws://x",
        config(),
        clock(),
        on_events=on_events,
        on_connected=nothing,
        on_alive=on_alive,
        on_down=nothing,
    )
    await stream._read(cast(Any, ws))
    return stream, ws.log


async def test_events_that_arrive_together_are_one_batch_in_order() -> None:
    stream, log = await read(
        [
            [text({"e": "A"}), text({"e": "B"}), control(PONG), text({"e": "C"})],
            [control(PING)],
            [text({"e": "D"})],
            [control(CLOSE)],
        ]
    )
    assert log == [["A", "B"], "alive", ["C"], "pong sent", ["D"]]
    assert stream.events == 4
    assert stream.last_error == "user stream closed by peer (1000)"


async def test_a_batch_ends_at_listen_key_expired_and_the_rest_is_dropped() -> None:
    stream, log = await read(
        [[text({"e": "A"}), text({"e": "listenKeyExpired"}), text({"e": "B"})], [text({"e": "C"})]]
    )
    assert log == [["A", "listenKeyExpired"]]
    assert stream.last_error == "listenKeyExpired"
    assert stream.key_recreations == 1


async def test_a_receive_error_ends_the_read_after_what_came_before() -> None:
    log: list[Any] = []
    with pytest.raises(ConnectionResetError):
        await read([[text({"e": "A"})]], log)
    assert log == [["A"]]


async def test_undecodable_text_raises_after_the_events_before_it() -> None:
    log: list[Any] = []
    bad = aiohttp.WSMessage(TEXT, "{not json", None)
    with pytest.raises(orjson.JSONDecodeError):
        await read([[text({"e": "A"}), bad, text({"e": "B"})]], log)
    assert log == [["A"]]
