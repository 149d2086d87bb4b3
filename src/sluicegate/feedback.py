"""Human feedback on a log record: `PATCH …/gateways/{g}/logs/{id}`, as Cloudflare's API has it.

Cloudflare's "Patch Gateway Log" takes three optional fields
(https://developers.cloudflare.com/api/resources/ai_gateway/subresources/logs/methods/edit/):
`feedback` (-1 thumbs down, 1 thumbs up, 0 "not evaluated"), `score` (a number from 0 to 100)
and `metadata` (string, number or boolean values). Its docs do not say whether metadata is merged
or replaced; its Workers binding types allow `null` per value, which only means something in a
merge. So a PATCH here is a merge patch (RFC 7396), one level deep: a field not sent stays as it
is, a field sent as `null` is cleared, and `metadata` merges key by key into the record's own
(its `cf-aig-metadata`), a key sent as `null` being removed.

Some keys are fixed once the request is counted: the ones the gateway writes (`reserved.py`), the
ones spend reports group by (`user`, `team`), the fields the gateway's rate-limit rules count by
(`metadata.<field>`) and the keys the request's token sets (its values won over the client's). A
PATCH naming one of them is a 403 naming it, whatever the value, so a feedback token cannot move a
request's spend to another team, nor learn a record's values by which changes pass; `metadata: null`
removes every other entry and keeps those.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator, model_validator
from pydantic_core import PydanticCustomError

from sluicegate.errors import BadRequest, Forbidden
from sluicegate.reserved import RESERVED_METADATA_KEYS, reserved_in

MAX_METADATA_ENTRIES = 20  # after merging: a record's cf-aig-metadata holds at most 5 of them
MAX_KEY_CHARS = 128
MAX_TEXT_CHARS = 1024
SCORE_RANGE = (0.0, 100.0)
SPEND_KEYS = frozenset({"user", "team"})  # spend reports group by them (`spend.METADATA_FIELDS`)


def counted_keys(rule_scopes: Iterable[str], token_keys: Iterable[str]) -> frozenset[str]:
    """The metadata keys a record was counted under, besides the reserved ones: the spend report's,
    the fields the gateway's rules are scoped by (`metadata.<field>`) and its token's keys."""
    fields = (scope.removeprefix("metadata.") for scope in rule_scopes if scope.startswith("metadata."))
    return SPEND_KEYS.union(fields, token_keys)


class Feedback(BaseModel):
    """A change to one record's feedback, score and metadata; fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    feedback: int | None = Field(
        None, description="-1 (thumbs down), 0 (not evaluated) or 1 (thumbs up); null clears it"
    )
    score: float | None = Field(
        None, ge=SCORE_RANGE[0], le=SCORE_RANGE[1], strict=True, description="0-100; null clears it"
    )
    metadata: dict[str, str | int | float | bool | None] | None = Field(
        None,
        description="merged into the record's metadata; a key set to null is removed, null removes"
        " all but the keys fixed when the request was counted (user, team, the token's, …)",
    )
    _fixed: frozenset[str] = PrivateAttr(default=RESERVED_METADATA_KEYS)

    @field_validator("feedback", mode="before")
    @classmethod
    def _one_of_three(cls, value: Any) -> Any:
        # `true` and `1.0` equal 1 in Python: only a JSON integer is a thumb.
        if value is not None and (type(value) is not int or value not in (-1, 0, 1)):
            raise PydanticCustomError(
                "feedback", "must be -1 (thumbs down), 0 (not evaluated) or 1 (thumbs up), got {got}",
                {"got": repr(value)},
            )  # fmt: skip
        return value

    @field_validator("metadata", mode="before")
    @classmethod
    def _flat_values(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value  # the type check says what is wrong
        if reserved := reserved_in(value):
            raise PydanticCustomError(
                "metadata", "{keys} is written by the gateway itself; use another key",
                {"keys": ", ".join(map(repr, reserved))},
            )  # fmt: skip
        for key, item in value.items():
            if len(key) > MAX_KEY_CHARS:
                raise PydanticCustomError(
                    "metadata", "key {key}… is longer than {limit} characters",
                    {"key": repr(key[:20]), "limit": MAX_KEY_CHARS},
                )  # fmt: skip
            if item is not None and not isinstance(item, str | int | float | bool):
                raise PydanticCustomError(
                    "metadata",
                    "entry {key} must be a string, number or boolean (or null to remove it), got {kind}",
                    {"key": repr(key), "kind": type(item).__name__},
                )
            if isinstance(item, str) and len(item) > MAX_TEXT_CHARS:
                raise PydanticCustomError(
                    "metadata", "entry {key} is longer than {limit} characters",
                    {"key": repr(key), "limit": MAX_TEXT_CHARS},
                )  # fmt: skip
        return value

    @model_validator(mode="after")
    def _says_something(self) -> Feedback:
        if not self.model_fields_set:
            raise PydanticCustomError(
                "empty", "give at least one of feedback (-1, 0 or 1), score (0-100) or metadata"
            )
        return self

    def fixing(self, keys: Iterable[str]) -> Feedback:
        """This change for a record whose `keys` (see `counted_keys`) no PATCH may set, change or
        remove: a 403 naming those it names; `metadata: null` keeps them (and the reserved ones)."""
        fixed = RESERVED_METADATA_KEYS.union(keys)
        if self.metadata and (named := sorted(fixed.intersection(self.metadata))):
            raise Forbidden(
                f"metadata: {', '.join(map(repr, named))} {'is' if len(named) == 1 else 'are'} what"
                " this request was counted under (spend reports and budgets group by it, or its token"
                " sets it): a PATCH cannot set, change or remove it; use another key",
                field="metadata",
                fixed=named,
            )
        copy = self.model_copy()
        copy._fixed = fixed
        return copy

    def echo(self, log_id: str) -> dict[str, Any]:
        """The answer to a token that may give feedback but not read the logs: the record's id and
        the fields sent, as sent (the record itself, its metadata merged, is for readers only)."""
        return {"id": log_id, **self.model_dump(include=self.model_fields_set)}

    def apply(
        self, feedback: int | None, score: float | None, metadata: dict[str, Any]
    ) -> tuple[int | None, float | None, dict[str, Any]]:
        """A record's feedback, score and metadata after this change; `MetadataFull` (a 400 naming
        `metadata`) when the merge would hold more than `MAX_METADATA_ENTRIES` entries."""
        given = self.model_fields_set
        if "feedback" in given:
            feedback = self.feedback
        if "score" in given:
            score = self.score
        if "metadata" in given:
            metadata = _merged(metadata, self.metadata, self._fixed)
        return feedback, score, metadata


def _merged(current: dict[str, Any], patch: dict[str, Any] | None, fixed: frozenset[str]) -> dict[str, Any]:
    if patch is None:
        return {key: value for key, value in current.items() if key in fixed}
    merged = {key: value for key, value in (current | patch).items() if value is not None}
    if len(merged) > MAX_METADATA_ENTRIES:
        raise MetadataFull(
            f"metadata: the record would hold {len(merged)} entries, at most {MAX_METADATA_ENTRIES} are"
            " allowed; remove some by sending them as null"
        )
    return merged


class MetadataFull(BadRequest):
    """A merge past `MAX_METADATA_ENTRIES`. Its message counts the record's entries (and, by how
    the count moves, tells which keys it holds): for readers of the record only."""

    def __init__(self, message: str) -> None:
        super().__init__(message, field="metadata")

    @classmethod
    def unread(cls) -> MetadataFull:
        """The same refusal for a token that may give feedback but not read the record."""
        return cls(
            f"metadata: this change would take the record past {MAX_METADATA_ENTRIES} entries; remove"
            " some by sending them as null"
        )
