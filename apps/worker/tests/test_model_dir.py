"""Bad model directories: a clear MODEL_LOAD_FAILED naming the path and the expected files."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from t2v_worker.engines.wan import check_model_dir
from t2v_worker.errors import ModelLoadFailed
from worker_support import WorkerProcess


def _complete(root: Path) -> Path:
    (root / "model_index.json").write_text(json.dumps({"_class_name": "WanPipeline"}))
    for sub, config in (
        ("transformer", "config.json"),
        ("vae", "config.json"),
        ("text_encoder", "config.json"),
        ("scheduler", "scheduler_config.json"),
        ("tokenizer", "tokenizer_config.json"),
    ):
        (root / sub).mkdir()
        (root / sub / config).write_text("{}")
    for sub in ("transformer", "vae", "text_encoder"):
        (root / sub / "diffusion_pytorch_model.safetensors").write_bytes(b"")
    return root


def test_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadFailed) as err:
        check_model_dir(str(tmp_path / "nowhere"))
    message = str(err.value)
    assert str(tmp_path / "nowhere") in message and "does not exist" in message
    assert "model_index.json" in message and "transformer/" in message
    assert err.value.code == "MODEL_LOAD_FAILED"


def test_path_is_a_file(tmp_path: Path) -> None:
    target = tmp_path / "model.safetensors"
    target.write_bytes(b"x")
    with pytest.raises(ModelLoadFailed, match="is not a directory"):
        check_model_dir(str(target))


def test_empty_directory_lists_everything(tmp_path: Path) -> None:
    with pytest.raises(ModelLoadFailed) as err:
        check_model_dir(str(tmp_path))
    message = str(err.value)
    for name in ("model_index.json", "transformer/", "vae/", "text_encoder/", "tokenizer/", "scheduler/"):
        assert name in message.split(";")[0], name


def test_incomplete_directory_names_the_missing_pieces(tmp_path: Path) -> None:
    root = _complete(tmp_path)
    (root / "vae" / "config.json").unlink()
    (root / "transformer" / "diffusion_pytorch_model.safetensors").unlink()
    with pytest.raises(ModelLoadFailed) as err:
        check_model_dir(str(root))
    missing = str(err.value).split(";")[0]
    assert "vae/config.json" in missing and "transformer/*.safetensors" in missing
    assert "tokenizer/" not in missing


def test_wrong_pipeline_class(tmp_path: Path) -> None:
    root = _complete(tmp_path)
    (root / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    with pytest.raises(ModelLoadFailed, match="expected 'WanPipeline'"):
        check_model_dir(str(root))


def test_complete_layout_passes(tmp_path: Path) -> None:
    check_model_dir(str(_complete(tmp_path)))


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["missing", "incomplete", "broken-weights"])
def test_worker_reports_model_load_failed_and_exits(tmp_path: Path, layout: str) -> None:
    root = tmp_path / "Wan2.2-TI2V-5B-Diffusers"
    if layout != "missing":
        root.mkdir()
        _complete(root)
    if layout == "incomplete":
        (root / "text_encoder" / "config.json").unlink()
    worker = WorkerProcess(
        {"T2V_ENGINE": "wan", "T2V_MODEL_PATH": str(root), "T2V_HEARTBEAT_INTERVAL_S": "30"}
    )
    event = worker.next_event(timeout=120)
    code = worker.proc.wait(timeout=60)
    assert worker.bad_lines == []
    assert event["type"] == "error" and event["job_id"] is None
    assert event["code"] == "MODEL_LOAD_FAILED"
    assert str(root) in event["message"]
    if layout == "incomplete":
        assert "text_encoder/config.json" in event["message"]
    assert code != 0


@pytest.mark.slow
def test_bad_configuration_is_a_load_failure() -> None:
    worker = WorkerProcess({"T2V_ENGINE": "wan", "T2V_MODEL_PATH": "", "T2V_HEARTBEAT_INTERVAL_S": "30"})
    event = worker.next_event(timeout=60)
    assert worker.proc.wait(timeout=60) != 0
    assert event["code"] == "MODEL_LOAD_FAILED" and "T2V_MODEL_PATH" in event["message"]
