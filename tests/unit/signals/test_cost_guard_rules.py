"""The spike rule: twice the rolling 7-day average, counting only days the deployment existed."""
from __future__ import annotations

from datetime import date
from decimal import Decimal

import pytest

from shared.engine.cost_guard import is_spike, record_llm_usage, rolling_average

DAY = date(2025, 6, 10)


def test_rolling_average_over_seven_days():
    assert rolling_average(Decimal(14), date(2025, 5, 1), DAY) == Decimal(2)


def test_rolling_average_of_a_young_deployment_uses_its_own_days():
    assert rolling_average(Decimal(6), date(2025, 6, 7), DAY) == Decimal(2)  # 3 days of history


def test_no_history_no_baseline():
    assert rolling_average(Decimal(0), None, DAY) == 0
    assert rolling_average(Decimal(0), DAY, DAY) == 0
    assert not is_spike(Decimal(100), Decimal(0))


def test_spike_is_strictly_more_than_twice():
    assert not is_spike(Decimal(4), Decimal(2))
    assert is_spike(Decimal("4.01"), Decimal(2))


@pytest.mark.parametrize("kwargs", [
    {"path": "", "model": "m", "input_tokens": 1, "output_tokens": 1, "cost_usd": 0.1},
    {"path": "p", "model": "m", "input_tokens": -1, "output_tokens": 1, "cost_usd": 0.1},
    {"path": "p", "model": "m", "input_tokens": 1, "output_tokens": 1, "cost_usd": -0.1},
])
def test_nonsense_usage_is_a_programming_error(kwargs):
    import asyncio

    with pytest.raises(ValueError):
        asyncio.run(record_llm_usage(None, **kwargs))
