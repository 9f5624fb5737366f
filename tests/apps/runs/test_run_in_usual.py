"""The REST run's body read without DRF (apps.runs.api.serializers.run_in_usual) answers what
RunIn answers, for every body it takes; every other body is left to RunIn."""

from __future__ import annotations

from typing import Any

import pytest

from apps.runs.api.serializers import RunIn, run_in_usual

TAKEN: list[Any] = [
    {"inputs": {"message": "hi"}},
    {"inputs": {}, "version": "draft"},
    {"inputs": {"message": "hi", "n": 3, "nested": {"a": [1, None]}}, "version": "published", "stream": True},
    {"inputs": {"message": "hi"}, "stream": False, "session": None},
]
LEFT: list[Any] = [
    [],
    "text",
    {},  # inputs missing: RunIn's error
    {"inputs": "hi"},
    {"inputs": None},
    {"inputs": {"message": "hi"}, "version": "3"},
    {"inputs": {"message": "hi"}, "version": 3},
    {"inputs": {"message": "hi"}, "version": " draft"},
    {"inputs": {"message": "hi"}, "version": "latest"},
    {"inputs": {"message": "hi"}, "stream": "true"},
    {"inputs": {"message": "hi"}, "stream": 1},
    {"inputs": {"message": "hi"}, "session": "8d7e6f0a-1b2c-4d3e-8f90-a1b2c3d4e5f6"},
    {"inputs": {"message": "hi"}, "session": ""},
    {"inputs": {"message": "hi"}, "extra": 1},
]


@pytest.mark.parametrize("body", TAKEN)
def test_a_usual_body_reads_as_run_in_reads_it(body: Any) -> None:
    serializer = RunIn(data=body)
    assert serializer.is_valid(), serializer.errors
    assert run_in_usual(body) == dict(serializer.validated_data)


@pytest.mark.parametrize("body", LEFT)
def test_any_other_body_is_left_to_run_in(body: Any) -> None:
    assert run_in_usual(body) is None


def test_the_inputs_are_a_copy() -> None:
    body = {"inputs": {"message": "hi"}}
    data = run_in_usual(body)
    assert data is not None and data["inputs"] is not body["inputs"]
