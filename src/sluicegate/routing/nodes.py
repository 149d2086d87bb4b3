"""The route model: a tree of nodes, each kind recognised by the one key that names it.

    {"model": "<provider>/<model>", "timeout_ms", "max_attempts", "retry_delay_ms", "backoff"}
    {"split": [{"weight": 90, "then": node}, ...], "sticky": "metadata.user"}
    {"if": condition, "then": node, "else": node}
    {"fallback": [node, node, ...]}
    {"limit": {"unit", "limit", "period", "technique", "scope"}, "then": node, "else": node}

`NODE` validates and dumps a node (`dump` gives back the JSON it came from); route.py adds the
limits on size and the checks that need the whole tree.
"""

from __future__ import annotations

import bisect
import itertools
import re
from typing import Annotated, Any

import orjson
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    PlainSerializer,
    PlainValidator,
    PrivateAttr,
    Tag,
    TypeAdapter,
    ValidationInfo,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from sluicegate.gateway import RateLimitRule
from sluicegate.routing.conditions import METADATA_FIELD, Condition, ConditionProblem, compile_condition
from sluicegate.types import Backoff

KINDS = ("model", "split", "if", "fallback", "limit")
MAX_ATTEMPTS = 5  # the bounds of the gateway's own retry settings (GatewaySettings)
MAX_RETRY_DELAY_MS = 5000
MAX_TIMEOUT_MS = 600_000
MAX_BRANCHES = 10
MAX_FALLBACK = 10
_PROVIDER_MODEL = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}/\S{1,256}")
ROUTE_SCOPES = "gateway, token or metadata.<field>"
# Validation context key: the node was stored (by this or an older version), not sent to be saved.
STORED = "stored"


class _Node(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        allow_inf_nan=False,
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )


class TargetNode(_Node):
    """A concrete model; the retry fields override the gateway's defaults for this target."""

    model: str = Field(description='"<provider>/<model>"')
    timeout_ms: int | None = Field(None, gt=0, le=MAX_TIMEOUT_MS, description="ms until the answer starts")
    max_attempts: int | None = Field(None, ge=1, le=MAX_ATTEMPTS, description="tries of this target")
    retry_delay_ms: int | None = Field(None, ge=0, le=MAX_RETRY_DELAY_MS)
    backoff: Backoff | None = None

    @field_validator("model")
    @classmethod
    def _model_names_provider(cls, value: str) -> str:
        if not _PROVIDER_MODEL.fullmatch(value):
            raise PydanticCustomError(
                "target_model",
                'expected "<provider>/<model>", e.g. "openai/gpt-4o-mini"; got {got}',
                {"got": repr(value)[:80]},
            )
        return value

    @property
    def provider(self) -> str:
        return self.model.partition("/")[0]

    @property
    def provider_model(self) -> str:
        """The model's name at its provider (what follows the first `/`)."""
        return self.model.partition("/")[2]


class Branch(_Node):
    weight: float = Field(ge=0, le=1_000_000, description="relative share; 0 turns the branch off")
    then: Node

    @field_validator("weight", mode="before")
    @classmethod
    def _weight_is_a_number(cls, value: Any, info: ValidationInfo) -> Any:
        # A JSON number only: pydantic would take "50" and true (as 1) for a float. Refused when a
        # route is saved; a route stored before (`STORED` context) is read as it was, "50" as 50.
        if info.context and info.context.get(STORED):
            return value
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise PydanticCustomError(
                "weight_number", "expected a number (e.g. 90 or 0.9), got {got}", {"got": _json_text(value)}
            )
        return value


class SplitNode(_Node):
    """One branch, chosen by weight: at random, or by a hash of the `sticky` field's value."""

    split: list[Branch] = Field(min_length=1, max_length=MAX_BRANCHES)
    sticky: str | None = Field(None, description="token, or metadata.<field>: that value keeps its branch")
    _bounds: tuple[float, ...] = PrivateAttr(default=())

    @field_validator("sticky")
    @classmethod
    def _sticky_field(cls, value: str | None) -> str | None:
        if value is not None and value != "token" and not METADATA_FIELD.fullmatch(value):
            raise PydanticCustomError(
                "sticky_field",
                'expected "metadata.<field>" (e.g. "metadata.user") or "token"; got {got}',
                {"got": repr(value)[:80]},
            )
        return value

    @model_validator(mode="after")
    def _some_weight(self) -> SplitNode:
        if sum(branch.weight for branch in self.split) <= 0:
            raise PydanticCustomError(
                "split_weights", "every weight is 0: give at least one branch a weight above 0"
            )
        return self

    def model_post_init(self, context: Any) -> None:
        self._bounds = tuple(itertools.accumulate(branch.weight for branch in self.split))

    def pick(self, share: float) -> int:
        """The branch at `share` ∈ [0, 1) of the total weight (branches of weight 0 never win)."""
        bounds = self._bounds
        return min(bisect.bisect_right(bounds, share * bounds[-1]), len(bounds) - 1)


def _json_text(value: Any) -> str:
    """`value` as the client wrote it in JSON (`true`, `"50"`), shortened."""
    try:
        return orjson.dumps(value).decode()[:80]
    except (orjson.JSONEncodeError, TypeError):
        return repr(value)[:80]


def _condition(value: Any) -> Condition:
    if isinstance(value, Condition):
        return value
    try:
        return compile_condition(value)
    except ConditionProblem as problem:
        raise PydanticCustomError(
            "condition", "{problem}", {"problem": problem.message, "at": problem.at}
        ) from None


ConditionField = Annotated[
    Condition,
    PlainValidator(_condition),
    PlainSerializer(lambda condition: condition.raw),
    WithJsonSchema({"type": "object", "description": "see docs/routing.md: conditions"}),
]


class IfNode(_Node):
    if_: ConditionField = Field(alias="if")
    then: Node
    else_: Node = Field(alias="else")


class LimitRule(RateLimitRule):
    """A rule of the gateway's own kind; inside a route it can count per gateway, token or
    metadata field, not per provider or model: those are only known below the limit."""

    scope: str = Field("gateway", description=ROUTE_SCOPES)

    @field_validator("scope")
    @classmethod
    def _route_scope(cls, value: str) -> str:
        if value in ("gateway", "token") or METADATA_FIELD.fullmatch(value):
            return value
        why = " (the provider and model are chosen below the limit)" if value in ("provider", "model") else ""
        raise PydanticCustomError(
            "limit_scope",
            "expected {scopes}{why}; got {got}",
            {"scopes": ROUTE_SCOPES, "why": why, "got": repr(value)[:80]},
        )


class LimitNode(_Node):
    """`then` while the rule holds for this request's scope value, `else` once it is spent (no
    `else`: the request is refused with a 429)."""

    limit: LimitRule
    then: Node
    else_: Node | None = Field(None, alias="else")


class FallbackNode(_Node):
    """Every member's targets, in order: the next is tried when one fails."""

    fallback: list[Node] = Field(min_length=1, max_length=MAX_FALLBACK)


def _kind_of(value: Any) -> str | None:
    if isinstance(value, dict):
        found = [kind for kind in KINDS if kind in value]
        return found[0] if len(found) == 1 else None
    return _TAGS.get(type(value))  # serialising: a node already built


Node = Annotated[
    Annotated[TargetNode, Tag("model")]
    | Annotated[SplitNode, Tag("split")]
    | Annotated[IfNode, Tag("if")]
    | Annotated[FallbackNode, Tag("fallback")]
    | Annotated[LimitNode, Tag("limit")],
    Discriminator(
        _kind_of,
        custom_error_type="node_kind",
        custom_error_message="expected a node: an object with one of model, split, if, fallback, limit",
    ),
]
AnyNode = TargetNode | SplitNode | IfNode | FallbackNode | LimitNode
_TAGS: dict[type[BaseModel], str] = {
    TargetNode: "model",
    SplitNode: "split",
    IfNode: "if",
    FallbackNode: "fallback",
    LimitNode: "limit",
}
FIELDS: dict[str, tuple[str, ...]] = {
    tag: tuple(field.alias or name for name, field in cls.model_fields.items()) for cls, tag in _TAGS.items()
}
# The nodes refer to `Node`, defined after them.
Branch.model_rebuild()
SplitNode.model_rebuild()
IfNode.model_rebuild()
LimitNode.model_rebuild()
FallbackNode.model_rebuild()
NODE: TypeAdapter[AnyNode] = TypeAdapter(Node)


def dump(node: AnyNode) -> Any:
    """The node as JSON-ready data, with the fields it was written with (no defaults added)."""
    return NODE.dump_python(node, mode="json", exclude_unset=True)


def children(node: AnyNode, where: str) -> list[tuple[AnyNode, str]]:
    """The nodes directly below `node`, each with its path inside the route."""
    if isinstance(node, SplitNode):
        return [(branch.then, join(where, f"split[{i}].then")) for i, branch in enumerate(node.split)]
    if isinstance(node, FallbackNode):
        return [(member, join(where, f"fallback[{i}]")) for i, member in enumerate(node.fallback)]
    if isinstance(node, IfNode):
        return [(node.then, join(where, "then")), (node.else_, join(where, "else"))]
    if isinstance(node, LimitNode):
        below = [(node.then, join(where, "then"))]
        return below if node.else_ is None else [*below, (node.else_, join(where, "else"))]
    return []


def join(where: str, step: str) -> str:
    """`where.step`, where either may be empty (the root of a route, the node itself)."""
    return f"{where}.{step}" if where and step else where or step
