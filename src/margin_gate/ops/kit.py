"""`OpsKit`: every operations piece of one gateway process, built once, so the app wires it in
a handful of lines (docs/deployment.md; the wiring steps are in ops/__init__.py).

    ops = OpsKit(secrets=secrets_from_settings(settings), drain_s=15, exit_within_s=25)
    # GatewayApp.__call__, first thing for http:
    if scope["path"] in OPS_PATHS: await ops.endpoints(scope, receive, send); return
    # lifespan, once the RiskGate's parts exist:
    ops.watch_state(risk.runtime, list(settings.accounts)); ops.watch_audit(audit_log)
    Gateway(observer=risk.audit, after=ops.after_answer(), ...)  # audit before the answer, metrics
    # and the log line after it (ops.observer(audit) chains all three, for tools and tests)
    ops.shutdown.add("state", risk.runtime.stop, timeout_s=5) ...; ops.start()
    # lifespan exit, before anything else closes:
    await ops.stop()
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from margin_gate.ops.health import OpsEndpoints
from margin_gate.ops.logging import RequestLogger
from margin_gate.ops.metrics import GatewayMetrics
from margin_gate.ops.observers import FanOut
from margin_gate.ops.observers import MetricsObserver
from margin_gate.ops.redact import Redactor
from margin_gate.ops.samples import Readiness
from margin_gate.ops.samples import account_readiness
from margin_gate.ops.samples import account_samples
from margin_gate.ops.samples import stream_samples
from margin_gate.ops.shutdown import InFlight
from margin_gate.ops.shutdown import ShutdownSequence
from margin_gate.ops.shutdown import StepResult
from margin_gate.ops.shutdown import install_exit_deadline
from margin_gate.proxy.gate import RequestObserver

__all__ = ["OpsKit"]

_STARTING = (Readiness("gateway", False, "starting"),)


class OpsKit:
    """Metrics, in-flight count, shutdown sequence, request log and the ops endpoints."""

    def __init__(
        self,
        *,
        secrets: Iterable[str | bytes] = (),
        drain_s: float = 15.0,
        exit_within_s: float = 25.0,
        request_log: bool = True,
        allow: Iterable[str] | None = None,
        process_metrics: bool = True,
    ) -> None:
        self.redactor = Redactor(secrets)
        self.exit_within_s = exit_within_s
        self.metrics = GatewayMetrics(redactor=self.redactor, process=process_metrics)
        self.in_flight = InFlight()
        self.shutdown = ShutdownSequence(
            budget_s=max(exit_within_s - drain_s, 1.0), in_flight=self.in_flight, drain_s=drain_s
        )
        self.request_log = RequestLogger(redactor=self.redactor) if request_log else None
        self._readiness: Any = lambda: _STARTING
        self.endpoints = OpsEndpoints(
            readiness=lambda: self._readiness(),
            metrics=self.metrics,
            draining=lambda: self.shutdown.draining,
            allow=allow,
        )
        self.metrics.set_in_flight(self.in_flight.__len__)
        self.metrics.set_draining(lambda: self.shutdown.draining)
        self._uninstall: Any = None
        self.signalled = False

    def observer(self, *first: RequestObserver) -> RequestObserver:
        """`first` (the audit observer), then metrics, then the request log line."""
        observers: list[RequestObserver] = [*first, MetricsObserver(self.metrics)]
        if self.request_log is not None:
            observers.append(self.request_log)
        return FanOut(*observers)

    def after_answer(self) -> RequestObserver:
        """Metrics, then the request log line: the gateway's `after` observer, called once
        the answer is sent (the audit observer runs before it, on its own)."""
        return self.observer()

    def watch_state(self, runtime: Any, accounts: list[str]) -> None:
        """Per-account gauges, stream counters and readiness from a `StateRuntime`."""
        self.metrics.add_accounts(lambda: account_samples(runtime.store, accounts))
        self.metrics.add_streams(lambda: stream_samples(runtime))
        self._readiness = lambda: account_readiness(runtime.store, accounts)

    def watch_audit(self, audit: Any) -> None:
        """Audit counters from an `AuditLog` (None: no audit log configured)."""
        if audit is not None:
            self.metrics.add_audit(audit)

    def ready_without_state(self) -> None:
        """No accounts to watch (`[policy] enforce = false`): ready once serving."""
        self._readiness = lambda: ()

    def start(self) -> None:
        """From the lifespan start-up, on the running loop: buffer the request log and arm
        the exit deadline on SIGTERM/SIGINT (chained in front of uvicorn's handlers)."""
        if self.request_log is not None:
            self.request_log.start()
        self._uninstall = install_exit_deadline(self.exit_within_s, on_signal=self._on_signal)

    def _on_signal(self) -> None:
        self.signalled = True
        self.shutdown.begin()

    async def stop(self) -> list[StepResult]:
        """From the lifespan shutdown: drain, run the shutdown steps, flush the request log."""
        results = await self.shutdown.run()
        if self.request_log is not None:
            self.request_log.close()
        if not self.signalled and self._uninstall is not None:
            self._uninstall()  # stopped without a signal (tests, reload): restore the handlers
        return results
