"""The text of Workers AI's native runs (`ai/run/{model}`) that guardrails read (`texts.py`'s
`TextFormat`): prose, and the JSON of tool calls' arguments and of JSON-mode answers.

Requests: a text generation's `prompt`, its chat `messages` (OpenAI chat's: the turns' text, tool
results, the arguments of earlier tool calls), the Responses API input some models take natively
(`instructions`, `input`: `@cf/openai/gpt-oss-120b`), and the other text tasks' input: `text` (a
string or a list of them: embeddings, translation, classification) and summarization's
`input_text`; an image model's `prompt` is a text generation's.
https://developers.cloudflare.com/workers-ai/models/llama-3.1-8b-instruct/ (`prompt` or `messages`),
https://developers.cloudflare.com/workers-ai/models/gpt-oss-120b/ (`input`, `instructions`),
https://developers.cloudflare.com/workers-ai/models/ (each task's input schema).

Answers come in Cloudflare's envelope, `{"result": {"response", "tool_calls", "usage"}, "success",
"errors", "messages"}`: `result.response` is the text (in JSON mode the object itself, or its JSON
text: https://developers.cloudflare.com/workers-ai/features/json-mode/), `result.tool_calls` the
model's calls, `{"name", "arguments": {…}}` (or OpenAI's `{"id", "type", "function": {"name",
"arguments"}}` on newer models: https://developers.cloudflare.com/workers-ai/features/function-calling/traditional/).
Newer models answer OpenAI chat's shape inside `result` (`choices[].message`), gpt-oss given
Responses input the Responses API's (`output[]`): both are read as those APIs' answers are. A
translation's `translated_text` and a summary's `summary` are prose answers too.

Streams (https://developers.cloudflare.com/workers-ai/features/streaming/): `data: {"response":
"<text>", "p": "<padding>"}` events, then one with the cumulative `usage`, then `[DONE]`; tool calls
as Cloudflare's own AI SDK provider reads them (github.com/cloudflare/ai,
packages/workers-ai-provider/src/streaming.ts): `{"tool_calls": [{"id", "type", "index",
"function": {"name", "arguments": <a first piece>}}]}`, then `{"tool_calls": [{"index", "function":
{"arguments": <a piece>}}]}`, then an entry of nulls that closes the calls; older models send each
call whole (`{"name", "arguments": {…}}`, no index). Newer models stream OpenAI chat chunks
(`choices[].delta`), read as chat's. The text goes through one pipe, each call's arguments through
one of their own (by `index`), JSON pipes for JSON; what a call's pipe holds goes out just before the
entry that closes the calls, what the text's pipe holds just before `[DONE]`.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from sluicegate.providers.openai_texts import CHAT_TEXTS, RESPONSES_TEXTS, ChatTexts, ResponsesTexts
from sluicegate.providers.sse import sse_data
from sluicegate.providers.texts import Text, TextPipes, as_list, json_value, string

# Pipe indexes: the answer's text, and each streamed tool call's arguments by the call's `index`
# (a chat chunk's pipes are keyed by choice indexes, ints, and tuples of them: none is these).
_RESPONSE = "workers_ai.response"
_CALL = "workers_ai.tool_call"
_TASK_ANSWERS = ("translated_text", "summary")  # translation's and summarization's answers


@dataclass(frozen=True, slots=True)
class WorkersAITexts:
    """`chat`, `responses`: how answers in OpenAI chat's and the Responses API's shapes are read,
    as JSON where the request asked for JSON (`response_format`: then `response` is JSON too)."""

    name: str = "workers_ai"
    chat: ChatTexts = CHAT_TEXTS
    responses: ResponsesTexts = RESPONSES_TEXTS

    @property
    def json_answers(self) -> bool:
        return self.chat.json_answers

    def answering(self, request: Any) -> WorkersAITexts:
        # JSON mode: `response_format` of type `json_object` or `json_schema`, as OpenAI's.
        chat, responses = self.chat.answering(request), self.responses.answering(request)
        if chat is self.chat and responses is self.responses:
            return self
        return WorkersAITexts(self.name, chat, responses)

    def request_texts(self, body: dict[str, Any]) -> Iterator[Text]:
        for key in ("prompt", "input_text"):
            yield from string(body, key, "user")
        text = body.get("text")
        if isinstance(text, list):
            for at in range(len(text)):
                yield from string(text, at, "user")
        else:
            yield from string(body, "text", "user")
        yield from CHAT_TEXTS.request_texts(body)  # `messages`
        yield from RESPONSES_TEXTS.request_texts(body)  # `instructions`, `input`

    def answer_texts(self, body: dict[str, Any]) -> Iterator[Text]:
        result = body.get("result")
        result = result if isinstance(result, dict) else body  # the envelope, or what it holds
        yield from self._response(result)
        for key in _TASK_ANSWERS:
            yield from string(result, key, "assistant")
        for call in as_list(result.get("tool_calls")):
            if isinstance(call, dict):
                yield from json_value(_function(call), "arguments", "assistant")
        yield from self.chat.answer_texts(result)  # `choices`
        yield from self.responses.answer_texts(result)  # `output`

    def stream_event(self, event: dict[str, Any], pipes: TextPipes) -> bytes:
        if isinstance(event.get("choices"), list):  # an OpenAI chat chunk
            return self.chat.stream_event(event, pipes)
        response = event.get("response")
        if isinstance(response, str):
            event["response"] = pipes.feed(_RESPONSE, response, json=self.json_answers)
        else:
            for text in self._response(event):  # JSON mode's object, whole
                text.set(pipes.whole(text.value, json=True))
        before = b""
        for call in as_list(event.get("tool_calls")):
            if isinstance(call, dict):
                before += _stream_call(call, pipes)
        return before

    def stream_leftover(self, index: Hashable, text: str, last: Mapping[str, Any]) -> bytes:
        if index == _RESPONSE:
            return sse_data({"response": text})
        if isinstance(index, tuple) and index[0] == _CALL:
            return _arguments_event(index[1], text)
        return self.chat.stream_leftover(index, text, last)

    def _response(self, result: dict[str, Any]) -> Iterator[Text]:
        """`response`: prose, or JSON text where JSON was asked for; an object, array or number
        (JSON mode answers with the object itself) is JSON whatever was asked."""
        response = result.get("response")
        if isinstance(response, str):
            yield Text(result, "response", "assistant", self.json_answers)
        elif isinstance(response, dict | list | int | float) and not isinstance(response, bool):
            yield Text(result, "response", "assistant", json=True)


def _function(call: dict[str, Any]) -> dict[str, Any]:
    """Where a call's `name` and `arguments` are: its `function` (OpenAI's form), or the call."""
    function = call.get("function")
    return function if isinstance(function, dict) else call


def _stream_call(call: dict[str, Any], pipes: TextPipes) -> bytes:
    """One streamed `tool_calls` entry's arguments through their pipe (edited in place); returns
    what the calls' pipes held when this is the entry of nulls that closes them."""
    function = _function(call)
    arguments = function.get("arguments")
    index = call.get("index")
    if isinstance(arguments, str) and arguments:
        if isinstance(index, int) and not isinstance(index, bool):
            function["arguments"] = pipes.feed((_CALL, index), arguments, json=True)
        else:  # a call sent whole, its arguments as JSON text
            function["arguments"] = pipes.whole(arguments, json=True)
    elif isinstance(arguments, dict | list):  # a call sent whole, its arguments as an object
        function["arguments"] = orjson.loads(pipes.whole(orjson.dumps(arguments).decode(), json=True))
    elif index is None and not call.get("id") and not function.get("name"):  # the nulls that close the calls
        rests = pipes.close_where(lambda key: isinstance(key, tuple) and key[:1] == (_CALL,))
        return b"".join(_arguments_event(key[1], rest) for key, rest in rests)
    return b""


def _arguments_event(index: Any, arguments: str) -> bytes:
    """More arguments of the streamed call at `index`, as Workers AI sends them."""
    return sse_data({"tool_calls": [{"index": index, "function": {"arguments": arguments}}]})


WORKERS_AI_TEXTS = WorkersAITexts()
