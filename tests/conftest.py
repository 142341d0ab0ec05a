"""Session-wide fixtures. Redis: a real server; missing Redis fails the run under CI."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator

import pytest

from tests.support.servers import free_port


def _ping(url: str) -> bool:
    import redis

    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=0.5)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:
        return False


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """URL of a real Redis: MG_TEST_REDIS_URL, else a private redis-server on a free port,
    else the machine's 127.0.0.1:6379. Under CI a missing Redis is a failure, not a skip."""
    url = os.environ.get("MG_TEST_REDIS_URL")
    proc: subprocess.Popen[bytes] | None = None
    if url is None and shutil.which("redis-server"):
        port = free_port()
        proc = subprocess.Popen(
            [
                "redis-server",
                "--bind",
                "127.0.0.1",
                "--port",
                str(port),
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        url = f"redis://127.0.0.1:{port}/0"
        deadline = time.monotonic() + 10
        while not _ping(url) and time.monotonic() < deadline:
            time.sleep(0.05)
    if url is None or not _ping(url):
        url = "redis://127.0.0.1:6379/0"
    if not _ping(url):
        if proc is not None:
            proc.kill()
        message = f"no Redis reachable (tried {url}); start one with scripts/ensure-redis"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    try:
        yield url
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=10)


@pytest.fixture
def redis_prefix() -> str:
    """A key prefix unique to one test, so tests never see each other's keys."""
    return f"mgtest-{uuid.uuid4().hex[:12]}"
