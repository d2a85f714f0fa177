"""Prometheus metrics, one registry per app so tests and several apps in a process stay apart."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.sent = Counter(
            "hub_messages_sent",
            "Messages accepted by a platform",
            ["channel"],
            registry=self.registry,
        )
        self.send_errors = Counter(
            "hub_send_errors", "Sends that failed", ["channel", "reason"], registry=self.registry
        )
        self.inbound = Counter(
            "hub_inbound_events", "Events received", ["channel", "type"], registry=self.registry
        )
        self.outbox_queued = Gauge(
            "hub_outbox_queued", "Messages waiting to be sent", registry=self.registry
        )
        self.http_requests = Counter(
            "hub_http_requests", "HTTP requests served", ["route", "status"], registry=self.registry
        )

    def render(self) -> bytes:
        return generate_latest(self.registry)
