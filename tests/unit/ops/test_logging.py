"""JSON logs: line shape, request id, the request logger, and secrets never reaching output."""

from __future__ import annotations

import asyncio
import contextvars
import io
import logging
import os
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest

from margin_gate.ops.logging import JsonFormatter
from margin_gate.ops.logging import RedactionFilter
from margin_gate.ops.logging import RequestLogger
from margin_gate.ops.logging import configure_logging
from margin_gate.ops.logging import request_id
from margin_gate.ops.redact import Redactor
from margin_gate.proxy.gate import RequestRecord
from margin_gate.proxy.routes import classify

SECRET = "xK9secretHMACvalue0123456789abcdefXYZ"
API_KEY = "apiKEYvalue0123456789abcdefghijklmnop"


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    configure_logging("debug", json=True, secrets=[SECRET, API_KEY.encode()], stream=stream)
    try:
        yield stream
    finally:
        for h in list(root.handlers):
            root.removeHandler(h)
        for h in saved[0]:
            root.addHandler(h)
        root.setLevel(saved[1])


def _lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in stream.getvalue().splitlines()]


def test_one_json_line_per_event_with_fields(captured: io.StringIO) -> None:
    logging.getLogger("margin_gate.test").warning(
        "stream %s down", "user", extra={"account": "main", "attempt": 3}
    )

    [line] = _lines(captured)
    assert set(line) == {"ts", "level", "logger", "msg", "account", "attempt"}
    assert line["level"] == "warning"
    assert line["logger"] == "margin_gate.test"
    assert line["msg"] == "stream user down"
    assert (line["account"], line["attempt"]) == ("main", 3)
    assert str(line["ts"]).endswith("Z")
    assert "T" in str(line["ts"])


def test_request_id_from_the_context(captured: io.StringIO) -> None:
    def handle() -> None:
        request_id.set("abc-1")
        logging.getLogger("margin_gate.proxy").info("upstream slow")

    contextvars.copy_context().run(handle)
    logging.getLogger("margin_gate.proxy").info("no request")

    first, second = _lines(captured)
    assert first["request_id"] == "abc-1"
    assert "request_id" not in second


def test_uvicorn_logs_go_to_the_same_json_handler(captured: io.StringIO) -> None:
    logging.getLogger("uvicorn.error").info("Started server process")

    [line] = _lines(captured)
    assert line["logger"] == "uvicorn.error"


def test_uvicorn_loggers_are_ours_after_a_uvicorn_config_reconfigured_them() -> None:
    # Arrange: any uvicorn.Config with its default log_config (an earlier test's server, the
    # embedded paper exchange) gives uvicorn's loggers their own handlers, levels, propagation
    import uvicorn

    uvicorn.Config(lambda *a: None, log_level="warning", access_log=False)
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    try:
        # Act
        configure_logging("info", json=True, stream=stream)
        uvicorn.Config(lambda *a: None, log_level="info", log_config=None)  # as serve runs it
        logging.getLogger("uvicorn.error").info("Shutting down")
        logging.getLogger("uvicorn").info("Started")
        logging.getLogger("uvicorn.access").info('127.0.0.1 - "GET /x?signature=ab HTTP/1.1"')
    finally:
        for h in list(root.handlers):
            root.removeHandler(h)
        for h in saved[0]:
            root.addHandler(h)
        root.setLevel(saved[1])
    # Assert: one JSON handler gets uvicorn's lines; the access log stays silent by default
    lines = _lines(stream)
    assert [(line["logger"], line["msg"]) for line in lines] == [
        ("uvicorn.error", "Shutting down"),
        ("uvicorn", "Started"),
    ]
    assert logging.getLogger("uvicorn.access").hasHandlers() is False


def test_uvicorn_access_log_when_asked_for() -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    try:
        configure_logging("info", json=True, stream=stream, access_log=True)
        logging.getLogger("uvicorn.access").info("GET /papi/v1/ping 200")
    finally:
        for h in list(root.handlers):
            root.removeHandler(h)
        for h in saved[0]:
            root.addHandler(h)
        root.setLevel(saved[1])
        configure_logging("info", json=True, stream=io.StringIO())  # access log off again
        for h in list(root.handlers):
            root.removeHandler(h)
        for h in saved[0]:
            root.addHandler(h)

    [line] = _lines(stream)
    assert line["logger"] == "uvicorn.access"


def test_secrets_never_reach_the_output(captured: io.StringIO) -> None:
    log = logging.getLogger("margin_gate.test")
    log.info("key is " + SECRET)
    log.info("args %s and %r", SECRET, API_KEY.encode())
    log.info("extra", extra={"detail": f"x{SECRET}y", "nested": {"k": API_KEY}})
    try:
        raise ValueError(f"bad secret {SECRET}")
    except ValueError:
        log.exception("failed")

    text = captured.getvalue()
    assert SECRET not in text
    assert API_KEY not in text
    assert text.count("***") >= 5
    assert len(_lines(captured)) == 4


def test_text_format_is_redacted_too() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        configure_logging("info", json=False, secrets=[SECRET], stream=stream)
        logging.getLogger("margin_gate.test").info("secret %s", SECRET)
    finally:
        for h in list(root.handlers):
            root.removeHandler(h)
        for h in saved[0]:
            root.addHandler(h)
        root.setLevel(saved[1])
    assert SECRET not in stream.getvalue()
    assert "secret ***" in stream.getvalue()


def test_redaction_filter_masks_records_for_foreign_handlers() -> None:
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "a %s b", (SECRET,), None)
    RedactionFilter(Redactor([SECRET])).filter(record)

    assert record.getMessage() == "a *** b"


def test_short_strings_are_not_treated_as_secrets() -> None:
    r = Redactor(["abc", "", "  ", SECRET])

    assert r.mask("abc and " + SECRET) == "abc and ***"
    assert len(r) == 1


def test_json_formatter_without_secrets_is_plain() -> None:
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "hello", None, None)

    assert orjson.loads(JsonFormatter().format(record))["msg"] == "hello"


def _record(path: str = "/papi/v1/um/order") -> RequestRecord:
    return RequestRecord(
        request_id="1f-2a-3",
        received_at_ms=0,
        method="POST",
        path=path,
        route=classify("POST", "/papi/v1/um/order"),
        bot="bot1",
        account="main",
        status=400,
        code=-2019,
        rule="gate.min_unimmr_after",
        fate="refused",
        duration_ms=0.2345,
    )


def test_request_logger_writes_one_line_per_request(tmp_path: Path) -> None:
    path = tmp_path / "log"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        log = RequestLogger(fd=fd, redactor=Redactor([SECRET]))
        log.observe(_record())
        log.observe(_record(path=f"/papi/v1/{SECRET}"))
    finally:
        os.close(fd)

    first, second = (orjson.loads(line) for line in path.read_bytes().splitlines())
    assert first["request_id"] == "1f-2a-3"
    assert first["msg"] == "request"
    assert (first["route"], first["bot"], first["rule"], first["status"]) == (
        "order",
        "bot1",
        "gate.min_unimmr_after",
        400,
    )
    assert first["duration_ms"] == 0.234 or first["duration_ms"] == 0.235
    assert "params" not in first
    assert SECRET not in path.read_text()
    assert second["path"] == "/papi/v1/***"


async def test_request_logger_buffers_and_flushes(tmp_path: Path) -> None:
    path = tmp_path / "log"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        log = RequestLogger(fd=fd, flush_interval_s=0.05)
        log.start()
        for _ in range(3):
            log.observe(_record())
        assert path.read_bytes() == b""  # buffered
        await asyncio.sleep(0.15)
        assert len(path.read_bytes().splitlines()) == 3  # the timer flushed
        log.observe(_record())
        log.close()
        assert len(path.read_bytes().splitlines()) == 4  # close flushed
        assert log.lines == 4
        assert log.dropped == 0
    finally:
        os.close(fd)


def test_request_logger_counts_lines_it_could_not_write() -> None:
    read, write = os.pipe()
    os.close(read)
    log = RequestLogger(fd=write)
    try:
        log.observe(_record())
    finally:
        os.close(write)

    assert log.dropped == 1
