"""OpenAI chat fields a translation has no place for: one rule for every translator.

A field the provider lacks is taken without being sent when its value changes nothing: its default
(`presence_penalty: 0`, `logit_bias: {}` or null, `verbosity: "medium"`), which clients send as a
matter of course (older LangChain and chat UIs send zero penalties on every request). Any other
value asks for something the provider cannot do: the request is refused with a 400 that names the
field and says what to send, never sent without it, which would change the answer unseen.

Fields that only tag, store or route a request (`user`, `safety_identifier`, `metadata`, `store`,
`service_tier`, `prompt_cache_key`, `prompt_cache_retention`) change no answer and are taken by every
translation, as is `seed` where the provider has none (Anthropic): OpenAI's own seed is best effort
("determinism is not guaranteed"), and a translated answer carries no `system_fingerprint`, the
field OpenAI's answers give to judge it by.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final

from sluicegate.compat.base import TranslationError


def _no_number(value: Any) -> bool:
    return value is None or (isinstance(value, int | float) and not isinstance(value, bool) and value == 0)


def _no_bias(value: Any) -> bool:
    return value is None or (isinstance(value, dict) and all(_no_number(bias) for bias in value.values()))


# field -> (whether a value changes nothing, what the field asks for, what to send instead)
_INERT: Final[Mapping[str, tuple[Callable[[Any], bool], str, str]]] = {
    "presence_penalty": (_no_number, "presence penalty", "0"),
    "frequency_penalty": (_no_number, "frequency penalty", "0"),
    "logit_bias": (_no_bias, "token biases (logit_bias)", "{}"),
    "verbosity": (lambda value: value in (None, "medium"), "verbosity setting (GPT-5's)", '"medium"'),
}


def refuse_unsendable(payload: Mapping[str, Any], fields: Iterable[str], provider: str) -> None:
    """Raises `TranslationError` for the first of `fields` (names in `_INERT`) whose value would
    change the answer: `provider` has no such field, and the gateway does not drop it unseen."""
    for name in fields:
        inert, asks, default = _INERT[name]
        if not inert(payload.get(name)):
            raise TranslationError(
                f"{provider} has no {asks}, so its answer would not honour this value: "
                f"send {default} or leave the field out",
                field=name,
            )
