"""A cheap upstream for the benchmark when nginx is missing: a raw uvloop HTTP/1.1 responder
that answers every request with the same 406-byte order ack (keep-alive, no parsing beyond
finding the end of headers and Content-Length). Usage: python bench/_upstream.py PORT"""

from __future__ import annotations

import asyncio
import sys

import uvloop

from _load import ORDER_ACK

_RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nX-MBX-USED-WEIGHT-1M: 1\r\n"
    b"X-MBX-ORDER-COUNT-1M: 1\r\nContent-Length: "
    + str(len(ORDER_ACK)).encode()
    + b"\r\n\r\n"
    + ORDER_ACK
)


class _Responder(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].lower()
            length = 0
            at = head.find(b"content-length:")
            if at >= 0:
                length = int(head[at + 15 :].split(b"\r\n", 1)[0])
            if len(self.buffer) < end + 4 + length:
                return
            self.buffer = self.buffer[end + 4 + length :]
            self.transport.write(_RESPONSE)  # type: ignore[attr-defined]


async def main(port: int) -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(_Responder, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    uvloop.run(main(int(sys.argv[1])))
