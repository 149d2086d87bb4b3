"""How a provider's streams end (`Provider.stream_ends`): the one place that says, per route, whether
a stream ends with an end line or by its format's own rule. The log reads it to tell a stream that
broke off (pipeline/log.py), the caches to store only a whole one (pipeline/cache_streams.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol
from urllib.parse import unquote

if TYPE_CHECKING:
    from sluicegate.providers.base import Route


class EndRule(Protocol):
    """A stream format's own rule for whether a stream without an end line holds a whole answer,
    read in order: `skip` is handed the bytes a reader does not keep (the log keeps a stream's end
    only), `finished` the rest, once. A rule that reads the end alone skips nothing; one that needs
    the whole stream (Gemini's candidates) keeps what it needs of what it skips, not the bytes."""

    @property
    def awaited(self) -> str:
        """What a stream that broke off never came to, as the log names it (`finishReason`)."""
        ...

    def skip(self, data: bytes) -> None: ...

    def finished(self, rest: bytes) -> bool: ...


@dataclass(frozen=True, slots=True)
class AtItsEnd:
    """A rule that reads a stream's last events only (`whole`, given them and maybe more): one
    instance serves every stream."""

    awaited: str
    whole: Callable[[bytes], bool]

    def skip(self, data: bytes) -> None:
        return None

    def finished(self, rest: bytes) -> bool:
        return self.whole(rest)


@dataclass(frozen=True, slots=True)
class StreamEnds:
    """The lines that end a provider's streams: `complete` after a whole answer, `cut_short` after
    one that ended early (billed, never reused). None: the stream ends with its body (Gemini).

    `marked`: the routes whose SSE streams always end with such a line, so that one whose body
    closed without any broke off (pipeline/log.py records it so); None: every route's. A route left
    out may stream a format without an end line (Hugging Face's text-generation-inference beside its
    chat, Vertex AI's Gemini beside its Claude, OpenAI's transcriptions beside its chat).

    `rules`: the rule (`EndRule`) by which a stream of a route without an end line (not `marks`ed)
    holds a whole answer (Gemini's finishReason, text-generation-inference's last event, Cohere's v1
    `stream-end`), a new one for each stream; None for a route without one. Where there is none,
    such a stream is whole with an end line all the same, or where `complete` names none, when read
    to the end of its body; and the log cannot tell that it broke off."""

    complete: tuple[bytes, ...] = ()
    cut_short: tuple[bytes, ...] = ()
    marked: Callable[[Route], bool] | None = None
    rules: Callable[[Route], EndRule | None] | None = None

    def marks(self, route: Route) -> bool:
        """Whether a stream of `route` whose body closed without an end line ended early."""
        return bool(self.complete) and (self.marked is None or self.marked(route))

    def rule(self, route: Route) -> EndRule | None:
        """The rule a stream of `route` ends by, where it has no end line (see `rules`)."""
        if self.rules is None or self.marks(route):
            return None
        return self.rules(route)


def path_ends(*ends: str) -> Callable[[Route], bool]:
    """The routes whose path (unquoted, without its trailing slash) ends with one of `ends`."""

    def marked(route: Route) -> bool:
        return unquote(route.path).rstrip("/").endswith(ends)

    return marked


def _openai_marked(route: Route) -> bool:
    # Chat and the completions (legacy, FIM, agents') end with `[DONE]`; a Responses stream, created
    # or resumed (`responses/{id}`), with its closing event. Audio's streams end otherwise.
    path = unquote(route.path).rstrip("/")
    return path.endswith(("completions", "responses")) or path.rpartition("/")[0].endswith("responses")


DONE = b"data: [DONE]"
ENDS_WITH_BODY = StreamEnds()
DONE_ENDS = StreamEnds(complete=(DONE,))  # OpenAI's chat streams, and those like them
# The same line as a rule, for a route of a provider whose other routes end otherwise.
DONE_RULE = AtItsEnd("[DONE]", lambda events: events.rstrip().endswith(DONE))
OPENAI_ENDS = StreamEnds(
    # Chat and completions end with `[DONE]`; the Responses API with the event carrying the response.
    # https://platform.openai.com/docs/api-reference/responses-streaming/response/incomplete
    # `response.incomplete` closes a whole response whose `incomplete_details.reason` is
    # `max_output_tokens` or `content_filter`: what a request asking for it whole gets as
    # `status: "incomplete"`, which the caches store (as a chat stream that ends with
    # `finish_reason: "length"`), so its stream is whole too. `response.failed` is an error.
    complete=(DONE, b"event: response.completed", b"event: response.incomplete"),
    cut_short=(b"event: response.failed",),
    marked=_openai_marked,
)
