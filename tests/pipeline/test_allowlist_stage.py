"""The allow-list's decision, called with plain inputs: the first step a token may not send is
refused, named by its index on the universal endpoint."""

from __future__ import annotations

import pytest
from multidict import CIMultiDict

from sluicegate.allowance import Allowance
from sluicegate.errors import Forbidden
from sluicegate.exchange import Step
from sluicegate.pipeline.allowlist import check_allowed
from sluicegate.providers.base import RequestFacts, Route
from sluicegate.providers.openai import OPENAI
from tests.pipeline.stage_parts import ACCOUNT, make_exchange


def step(model: str) -> Step:
    return Step(OPENAI, Route(ACCOUNT, "chat/completions"), CIMultiDict(), b"", RequestFacts(model=model))


def test_the_first_step_a_token_may_not_send_is_refused_by_its_index() -> None:
    allowance = Allowance(models=("gpt-4o*",))
    universal = make_exchange(kind="universal").request
    check_allowed(allowance, [step("gpt-4o-mini"), step("gpt-4o")], universal)
    with pytest.raises(Forbidden, match=r"step 1: this token may use the models .*, not 'o3'") as caught:
        check_allowed(allowance, [step("gpt-4o-mini"), step("o3")], universal)
    assert caught.value.details["step"] == 1
    with pytest.raises(Forbidden, match=r"^this token may use"):
        check_allowed(allowance, [step("o3")], make_exchange().request)
