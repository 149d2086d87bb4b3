"""How a provider's streams end (`Provider.stream_ends`): the one place that says, per route, whether
a stream ends with an end line or by its format's own rule. The log reads it to tell a stream that
broke off (pipeline/log.py), the caches to store only a whole one (pipeline/cache_streams.py)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import unquote

if TYPE_CHECKING:
    from sluicegate.providers.base import Route


@dataclass(frozen=True, slots=True)
class StreamEnds:
    """The lines that end a provider's streams: `complete` after a whole answer, `cut_short` after
    one that ended early (billed, never reused). None: the stream ends with its body (Gemini).

    `marked`: the routes whose SSE streams always end with such a line, so that one whose body
    closed without any broke off (pipeline/log.py records it so); None: every route's. A route left
    out may stream a format without an end line (Hugging Face's text-generation-inference beside its
    chat, Vertex AI's Gemini beside its Claude, OpenAI's transcriptions beside its chat).

    `finished`: whether a stream of a route without an end line (not `marks`ed) holds a whole
    answer, by its format's own rule (Gemini's finishReason, text-generation-inference's last
    event), given the whole stream. None: such a stream is whole with an end line all the same, or
    where `complete` names none, when read to the end of its body."""

    complete: tuple[bytes, ...] = ()
    cut_short: tuple[bytes, ...] = ()
    marked: Callable[[Route], bool] | None = None
    finished: Callable[[Route, bytes], bool] | None = None

    def marks(self, route: Route) -> bool:
        """Whether a stream of `route` whose body closed without an end line ended early."""
        return bool(self.complete) and (self.marked is None or self.marked(route))


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


ENDS_WITH_BODY = StreamEnds()
DONE_ENDS = StreamEnds(complete=(b"data: [DONE]",))  # OpenAI's chat streams, and those like them
OPENAI_ENDS = StreamEnds(
    # Chat and completions end with `[DONE]`; the Responses API with the event carrying the response.
    # https://platform.openai.com/docs/api-reference/responses-streaming/response/incomplete
    complete=(b"data: [DONE]", b"event: response.completed"),
    cut_short=(b"event: response.incomplete", b"event: response.failed"),
    marked=_openai_marked,
)
