"""Key pools (keypool_contract.py, run here on the in-process store), and what a pool is."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from sluicegate.routing.keypool import KeyPool, PoolKey
from tests.routing.keypool_contract import *  # noqa: F403  (every contract test runs here)


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ([], "at least 1 item"),
        ([{"name": "a"}, {"name": "a"}], "each key is named once; repeated: a"),
        ([{"name": "a", "weight": 0}], "greater than 0"),
        ([{"name": "has space"}], "should match pattern"),
        ([{"name": "a", "key": "sk-secret"}], "Extra inputs are not permitted"),
    ],
)
def test_a_pool_is_validated(keys: list[dict[str, object]], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        KeyPool.model_validate({"keys": keys})


def test_a_pool_key_holds_a_name_and_a_weight_only() -> None:
    assert set(PoolKey.model_fields) == {"name", "weight"}
