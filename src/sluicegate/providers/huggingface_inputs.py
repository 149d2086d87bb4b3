"""Which Hugging Face model bodies hold a prompt in `inputs`, for the token estimator.

A model's own API takes its input in `inputs` whatever its task: a text generation's prompt, a list
of texts, a task's object (question answering's `{"question", "context"}`), or a file, an image or
audio, as base64 (what huggingface_hub's binary tasks send when parameters come with the file: an
image classification's `top_k`; without any, the raw bytes). Only the adapter sees the route the
body goes to, so it names the body's scope (`RequestFacts.text_scope`) where `inputs` is a prompt,
and the estimator reads the key there only (`TokenKeys.scoped_text`): a file's base64 is never
tokenized as text, nor is another provider's `inputs`.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote

from sluicegate.providers.base import Route
from sluicegate.providers.openai import OPENAI
from sluicegate.providers.texts import TokenKeys

# The tasks a model's path may name whose `inputs` is a file: an image, audio or a video, sent as
# base64 in JSON where parameters come with it (huggingface_hub's binary tasks; raw bytes without):
# https://huggingface.co/docs/inference-providers/tasks
FILE_TASKS = frozenset(
    {
        "audio-classification",
        "audio-to-audio",
        "automatic-speech-recognition",
        "depth-estimation",
        "document-question-answering",
        "image-classification",
        "image-feature-extraction",
        "image-segmentation",
        "image-to-image",
        "image-to-text",
        "image-to-video",
        "mask-generation",
        "object-detection",
        "video-classification",
        "visual-question-answering",
        "zero-shot-image-classification",
        "zero-shot-object-detection",
    }
)
# What the token estimator counts of a model's own bodies (their scope, `prompt_scope`): `inputs`,
# a string (a text generation's prompt), a list of them, or a task's object, whose text is at keys of
# its own (https://huggingface.co/docs/inference-providers/tasks: question answering, sentence
# similarity, table question answering; a table's cells and an image count nothing). Scoped: another
# provider's `inputs` is no prompt, nor is a file's base64. Beside the router's.
HF_SCOPE = "huggingface"
HF_TOKEN_KEYS = OPENAI.token_keys | TokenKeys(
    scoped_text=frozenset({(HF_SCOPE, "inputs")}),
    inner_text=frozenset(
        ("inputs", key) for key in ("question", "context", "source_sentence", "sentences", "query")
    ),
)
# A file's base64 as a string `inputs` holds it, judged by its first characters (the rest unread,
# on the request path): at least 64 of the base64 alphabet (standard or URL-safe), no space, upper
# and lower case letters and digits all among them (a prompt of one long word, a DNA sequence or a
# hex digest is no file); or a data URL.
_BASE64_HEAD = re.compile(r"(?=[^a-z]*[a-z])(?=[^A-Z]*[A-Z])(?=[^0-9]*[0-9])[A-Za-z0-9+/_-]{64,}={0,2}")
_HEAD_CHARS = 1024


def path_task(route: Route) -> str | None:
    """The task a model's path names after `pipeline/`: `feature-extraction`, `image-classification`."""
    segments = [unquote(segment) for segment in route.path.split("/") if segment]
    at = next((i for i, segment in enumerate(segments) if i and segment == "pipeline"), None)
    return segments[at + 1] if at is not None and at + 1 < len(segments) else None


def prompt_scope(route: Route, inputs: Any) -> str | None:
    """`HF_SCOPE` where a model's `inputs` hold its prompt, so the estimator counts them: a task's
    object (its texts at their keys; an image there counts nothing), or a string or a list of them
    that is no file in base64, on a path that names no task whose input is a file. None where they
    are an image or audio (an image classification's, a speech recognition's), or no `inputs`."""
    if isinstance(inputs, dict):
        return HF_SCOPE
    if not isinstance(inputs, str | list) or path_task(route) in FILE_TASKS:
        return None
    texts = [inputs] if isinstance(inputs, str) else inputs
    return None if any(isinstance(text, str) and is_file(text) for text in texts) else HF_SCOPE


def is_file(text: str) -> bool:
    """Whether a string `inputs` is a file in base64 (`_BASE64_HEAD`) or a data URL."""
    head = _BASE64_HEAD.fullmatch(text, 0, min(len(text), _HEAD_CHARS))
    return head is not None or text.startswith("data:")
