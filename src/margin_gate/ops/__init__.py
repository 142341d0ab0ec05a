"""Operations: metrics, JSON logs, health/readiness endpoints and graceful shutdown (issue 8).

    metrics.py    GatewayMetrics: hot-path counters/histograms + scrape-time gauges; render()
    collect.py    scrape-time families: per-account gauges, streams, audit counters
    samples.py    scrape-time readings of the state store, stream supervisors, readiness
    observers.py  MetricsObserver, FanOut (RequestObservers for the gateway)
    logging.py    configure_logging, JsonFormatter, RedactionFilter, RequestLogger, request_id
    redact.py     Redactor, secrets_from_settings: the secret-masking backstop
    health.py     OpsEndpoints: /healthz, /readyz, /metrics (pure ASGI)
    shutdown.py   InFlight, ShutdownSequence, install_exit_deadline
    kit.py        OpsKit: all of the above for one process, what the app wires

docs/deployment.md shows how they are wired and deployed.
"""

from margin_gate.ops.health import OPS_PATHS
from margin_gate.ops.health import OpsEndpoints
from margin_gate.ops.kit import OpsKit
from margin_gate.ops.logging import RequestLogger
from margin_gate.ops.logging import configure_logging
from margin_gate.ops.logging import request_id
from margin_gate.ops.metrics import GatewayMetrics
from margin_gate.ops.observers import FanOut
from margin_gate.ops.observers import MetricsObserver
from margin_gate.ops.redact import Redactor
from margin_gate.ops.redact import secrets_from_settings
from margin_gate.ops.samples import AccountSample
from margin_gate.ops.samples import Readiness
from margin_gate.ops.samples import StreamSample
from margin_gate.ops.samples import account_readiness
from margin_gate.ops.samples import account_samples
from margin_gate.ops.samples import stream_samples
from margin_gate.ops.shutdown import InFlight
from margin_gate.ops.shutdown import ShutdownSequence
from margin_gate.ops.shutdown import install_exit_deadline

__all__ = [
    "OPS_PATHS",
    "AccountSample",
    "FanOut",
    "GatewayMetrics",
    "InFlight",
    "MetricsObserver",
    "OpsEndpoints",
    "OpsKit",
    "Readiness",
    "Redactor",
    "RequestLogger",
    "ShutdownSequence",
    "StreamSample",
    "account_readiness",
    "account_samples",
    "configure_logging",
    "install_exit_deadline",
    "request_id",
    "secrets_from_settings",
    "stream_samples",
]
