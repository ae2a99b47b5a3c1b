"""Fixtures for the pure trip-planning tests."""
import pytest

from tests.unit.trips.trips_synthetic import make_venues


@pytest.fixture
def venues():
    return make_venues()
