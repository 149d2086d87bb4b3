"""The retry stage's loop, called with plain inputs (request, plan, tries): what it tried comes back
on `Tries`, the answer as its return value; nothing of an Exchange is needed."""

from __future__ import annotations

from sluicegate.exchange import RequestPlan
from sluicegate.pipeline.forward import Forwarder
from sluicegate.pipeline.retry import STEP_HEADER, Attempts, Tries
from tests.fakes.in_process import InProcessTransport
from tests.fakes.openai_server import BEHAVIOR_HEADER, FakeOpenAI
from tests.pipeline.stage_parts import make_exchange
from tests.pipeline.test_forward_stage import BASE_URL, ORIGIN, chat_step


async def test_a_refused_step_falls_back_and_the_tries_come_back_with_the_answer() -> None:
    upstream = InProcessTransport({ORIGIN: FakeOpenAI().build_app()})
    attempts = Attempts(Forwarder(upstream, {"openai": BASE_URL}, exchange_timeout=10), deadline=10)
    plan = RequestPlan(steps=[chat_step(**{BEHAVIOR_HEADER: "rate-limited"}), chat_step()])
    tries = Tries()
    answer = await attempts.try_steps(make_exchange().request, plan, tries)
    assert not isinstance(answer, Exception)
    assert answer.status == 200
    assert STEP_HEADER not in answer.headers  # the stage labels the answer, not the loop
    assert tries.step_index == 1
    assert [(a.step, a.status) for a in tries.attempts] == [(0, 429), (1, 200)]
    assert plan.step_index == 0  # the plan given is not written to
