"""JSON logs: one line per event (the `logging` module) and one per request (`RequestLogger`),
each with the request id, every line passed through the secret redactor.

    configure_logging("info", json=True, secrets=secrets_from_settings(settings))
    request_id.set(rid)                    # in the handler: every log line of this request
    log = RequestLogger(redactor=...)      # a RequestObserver: one line per finished request
    log.start()                            # lifespan start-up (flushes every 200 ms)
    log.close()                            # lifespan shutdown (final flush)

Event lines: `{"ts","level","logger","msg","request_id"?, <extra fields>, "exc"?}`.
Request lines: `{"ts","level":"info","logger":"margin_gate.request","msg":"request",
"request_id","method","path","route","bot","account","status","code","rule","fate",
"msg_detail","duration_ms"}` — names, never keys or parameters (the audit log holds the parameters).

The request line bypasses `logging` (≈4 µs instead of ≈11 µs per line, bench/_ops_cost.py):
it is built with orjson, redacted, buffered, and written to the same file descriptor as the
event lines with one `os.write` per flush, so lines never interleave mid-line; a request line can
appear up to one flush interval after event lines logged later.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import time
from collections.abc import Iterable
from contextvars import ContextVar
from typing import Any
from typing import TextIO

import orjson

from margin_gate.ops.redact import Redactor
from margin_gate.proxy.gate import RequestRecord

__all__ = [
    "JsonFormatter",
    "RedactionFilter",
    "RequestLogger",
    "TextFormatter",
    "configure_logging",
    "own_uvicorn_loggers",
    "reclaim_uvicorn_loggers",
    "request_id",
]

request_id: ContextVar[str | None] = ContextVar("margin_gate_request_id", default=None)

_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", (), None).__dict__) | {
    "message",
    "asctime",
    "request_id",
    "color_message",  # uvicorn's msg with ANSI colours, for its own formatter
}
_TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


def _iso(t: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t * 1000) % 1000:03d}Z"


class JsonFormatter(logging.Formatter):
    """One orjson line per record; the whole line then goes through the redactor."""

    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__()
        self._redactor = redactor or Redactor()

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": _iso(record.created),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        rid = getattr(record, "request_id", None) or request_id.get()
        if rid is not None:
            out["request_id"] = rid
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_") and key not in out:
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exc"] = record.exc_text
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        line = orjson.dumps(out, default=repr, option=orjson.OPT_NON_STR_KEYS).decode()
        return self._redactor.mask(line)


class TextFormatter(logging.Formatter):
    """The classic text line (for a terminal), redacted like the JSON one."""

    def __init__(self, redactor: Redactor | None = None) -> None:
        super().__init__(_TEXT_FORMAT)
        self._redactor = redactor or Redactor()

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        rid = getattr(record, "request_id", None) or request_id.get()
        if rid is not None:
            line = f"{line} [request_id={rid}]"
        return self._redactor.mask(line)


class RedactionFilter(logging.Filter):
    """For handlers margin-gate does not own: masks secrets in the message, its arguments and
    the exception text before any formatter sees them."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self._redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        r = self._redactor
        if not r:
            return True
        message = record.getMessage()
        masked = r.mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = r.mask(record.exc_text)
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD and isinstance(value, str):
                setattr(record, key, r.mask(value))
        return True


def configure_logging(
    level: str,
    *,
    json: bool = True,
    secrets: Iterable[str | bytes] = (),
    stream: TextIO | None = None,
    access_log: bool = False,
) -> logging.Handler:
    """Route every logger (uvicorn's included: run it with `log_config=None`) to one handler on
    `stream` (stderr) at `level`, formatting JSON lines (or text) with `secrets` masked.
    uvicorn's access log (`uvicorn.access`) stays silent unless `access_log`."""
    redactor = Redactor(secrets)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(redactor) if json else TextFormatter(redactor))
    handler.addFilter(RedactionFilter(redactor))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    global _configured
    _configured = access_log
    own_uvicorn_loggers(access_log=access_log)
    return handler


_configured: bool | None = None  # configure_logging ran in this process (its access_log)


def reclaim_uvicorn_loggers() -> None:
    """After starting another uvicorn server in-process (the paper exchange with
    `[upstream] target = "paper"`, whose default `log_config` re-points uvicorn's loggers at
    its own text handler and mutes them at "warning"): give them back to the handler
    `configure_logging` installed. A no-op when it was not called (tests, embedding)."""
    if _configured is not None:
        own_uvicorn_loggers(access_log=_configured)


_UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")


def own_uvicorn_loggers(*, access_log: bool = False) -> None:
    """Make uvicorn's loggers plain children of the root: no handlers of their own, propagate,
    level NOTSET (the root's level decides), enabled. A uvicorn server configured with its
    default `log_config` (any `uvicorn.Config` in the same process, e.g. an earlier test's)
    gives them their own handlers, `propagate = False` and `log_level`'s level; `serve` runs
    uvicorn with `log_config=None`, so after this they stay ours.

    `uvicorn.access` propagates only with `access_log`: uvicorn logs a request line whenever
    that logger has a handler anywhere up the tree (query strings, signatures included)."""
    for name in _UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        for old in list(logger.handlers):
            logger.removeHandler(old)
        logger.propagate = access_log if name == "uvicorn.access" else True
        logger.setLevel(logging.NOTSET)
        logger.disabled = False


class RequestLogger:
    """A `RequestObserver` that writes one JSON line per request (see the module docstring).

    Without `start()` (tests, tools) every line is written at once; after `start()` lines are
    buffered and flushed every `flush_interval_s`, or as soon as `max_buffer` bytes wait."""

    __slots__ = (
        "_buffer",
        "_fd",
        "_handle",
        "_interval",
        "_loop",
        "_masked",
        "_max",
        "_redactor",
        "_second",
        "_ts_prefix",
        "dropped",
        "lines",
    )

    def __init__(
        self,
        *,
        fd: int = 2,
        redactor: Redactor | None = None,
        flush_interval_s: float = 0.2,
        max_buffer: int = 64 * 1024,
    ) -> None:
        self._fd = fd
        self._redactor = redactor or Redactor()
        self._interval = flush_interval_s
        self._max = max_buffer
        self._masked: dict[str, str] = {}
        self._buffer = bytearray()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._handle: asyncio.TimerHandle | None = None
        self._second = -1
        self._ts_prefix = ""
        self.lines = 0
        self.dropped = 0  # lines lost to a failed write

    def observe(self, record: RequestRecord) -> None:
        route = record.route
        masked = self._masked
        clean = self._clean
        path, bot, account, rule, msg = (
            record.path,
            record.bot,
            record.account,
            record.rule,
            record.msg,  # the error we answered with
        )
        # Every free-text field is masked (memoized: paths, names and rules repeat; a regex
        # over 20 random 64-char secrets costs ≈5 µs), so the line needs no second scan.
        line = {
            "ts": self._ts(),
            "level": "info",
            "logger": "margin_gate.request",
            "msg": "request",
            "request_id": record.request_id,
            "method": record.method,
            "path": masked.get(path) or clean(path),
            "route": route.kind if route is not None else None,
            "bot": None if bot is None else masked.get(bot) or clean(bot),
            "account": None if account is None else masked.get(account) or clean(account),
            "status": record.status,
            "code": record.code,
            "rule": None if rule is None else masked.get(rule) or clean(rule),
            "fate": record.fate,
            "msg_detail": None if msg is None else masked.get(msg) or clean(msg),
            "duration_ms": round(record.duration_ms, 3),
        }
        self._emit(orjson.dumps(line, default=repr, option=orjson.OPT_APPEND_NEWLINE))

    def write(self, fields: dict[str, Any], msg: str = "request") -> None:
        """One line: `ts`, level info, logger margin_gate.request, `msg`, then `fields`
        (the whole line is redacted)."""
        self._emit(self._redactor.mask_bytes(self._line(fields, msg)))

    def _clean(self, value: str | None) -> str | None:
        if value is None:
            return None
        masked = self._masked.get(value)
        if masked is None:
            masked = self._redactor.mask(value)
            if len(self._masked) >= 4096:
                self._masked.clear()
            self._masked[value] = masked
        return masked

    def _ts(self) -> str:
        now = time.time()
        second = int(now)
        if second != self._second:
            self._second = second
            self._ts_prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
        return f"{self._ts_prefix}.{int(now * 1000) % 1000:03d}Z"

    def _line(self, fields: dict[str, Any], msg: str) -> bytes:
        head = {"ts": self._ts(), "level": "info", "logger": "margin_gate.request", "msg": msg}
        return orjson.dumps(head | fields, default=repr, option=orjson.OPT_APPEND_NEWLINE)

    def _emit(self, line: bytes) -> None:
        self.lines += 1
        if self._loop is None:
            self._write(line)
            return
        # A bytearray, not a list of the lines: keeping orjson's output objects alive costs
        # ≈1.4 µs each (allocator), copying them into one buffer ≈0.2 µs.
        self._buffer += line
        if len(self._buffer) >= self._max:
            self.flush()

    def start(self) -> None:
        """Buffer from now on, flushing periodically on the running loop."""
        self._loop = asyncio.get_running_loop()
        self._handle = self._loop.call_later(self._interval, self._tick)

    def _tick(self) -> None:
        self.flush()
        if self._loop is not None:
            self._handle = self._loop.call_later(self._interval, self._tick)

    def flush(self) -> None:
        if not self._buffer:
            return
        data = bytes(self._buffer)
        del self._buffer[:]
        self._write(data)

    def close(self) -> None:
        """Stop the timer and write what is buffered. Idempotent."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._loop = None
        self.flush()

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                written = os.write(self._fd, view)
                view = view[written:]
        except OSError:
            self.dropped += bytes(view).count(b"\n")
            with contextlib.suppress(OSError):
                os.write(2, b'{"level":"error","msg":"request log write failed"}\n')
