"""Metadata keys the gateway itself writes into a log record: no client may set them, or a request
could fake guardrail findings or a route in the logs, the dashboard and analytics."""

from __future__ import annotations

from collections.abc import Iterable

RESERVED_METADATA_KEYS = frozenset(
    {
        "guardrails",
        "route",
        "route_path",
        "realtime_client_events",
        "realtime_server_events",
        "realtime_responses",
        "realtime_transcriptions",
        "cost_source",  # records/_cost_entries: the provider's answer stated the cost
        "websocket_event_id",  # endpoints/universal_socket.py: the eventId of a WebSocket message
        "usage_read_by",  # pipeline/jobs.py: a job's read by the gateway itself ("gateway")
        "usage_read_for",  # pipeline/jobs.py: and the record of the answer that left the job running
    }
)


def reserved_in(keys: Iterable[str]) -> list[str]:
    """The keys among `keys` that the gateway reserves, sorted."""
    return sorted(RESERVED_METADATA_KEYS.intersection(keys))
