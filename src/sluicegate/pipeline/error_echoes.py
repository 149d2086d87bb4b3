"""Stored credentials an upstream's error quotes back, masked before the client gets the error.

An upstream that refuses a key often quotes it (`{"error": {"message": "bad key Bearer sk-…"}}`).
A key the client sent is its own to see again; one the gateway added from storage (a stored
provider key of the gateway's pool, an account custom provider's header values: each step's
`stored_secrets`) is not, or a client without a key would read the gateway's. So an error answer
(status 400 or more, or a stream whose first event is the provider's error: `Reply.failure`) is
masked of those (`[redacted]`, in every form the log record's masking knows) before it leaves:
a whole body at once, an error stream as it passes. Successful answers are never looked at, and an
error costs a look only when some step had stored credentials.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

from multidict import CIMultiDict

from sluicegate.credentials import Secrets
from sluicegate.exchange import Exchange, Reply


def mask_echoed_secrets(exchange: Exchange, reply: Reply) -> None:
    """Mask `reply` (an error) of the credentials the gateway added from storage, in place."""
    if reply.status < 400 and reply.failure is None:
        return
    secrets = Secrets()
    for step in exchange.plan.steps:
        for value in step.stored_secrets():
            secrets.add_stored(value)
    if not secrets:
        return
    if secrets.scrub_text("\0".join(reply.headers.values())) != "\0".join(reply.headers.values()):
        reply.headers = CIMultiDict((k, secrets.scrub_text(v) or "") for k, v in reply.headers.items())
    if reply.stream is None:
        reply.body = secrets.scrub(reply.body)
    else:
        reply.stream = _scrubbed(reply.stream, secrets)


async def _scrubbed(stream: AsyncGenerator[bytes, None], secrets: Secrets) -> AsyncGenerator[bytes, None]:
    """`stream` masked chunk by chunk. What could be the start of a credential split between two
    chunks is held back until the next: the bytes after the last line end (a header value holds
    none, so an SSE event's lines pass at once) or, past that, one byte less than the longest form."""
    forms = secrets.forms()
    keep = len(forms[0]) - 1
    lines = not any(b"\n" in form for form in forms)
    held = b""
    try:
        async for chunk in stream:
            data = secrets.scrub(held + chunk)
            cut = max(data.rfind(b"\n") + 1 if lines else 0, len(data) - keep)
            held = data[cut:]
            if cut:
                yield data[:cut]
        if held:
            yield held
    finally:
        await stream.aclose()
