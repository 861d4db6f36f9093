"""The Python protocol against the golden fixtures the TypeScript suite reads too."""

from __future__ import annotations

import dataclasses
import json

import pytest

from t2v_worker import protocol
from t2v_worker.params import GenerateParams, ImageInput, LoraChoice
from worker_support import CARD_FIXTURES, FIXTURES


def _lines(name: str) -> list[str]:
    return [line for line in (FIXTURES / name).read_text().splitlines() if line.strip()]


def _invalid(name: str) -> list[tuple[str, str]]:
    return [(row["raw"], row["why"]) for row in map(json.loads, _lines(name))]


def _wire(request: protocol.Request) -> dict[str, object]:
    """A typed request back in its wire form, to compare with the line it came from."""
    if isinstance(request, protocol.GenerateRequest):
        params = dataclasses.asdict(request.params)
        params["loras"] = list(params["loras"])
        return {"type": "generate", **dataclasses.asdict(request), "params": params}
    if isinstance(request, protocol.CancelRequest):
        return {"type": "cancel", "job_id": request.job_id}
    return {"type": "shutdown"}


@pytest.mark.parametrize("line", _lines("requests.valid.jsonl"))
def test_valid_requests_parse_once_into_typed_requests(line: str) -> None:
    request = protocol.parse_request(line)
    assert _wire(request) == json.loads(line)
    if isinstance(request, protocol.GenerateRequest):
        assert isinstance(request.params, GenerateParams)
        assert all(isinstance(choice, LoraChoice) for choice in request.params.loras)
        assert request.params.image is None or isinstance(request.params.image, ImageInput)


@pytest.mark.parametrize(("raw", "why"), _invalid("requests.invalid.jsonl"))
def test_invalid_requests_rejected(raw: str, why: str) -> None:
    with pytest.raises(protocol.ProtocolError):
        protocol.parse_request(raw)


@pytest.mark.parametrize("line", _lines("events.valid.jsonl"))
def test_valid_events_parse(line: str) -> None:
    assert protocol.parse_event(line) == json.loads(line)


@pytest.mark.parametrize(("raw", "why"), _invalid("events.invalid.jsonl"))
def test_invalid_events_rejected(raw: str, why: str) -> None:
    with pytest.raises(protocol.ProtocolError):
        protocol.parse_event(raw)


def test_fixture_files_are_not_empty() -> None:
    for name in (
        "requests.valid.jsonl",
        "requests.invalid.jsonl",
        "events.valid.jsonl",
        "events.invalid.jsonl",
    ):
        assert len(_lines(name)) >= 4, name


def test_events_are_not_requests() -> None:
    with pytest.raises(protocol.ProtocolError, match="unknown type"):
        protocol.parse_request(_lines("events.valid.jsonl")[0])


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ('{"type":"cancel","job_id":"x"', "not JSON"),
        ('{"type":"cancel","job_id":NaN}', "not JSON"),
        ('{"type":"cancel","job_id":1}', 'cancel: invalid field "job_id"'),
        ('{"type":"shutdown","now":true}', 'shutdown: unexpected field "now"'),
        ("[]", 'missing "type"'),
        ('{"type":"reboot"}', 'unknown type "reboot"'),
    ],
)
def test_reasons_match_the_typescript_parser(line: str, reason: str) -> None:
    with pytest.raises(protocol.ProtocolError) as err:
        protocol.parse_request(line)
    assert str(err.value) == reason


def _generate(**params: object) -> str:
    base = {
        "prompt": "p",
        "negative_prompt": None,
        "width": 128,
        "height": 128,
        "num_frames": 17,
        "fps": 8,
        "num_inference_steps": 4,
        "guidance_scale": 1,
        "seed": 1,
        "flow_shift": None,
        "acceleration": "auto",
        "image": None,
        "loras": [],
        "preview": True,
    }
    base.update(params)
    return json.dumps(
        {"type": "generate", "job_id": "j", "params": base, "out_path": "/a.mp4", "thumbnail_path": "/a.jpg"}
    )


def test_integral_floats_are_integers_as_in_javascript() -> None:
    # JSON.parse("17.0") is the integer 17 in JavaScript; the two sides must agree.
    request = protocol.parse_request(_generate(num_frames=17.0, width=128.0))
    assert isinstance(request, protocol.GenerateRequest)
    assert (request.params.num_frames, request.params.width) == (17, 128)
    assert isinstance(request.params.num_frames, int)


def test_a_bad_generate_names_its_job_so_it_can_be_answered() -> None:
    with pytest.raises(protocol.ProtocolError) as err:
        protocol.parse_request(_generate(num_frames=16))
    assert (str(err.value), err.value.job_id) == ('generate: invalid field "params"', "j")
    with pytest.raises(protocol.ProtocolError) as err:
        protocol.parse_request('{"type":"generate","job_id":"","params":{}}')
    assert err.value.job_id is None
    with pytest.raises(protocol.ProtocolError) as err:
        protocol.parse_request('{"type":"cancel","job_id":3}')
    assert err.value.job_id is None


def _card_lines(name: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in (CARD_FIXTURES / name).read_text().splitlines() if line.strip()]


@pytest.mark.parametrize("case", _card_lines("valid.jsonl"), ids=lambda c: str(c["why"]))
def test_valid_cards(case: dict[str, object]) -> None:
    assert protocol.model_card_problem(case["card"]) is None
    event = protocol.ready("cpu", 1.0, case["card"])  # type: ignore[arg-type]
    assert protocol.parse_event(protocol.encode(event)) == event


@pytest.mark.parametrize("case", _card_lines("invalid.jsonl"), ids=lambda c: str(c["why"]))
def test_invalid_cards(case: dict[str, object]) -> None:
    assert protocol.model_card_problem(case["card"]) is not None
    with pytest.raises(protocol.ProtocolError):
        protocol.parse_event(
            json.dumps({"type": "ready", "protocol": 3, "device": "cpu", "load_s": 1, "card": case["card"]})
        )


@pytest.mark.parametrize(
    "params",
    [
        {"num_frames": True},
        {"seed": False},
        {"width": 127.5},
        {"num_frames": 16},
        {"num_frames": 0},
        {"guidance_scale": -1},
        {"guidance_scale": "5"},
        {"flow_shift": "3"},
        {"negative_prompt": 3},
        {"prompt": ""},
        {"extra": 1},
    ],
)
def test_params_are_strict(params: dict[str, object]) -> None:
    with pytest.raises(protocol.ProtocolError):
        protocol.parse_request(_generate(**params))


def test_frame_counts_are_4k_plus_1() -> None:
    assert [n for n in range(0, 30) if protocol.is_frame_count(n)] == [1, 5, 9, 13, 17, 21, 25, 29]


def test_constructed_events_are_valid() -> None:
    events = [
        protocol.ready("cpu", 4.2, _card_lines("valid.jsonl")[2]["card"]),  # type: ignore[arg-type]
        protocol.progress("j", 0, 4),
        protocol.progress("j", 4, 4),
        protocol.done(
            "j",
            "/a.mp4",
            "/a.jpg",
            17,
            8,
            128,
            128,
            0.4,
            0.1,
            {
                "cache": "first-block:0.05",
                "compile": "off",
                "attention": "native",
                "passes": 5,
                "planned_passes": 8,
                "weights": "fp8",
            },
        ),
        protocol.error("j", "CANCELLED", "cancelled at step 2 of 4"),
        protocol.error(None, "MODEL_LOAD_FAILED", "missing"),
        protocol.heartbeat(None, None, 123),
        protocol.heartbeat(1 << 34, 1 << 37, 1 << 30),
    ]
    for event in events:
        line = protocol.encode(event)
        assert line.endswith("\n") and line.count("\n") == 1
        assert protocol.parse_event(line) == event


def test_error_codes_are_the_closed_set() -> None:
    with pytest.raises(ValueError):
        protocol.error("j", "SEGFAULT", "m")


def test_encode_refuses_nan() -> None:
    with pytest.raises(ValueError):
        protocol.encode({"type": "ready", "load_s": float("nan")})


def test_error_codes_match_the_typescript_list() -> None:
    source = (FIXTURES.parents[1] / "src" / "protocol.ts").read_text()
    block = source.split("WORKER_ERROR_CODES = [", 1)[1].split("]", 1)[0]
    ts_codes = tuple(part.strip().strip("'\"") for part in block.split(",") if part.strip())
    assert ts_codes == protocol.WORKER_ERROR_CODES


def test_permanent_exit_status_matches_the_typescript_constant() -> None:
    source = (FIXTURES.parents[1] / "src" / "protocol.ts").read_text()
    ts_value = source.split("export const WORKER_EXIT_PERMANENT = ", 1)[1].split(";", 1)[0]
    assert int(ts_value) == protocol.EXIT_PERMANENT
