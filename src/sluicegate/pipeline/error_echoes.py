"""Stored credentials an upstream quotes back, masked before the client gets them.

An upstream that refuses a key often quotes it (`{"error": {"message": "bad key Bearer sk-…"}}`).
A key the client sent is its own to see again; one the gateway added from storage (a stored
provider key of the gateway's pool, an account custom provider's header values: each step's
`stored_secrets`) is not, or a client without a key would read the gateway's. So those are masked
(`[redacted]`, in every form the log record's masking knows) before they leave:

- in an error answer (status 400 or more, or a stream whose first event is the provider's error:
  `Reply.failure`), a whole body at once, of any step's stored values: its credentials, and a
  custom provider's other header values whole (`X-Title`: configuration, which leaves storage
  only by name; an error's text is no model's);
- in every stream of a step that went on stored credentials, as it passes, of the credentials its
  try went with only (`used_credentials`: the key of its pool that try used, a custom provider's
  credential headers: `credentials.is_credential_header`; the stream is that one try's answer, so
  the pool's other keys are not searched, a cost that grew with the pool's size on every chunk):
  a provider reports an error that comes after some content as an event of its 200 stream
  (OpenAI's `data: {"error": …}`, Anthropic's `event: error`, Gemini's error object). The
  content before it is the model's text, which may well say an `X-Title` or `HTTP-Referer` value
  (the assistant's own name, its site), and is not the gateway's to rewrite; no model says a key
  it was never told. A chunk costs a few substring searches, and a look at its end when it does
  not end a line; streams on the client's own key cost nothing.

An error answer is masked of every step's stored values, all keys of each pool: the answer may
be another try's than the one last noted (an earlier step's refusal, returned when the steps after
it were skipped) or the gateway's own, and errors are rare enough for the cost not to matter.

The headers of every answer of a try that went on stored credentials, successful ones too, are
masked of the credentials that try went with (`used_credentials`; `mask_answer_headers`, called by
`forward.py`, so a cache stores them masked too): a header is no model's text, and an upstream's
debug header may quote the key it got (`x-debug-key: Bearer sk-…`). The bodies of successful
whole answers (a relayed-whole one too) are left as they are: a provider reports a refusal with
an error status there, and a model's text is not the gateway's to rewrite. The log
stage wraps the stream before it keeps its copy, so the record's body and error are the masked
ones (records mask every stored value again anyway: `records.known_secrets`).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

from multidict import CIMultiDict

from sluicegate.credentials import Secrets, is_credential_header
from sluicegate.exchange import Exchange, Reply, Step


def mask_echoed_secrets(exchange: Exchange, reply: Reply) -> None:
    """Mask `reply` of the credentials the gateway added from storage, in place (see above)."""
    secrets = Secrets()
    if reply.status >= 400 or reply.failure is not None:
        for step in exchange.plan.steps:
            step.add_stored_to(secrets)
    elif reply.stream is not None and not reply.relayed_whole:
        answering = exchange.step
        if answering is not None and answering.went_on_stored_credentials():
            secrets = used_credentials(answering)
    if not secrets:
        return
    reply.headers = masked_headers(reply.headers, secrets)
    if reply.stream is None:
        reply.body = secrets.scrub(reply.body)
    else:
        reply.stream = scrubbed(reply.stream, secrets)


def mask_answer_headers(step: Step, reply: Reply) -> None:
    """`reply`'s headers masked of the stored credentials `step`'s try went with, whatever its
    status (see above); nothing to do for a try on the client's own key."""
    if step.went_on_stored_credentials():
        reply.headers = masked_headers(reply.headers, used_credentials(step))


def used_credentials(step: Step) -> Secrets:
    """The stored credentials `step`'s last try went with: the key of its pool it used (`key_name`;
    the pool's other keys never went with it) and a custom provider's credential headers."""
    secrets = Secrets()
    used = step.keys.values.get(step.key_name) if step.keys is not None and step.key_name else None
    if used is not None:
        secrets.add_stored(used)
    for name, value in step.stored_headers:
        if is_credential_header(name, value):
            secrets.add_stored(value, name)
    return secrets


def masked_headers(headers: CIMultiDict[str], secrets: Secrets) -> CIMultiDict[str]:
    """`headers` with `secrets` masked in their values: the same object when none quotes one."""
    joined = "\0".join(headers.values())
    if secrets.scrub_text(joined) == joined:
        return headers
    return CIMultiDict((name, secrets.scrub_text(value) or "") for name, value in headers.items())


async def scrubbed(stream: AsyncGenerator[bytes, None], secrets: Secrets) -> AsyncGenerator[bytes, None]:
    """`stream` masked chunk by chunk. What could be the start of a credential split between two
    chunks is held back until the next: from where the chunk's end begins one of its forms (in the
    bytes after its last line end, when no form holds one: an SSE line that ends passes at once)."""
    forms = secrets.forms()
    # A chunk holds something to mask if and only if it holds one of these (`Bearer sk-…` holds
    # `sk-…`, a key's start each form of it): in the usual case, one substring search per key.
    probes = secrets.probes()
    tail = _Tail(forms)
    held = b""
    try:
        async for chunk in stream:
            data = held + chunk if held else chunk
            for probe in probes:
                if probe in data:
                    data = secrets.scrub(data, more=True)
                    break
            cut = tail.safe_end(data)
            if cut == len(data):
                held = b""
                yield data
            else:
                held = data[cut:]
                if cut:
                    yield data[:cut]
        if held:  # the stream ends in what starts a form: a key cut off, masked as such
            yield secrets.scrub(held)
    finally:
        await stream.aclose()


class _Tail:
    """Where, at the end of a chunk, a credential the next chunk completes could start."""

    __slots__ = ("_firsts", "_forms", "_lines", "_reach")

    def __init__(self, forms: tuple[bytes, ...]) -> None:
        self._forms = forms
        self._reach = len(forms[0]) - 1  # a form split in two leaves at most this much behind
        self._lines = not any(b"\n" in form for form in forms)
        self._firsts = tuple({form[:1] for form in forms})

    def safe_end(self, data: bytes) -> int:
        """How much of `data` may go now: all of it, but for a last part that starts a form."""
        if self._lines and data.endswith(b"\n"):  # the usual SSE chunk: whole lines
            return len(data)
        start = max(0, len(data) - self._reach)
        if self._lines:
            start = max(start, data.rfind(b"\n", start) + 1)
        end = len(data)
        for first in self._firsts:  # only where a form's first byte is need the forms be looked at
            at = data.find(first, start, end)
            while at >= 0:
                rest = data[at:]
                if any(form.startswith(rest) for form in self._forms):
                    end = at
                    break
                at = data.find(first, at + 1, end)
        return end
