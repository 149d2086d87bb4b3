"""A gateway's `guardrails` setting, validated; a bad one is a 400 that names the field and says
what was probably meant.

    {"pii": {"action": "redact", "entities": ["email", "credit_card"], "direction": "both"},
     "custom": [{"name": "project", "words": ["Falcon"], "action": "block"}],
     "prompt_injection": {"action": "block"},
     "restore": true}
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, model_validator
from pydantic_core import PydanticCustomError

from ..errors import BadRequest
from .custom import PatternError, pattern_width
from .scanner import BUILTIN_ENTITIES

ACTIONS = ("block", "redact", "flag")
DIRECTIONS = ("request", "response", "both")


def _hint(value: str, known: Sequence[str]) -> str:
    close = difflib.get_close_matches(value, known, n=1, cutoff=0.5)
    return f"did you mean {close[0]!r}?" if close else f"expected one of {', '.join(known)}"


def _one_of(known: Sequence[str], what: str) -> Callable[[Any], Any]:
    def check(value: Any) -> Any:
        if isinstance(value, str) and value not in known:
            raise PydanticCustomError("guardrails", f"unknown {what} {value!r}; {_hint(value, known)}")
        return value

    return check


def _pattern(value: Any) -> Any:
    if isinstance(value, str):
        try:
            pattern_width(value)
        except PatternError as exc:
            raise PydanticCustomError("guardrails", f"pattern {value!r} {exc}") from exc
    return value


Action = Annotated[Literal["block", "redact", "flag"], BeforeValidator(_one_of(ACTIONS, "action"))]
Direction = Annotated[
    Literal["request", "response", "both"], BeforeValidator(_one_of(DIRECTIONS, "direction"))
]
Entity = Annotated[str, BeforeValidator(_one_of(BUILTIN_ENTITIES, "entity"))]
Pattern = Annotated[str, BeforeValidator(_pattern)]


class _Strict(BaseModel):
    """Frozen, and an unknown key is an error that suggests the known one it resembles."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if isinstance(data, dict):
            known = list(cls.model_fields)
            for key in data:
                if key not in known:
                    raise PydanticCustomError(
                        "guardrails", f"unknown field {key!r}; {_hint(str(key), known)}"
                    )
        return data


class PiiPolicy(_Strict):
    action: Action = "redact"
    entities: tuple[Entity, ...] = Field(default=BUILTIN_ENTITIES, min_length=1)
    direction: Direction = "both"


class CustomRule(_Strict):
    """Named patterns (RE2, bounded length) and/or a word list, with their own action."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,31}$")
    patterns: tuple[Pattern, ...] = ()
    words: tuple[Annotated[str, Field(min_length=1, max_length=128)], ...] = ()
    case_sensitive: bool = False
    action: Action = "redact"
    direction: Direction = "both"

    @model_validator(mode="after")
    def _something_to_find(self) -> CustomRule:
        if not self.patterns and not any(word.strip() for word in self.words):
            raise PydanticCustomError("guardrails", f"custom rule {self.name!r} needs `patterns` or `words`")
        return self


class PromptInjectionPolicy(_Strict):
    """Checked on the user's turns of a request: `block` refuses it, `flag` lets it through."""

    action: Annotated[Literal["block", "flag"], BeforeValidator(_one_of(("block", "flag"), "action"))] = (
        "block"
    )


class GuardrailsPolicy(_Strict):
    pii: PiiPolicy | None = None
    custom: tuple[CustomRule, ...] = ()
    prompt_injection: PromptInjectionPolicy | None = None
    restore: bool = False

    @model_validator(mode="after")
    def _consistent(self) -> GuardrailsPolicy:
        names = [rule.name for rule in self.custom]
        for name in names:
            if name in BUILTIN_ENTITIES:
                raise PydanticCustomError("guardrails", f"custom rule name {name!r} is a built-in entity")
            if names.count(name) > 1:
                raise PydanticCustomError("guardrails", f"custom rule name {name!r} is used twice")
        redacts = (self.pii is not None and self.pii.action == "redact") or any(
            rule.action == "redact" for rule in self.custom
        )
        if self.restore and not redacts:
            raise PydanticCustomError(
                "guardrails", "restore needs a pii or custom rule whose action is redact"
            )
        return self


def parse_policy(data: Any, field: str = "guardrails") -> GuardrailsPolicy:
    """`data` as a policy, or BadRequest naming the first bad field (`guardrails.pii.action`)."""
    try:
        return GuardrailsPolicy.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in (field, *first["loc"]))
        raise BadRequest(f"{where}: {first['msg']}", field=where) from exc
