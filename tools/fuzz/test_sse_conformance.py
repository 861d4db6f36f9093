"""The events stream against its spec, with the validator the fuzz run uses (schemathesis).

A real job's `GET /v1/videos/{id}/events` must satisfy the committed spec event by event (the name
and the JSON `data` with its status), and the same stream must fail a spec that says otherwise:
proof that `response_schema_conformance` in the fuzz run reads the events, not just the status.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest
import requests
import schemathesis

ROOT = Path(__file__).resolve().parents[2]
SPEC = json.loads((ROOT / "libs/sdk/openapi/openapi.json").read_text())
URL = os.environ["T2V_FUZZ_URL"]
EVENTS = ("/v1/videos/{id}/events", "GET")


@pytest.fixture(scope="module")
def stream() -> requests.Response:
    created = requests.post(
        f"{URL}/v1/videos",
        json={"prompt": "a lighthouse at dusk", "size": "256x256", "seconds": 1, "num_inference_steps": 4},
        timeout=10,
    )
    assert created.status_code == 200, created.text
    response = requests.get(f"{URL}/v1/videos/{created.json()['id']}/events", timeout=60)
    assert response.status_code == 200
    return response


def events_operation(spec: dict):
    path, method = EVENTS
    return schemathesis.openapi.from_dict(spec)[path][method]


def test_a_real_stream_matches_the_spec(stream: requests.Response) -> None:
    names = [line[len("event: ") :] for line in stream.text.splitlines() if line.startswith("event: ")]
    assert names[-1] == "video.completed" and "video.in_progress" in names
    events_operation(SPEC).validate_response(stream)


def test_a_wrong_status_in_data_fails(stream: requests.Response) -> None:
    wrong = copy.deepcopy(SPEC)
    for variant in wrong["components"]["schemas"]["VideoStreamEvent"]["oneOf"]:
        content = variant["properties"]["data"]["contentSchema"]
        if "allOf" not in content:
            continue  # video.preview carries a preview, not the video object
        content["allOf"][1]["properties"]["status"]["enum"] = ["failed"]
    with pytest.raises(Exception, match="SSE event"):
        events_operation(wrong).validate_response(stream)


def test_an_unknown_event_name_fails(stream: requests.Response) -> None:
    wrong = copy.deepcopy(SPEC)
    for variant in wrong["components"]["schemas"]["VideoStreamEvent"]["oneOf"]:
        variant["properties"]["event"]["enum"] = ["video.something_else"]
    with pytest.raises(Exception, match="SSE event"):
        events_operation(wrong).validate_response(stream)


def test_the_old_string_schema_fails(stream: requests.Response) -> None:
    old = copy.deepcopy(SPEC)
    path, method = EVENTS
    old["paths"][path][method.lower()]["responses"]["200"]["content"]["text/event-stream"]["schema"] = {
        "type": "string"
    }
    with pytest.raises(Exception, match="SSE event"):
        events_operation(old).validate_response(stream)
