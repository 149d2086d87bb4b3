"""The Replicate adapter on recorded predictions: URLs, facts, usage, generated text."""

from __future__ import annotations

from typing import Any

import orjson

from sluicegate.providers import REGISTRY
from sluicegate.providers.base import Route, RunningJob
from sluicegate.providers.replicate import REPLICATE
from sluicegate.types import Usage

MODEL = "meta/meta-llama-3-8b-instruct"
CREATE = Route("local", f"models/{MODEL}/predictions")
SDK_CREATE = Route("local", f"v1/models/{MODEL}/predictions")
PREDICTIONS = Route("local", "predictions")
GET = Route("local", "predictions/gm3qorzdhgbfurvjtvhg6dckhu")


def prediction(status: str, **fields: Any) -> bytes:
    return orjson.dumps(
        {
            "id": "gm3qorzdhgbfurvjtvhg6dckhu",
            "model": MODEL,
            "version": "dp-4d2de9e5",
            "input": {"prompt": "Tell me a joke"},
            "logs": "",
            "output": None,
            "error": None,
            "status": status,
            "created_at": "2024-07-01T10:00:00.000Z",
            "urls": {
                "cancel": "https://api.replicate.com/v1/predictions/gm3qorzdhgbfurvjtvhg6dckhu/cancel",
                "get": "https://api.replicate.com/v1/predictions/gm3qorzdhgbfurvjtvhg6dckhu",
                "stream": "https://stream.replicate.com/v1/files/bcwr-3okdfv3o2wehstv5f2okyftwxy57hhypqsi6osiim5iaq5yebb6a",
            },
            **fields,
        }
    )


SUCCEEDED = prediction(
    "succeeded",
    output=["Why", " did", " the", " chicken"],
    metrics={
        "batch_size": 1,
        "input_token_count": 11,
        "output_token_count": 4,
        "predict_time": 0.31,
        "time_to_first_token": 0.05,
        "tokens_per_second": 12.9,
    },
)


def test_registered_under_its_slug() -> None:
    assert REGISTRY["replicate"] is REPLICATE


def test_upstream_url_accepts_cloudflares_path_and_the_sdks_v1_alias() -> None:
    base = REPLICATE.default_base_url
    assert REPLICATE.upstream_url(base, PREDICTIONS) == "https://api.replicate.com/v1/predictions"
    assert (
        REPLICATE.upstream_url(base, SDK_CREATE)
        == "https://api.replicate.com/v1/models/meta/meta-llama-3-8b-instruct/predictions"
    )
    cancel = Route("local", "v1/predictions/abc/cancel")
    assert (
        REPLICATE.upstream_url("http://127.0.0.1:9/v1/", cancel)
        == "http://127.0.0.1:9/v1/predictions/abc/cancel"
    )
    listing = Route("local", "predictions", "cursor=cD0yMDI0")
    assert REPLICATE.upstream_url(base, listing) == "https://api.replicate.com/v1/predictions?cursor=cD0yMDI0"


def test_request_facts() -> None:
    body = b'{"input": {"prompt": "hi"}, "stream": true}'
    facts = REPLICATE.read_request(CREATE, body)
    assert (facts.model, facts.stream, facts.payload) == (
        MODEL,
        False,
        {"input": {"prompt": "hi"}, "stream": True},
    )
    assert REPLICATE.read_request(SDK_CREATE, body).model == MODEL
    deployment = Route("local", "deployments/acme/my-llama/predictions")
    assert REPLICATE.read_request(deployment, body).model == "acme/my-llama"
    versioned = REPLICATE.read_request(
        PREDICTIONS, b'{"version": "replicate/hello-world:5c7d5dc6", "input": {}}'
    )
    assert versioned.model == "replicate/hello-world"
    # Cloudflare's own example puts a model name in `version`.
    assert REPLICATE.read_request(PREDICTIONS, b'{"version": "anthropic/claude-4.5-haiku"}').model == (
        "anthropic/claude-4.5-haiku"
    )
    assert REPLICATE.read_request(PREDICTIONS, b'{"version": "5c7d5dc6dd8b"}').model == "5c7d5dc6dd8b"
    assert REPLICATE.read_request(GET, b"").model is None
    assert REPLICATE.read_request(GET, b"").payload is None
    assert REPLICATE.read_request(PREDICTIONS, b"garbage").model is None


def test_usage_from_a_finished_prediction() -> None:
    # Every later read of it reports the same tokens: the prediction's id lets them be counted once.
    assert REPLICATE.read_usage(GET, SUCCEEDED) == Usage(
        input_tokens=11, output_tokens=4, job="gm3qorzdhgbfurvjtvhg6dckhu"
    )
    # Still running: nothing used yet, so the gateway must not estimate this exchange either.
    assert REPLICATE.read_usage(CREATE, prediction("starting")) == Usage()
    assert REPLICATE.read_usage(GET, prediction("processing", output=["Why"])) == Usage()
    # Finished without token counts (an image model): unknown.
    image = prediction(
        "succeeded", output=["https://replicate.delivery/x.png"], metrics={"predict_time": 2.5}
    )
    assert REPLICATE.read_usage(GET, image) is None
    assert REPLICATE.read_usage(GET, b'{"title": "Not found", "detail": "...", "status": 404}') is None
    assert REPLICATE.read_usage(GET, b"[1]") is None


def test_a_prediction_still_running_is_read_again_by_its_id() -> None:
    # A create that did not wait, in either path form, and a poll before it finished: read by id.
    running = RunningJob("gm3qorzdhgbfurvjtvhg6dckhu", GET)
    assert REPLICATE.running_job(CREATE, prediction("starting")) == running
    assert REPLICATE.running_job(SDK_CREATE, prediction("starting")) == running
    assert REPLICATE.running_job(GET, prediction("processing", output=["Why"])) == running
    # Finished (every later read reports its usage), or no prediction: nothing to read again.
    for done in ("succeeded", "failed", "canceled", "aborted"):
        assert REPLICATE.running_job(GET, prediction(done)) is None
    assert REPLICATE.running_job(GET, SUCCEEDED) is None
    assert REPLICATE.running_job(GET, prediction("starting", id=None)) is None
    assert REPLICATE.running_job(GET, b'{"detail": "starting", "status": 404}') is None
    assert REPLICATE.running_job(GET, b"[1]") is None
    # An id is one path segment, whatever the answer says.
    odd = REPLICATE.running_job(CREATE, prediction("starting", id="../account"))
    assert odd == RunningJob("../account", Route("local", "predictions/..%2Faccount"))


def test_only_a_prediction_that_streams_is_read_again_never_a_training() -> None:
    # An image model's prediction has no `urls.stream`, and its finished read reports no tokens.
    urls = {"get": "https://api.replicate.com/v1/predictions/gm3qorzdhgbfurvjtvhg6dckhu"}
    for create in (CREATE, PREDICTIONS, Route("local", "deployments/acme/llama/predictions")):
        assert REPLICATE.running_job(create, prediction("starting", urls=urls)) is None
        assert REPLICATE.running_job(create, prediction("starting", urls=None)) is None
    assert REPLICATE.running_job(PREDICTIONS, prediction("starting")) is not None
    # A training answers `starting` too: its id names no prediction.
    for training in ("trainings", f"models/{MODEL}/versions/dp-4d2de9e5/trainings", "v1/trainings/t1"):
        assert REPLICATE.running_job(Route("local", training), prediction("starting")) is None


def test_the_model_of_a_prediction_read_by_id_is_the_answers() -> None:
    # A get or cancel names no model: the prediction's `model` prices and logs it.
    assert REPLICATE.answer_model(GET, SUCCEEDED, streamed=False) == MODEL
    assert REPLICATE.answer_model(Route("local", "v1/predictions/x/cancel"), SUCCEEDED, False) == MODEL
    assert REPLICATE.answer_model(PREDICTIONS, SUCCEEDED, streamed=False) == MODEL  # a bare version
    assert REPLICATE.answer_model(CREATE, SUCCEEDED, streamed=False) is None  # the path says
    assert REPLICATE.answer_model(GET, prediction("succeeded", model=None), streamed=False) is None
    assert REPLICATE.answer_model(GET, b"garbage", streamed=False) is None


def test_output_text() -> None:
    assert REPLICATE.output_text(GET, SUCCEEDED, streamed=False) == "Why did the chicken"
    assert (
        REPLICATE.output_text(GET, prediction("succeeded", output="one string"), streamed=False)
        == "one string"
    )
    assert REPLICATE.output_text(GET, prediction("succeeded", output={"json": 1}), streamed=False) == ""
    stream = (
        b"event: output\nid: 1690212292:0\ndata: Why\n\n"
        b"event: output\nid: 1690212292:1\ndata:  did\n\n"
        b"event: logs\nid: 1690212292:2\ndata: loading\n\n"
        b"event: done\nid: 1690212292:3\ndata: {}\n\n"
    )
    assert REPLICATE.output_text(GET, stream, streamed=True) == "Why did"
    assert REPLICATE.read_stream_usage(GET, stream) is None
