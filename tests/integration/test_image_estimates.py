"""Images are reserved at what the provider bills for them: a burst of image-heavy requests under a
tokens rule stays within it. The fake OpenAI counts image parts as OpenAI does (tile rule, size from
the PNG's header); clients are the official `openai` SDK, without retries.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from typing import Any

import openai

from tests.conftest import RunningGateway
from tests.fakes.openai_server import FakeOpenAI
from tests.image_files import png

LIMIT = 20_000
IMAGE = "data:image/png;base64," + base64.b64encode(png(1024, 1024)).decode()  # 765 tokens, high detail


async def test_an_image_heavy_burst_does_not_overshoot_a_tokens_rule(
    make_gateway: Callable[..., RunningGateway], fake: FakeOpenAI
) -> None:
    gateway = make_gateway(upstreams={"openai": fake.base_url})
    gateway.configure(rate_limits=[{"name": "images", "limit": LIMIT, "period": 86400, "unit": "tokens"}])
    client = openai.AsyncOpenAI(base_url=gateway.provider_url("openai"), api_key="sk-test", max_retries=0)
    image: dict[str, Any] = {"type": "image_url", "image_url": {"url": IMAGE, "detail": "high"}}
    content: list[Any] = [{"type": "text", "text": "describe these"}, image, image, image, image]
    messages: list[Any] = [{"role": "user", "content": content}]

    async def one() -> bool:
        try:
            await client.chat.completions.create(
                model="gpt-4o",
                messages=messages,
                max_tokens=10,
                extra_headers={"x-fake-behavior": "slow-200"},  # all in flight together
            )
        except openai.RateLimitError:
            return False
        return True

    try:
        answered = await asyncio.gather(*(one() for _ in range(40)))
    finally:
        await client.close()
    records = gateway.wait_for_logs(40)
    used = sum((r["tokens_in"] or 0) + (r["tokens_out"] or 0) for r in records)
    # Each request is 4 × 765 image tokens and 8 of text: 6 fit in the limit, and no more ran.
    assert [r["tokens_in"] for r in records if r["status"] == 200] == [3068] * sum(answered)
    assert 1 <= sum(answered) <= 6
    assert used <= LIMIT, (sum(answered), used)
