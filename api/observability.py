"""Watching the service run: JSON logs with a request id, Prometheus metrics, liveness and readiness.

* Every request gets an id (the caller's `X-Request-ID` when it is a sane token, else a new one), returned in
  the `X-Request-ID` header and written into every log line made while the request runs; each request ends
  with one JSON access line (method, route, status, milliseconds).
* `/metrics` (Prometheus text format): requests by route, method and status with latency histograms, checks
  by kind and verdict, enrollments by kind, works in each index, the change feed's lag, bulk files queued.
"""

import contextvars
import json
import logging
import re
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send
from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from service.registry import Registry

request_id: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
access_log = logging.getLogger("provenance.access")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(), "logger": record.name, "message": record.getMessage(),
            "request_id": request_id.get(),
        }
        line.update(getattr(record, "fields", {}))
        if record.exc_info:
            line["error"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def configure_logging(level: str = "info") -> None:
    """One JSON line per record on stderr, for this package and for uvicorn (whose own formats are off)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)  # its probing of CPU builds reads as failures


class _ServiceCollector(Collector):
    """Figures read from the registry at scrape time."""

    def __init__(self, state: Any) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        registry: Registry | None = getattr(self.state, "registry", None)
        if registry is None:
            return
        checks = CounterMetricFamily("provenance_checks", "Checks answered, by kind of content and verdict",
                                     labels=["kind", "verdict"])
        enrollments = CounterMetricFamily("provenance_enrollments", "Works enrolled, by kind", labels=["kind"])
        for (event, label), n in list(registry.counts.items()):
            if event == "check":
                kind, _, verdict = label.partition(":")
                checks.add_metric([kind, verdict], n)
            elif event == "enrollment":
                enrollments.add_metric([label], n)
        yield checks
        yield enrollments
        if registry.indexes.opened:
            works = GaugeMetricFamily("provenance_index_works", "Works in this process's index", labels=["kind"])
            for kind, n in registry.indexes.sizes().items():
                works.add_metric([kind], n)
            yield works
            pending, age = registry.indexes.lag()
            yield GaugeMetricFamily("provenance_index_lag_changes",
                                    "Enrollments and withdrawals not yet applied to this process's indexes",
                                    value=pending)
            yield GaugeMetricFamily("provenance_index_lag_seconds",
                                    "Age of the oldest change not yet applied to the indexes", value=age)
        yield GaugeMetricFamily("provenance_job_files_queued", "Files waiting in bulk enrollment jobs",
                                value=registry.job_queue_depth())


class Metrics:
    """The app's Prometheus registry (one per app, so several apps in one process do not collide)."""

    def __init__(self, state: Any) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("provenance_http_requests", "HTTP requests by route, method and status",
                                ["route", "method", "status"], registry=self.registry)
        self.latency = Histogram("provenance_http_request_duration_seconds", "HTTP request latency by route",
                                 ["route", "method"], registry=self.registry,
                                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
        self.registry.register(_ServiceCollector(state))


def _status_of(exc: Exception) -> int:
    from litestar.exceptions import HTTPException

    from api.errors import status_of
    from registry.errors import ProvenanceError

    if isinstance(exc, ProvenanceError):
        return status_of(exc)
    if isinstance(exc, HTTPException):
        return exc.status_code
    return 500


class RequestObserver:
    """ASGI middleware: the request id, the access line, and the request metrics."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        given = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"x-request-id"), "")
        rid = given if _SANE_ID.match(given) else uuid.uuid4().hex
        token = request_id.set(rid)
        status = 500
        start = time.perf_counter()

        async def tagged(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message["headers"] = [*message.get("headers", []), (b"x-request-id", rid.encode())]
            await send(message)

        try:
            await self.app(scope, receive, tagged)
        except Exception as exc:  # answered by the app's exception handlers, outside this middleware
            status = _status_of(exc)
            raise
        finally:
            elapsed = time.perf_counter() - start
            route = str(scope.get("path_template") or "unmatched")  # "/v1/works/{work_id:str}", not the id
            method = str(scope.get("method", ""))
            metrics: Metrics | None = getattr(scope["app"].state, "metrics", None)
            if metrics is not None:
                metrics.requests.labels(route, method, str(status)).inc()
                metrics.latency.labels(route, method).observe(elapsed)
            access_log.info("%s %s %s", method, scope["path"], status, extra={"fields": {
                "method": method, "path": scope["path"], "route": route, "status": status,
                "ms": round(elapsed * 1000, 1)}})
            request_id.reset(token)
