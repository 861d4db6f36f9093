"""Bad model directories: a clear MODEL_LOAD_FAILED naming the path and the expected files."""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

import pytest

from t2v_worker.engines.wan import check_model_dir
from t2v_worker.errors import ModelLoadFailed, is_permanent
from t2v_worker.protocol import EXIT_PERMANENT
from worker_support import WORKER_DIR, WorkerProcess


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


def test_missing_directory_beside_other_models_is_permanent(tmp_path: Path) -> None:
    (tmp_path / "Wan2.1-T2V-1.3B-Diffusers").mkdir()
    with pytest.raises(ModelLoadFailed) as err:
        check_model_dir(str(tmp_path / "Wan2.2-TI2V-5B-Diffusers"))
    assert err.value.permanent and "does not exist" in str(err.value)


def test_missing_directory_under_an_empty_mount_point_is_retried(tmp_path: Path) -> None:
    mount = tmp_path / "models"
    mount.mkdir()
    with pytest.raises(ModelLoadFailed) as err:
        check_model_dir(str(mount / "Wan2.2-TI2V-5B-Diffusers"))
    assert not err.value.permanent
    assert f"{mount} is empty (a volume not mounted yet?)" in str(err.value)


def test_incomplete_directory_is_retried_but_a_wrong_pipeline_is_not(tmp_path: Path) -> None:
    root = _complete(tmp_path)
    (root / "vae" / "config.json").unlink()
    with pytest.raises(ModelLoadFailed) as err:
        check_model_dir(str(root))
    assert not err.value.permanent  # files may still be arriving
    (root / "vae" / "config.json").write_text("{}")
    (root / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    with pytest.raises(ModelLoadFailed) as err:
        check_model_dir(str(root))
    assert err.value.permanent


def test_import_errors_are_permanent_whatever_wraps_them() -> None:
    try:
        try:
            raise ModuleNotFoundError("No module named 'diffusers'", name="diffusers")
        except ImportError as inner:
            raise RuntimeError("pipeline construction failed") from inner
    except RuntimeError as outer:
        assert is_permanent(outer)
    assert not is_permanent(OSError("stale NFS file handle"))
    assert not is_permanent(ModelLoadFailed("incomplete"))
    assert is_permanent(ModelLoadFailed("wrong path", permanent=True))


@pytest.mark.slow
@pytest.mark.parametrize("layout", ["missing", "missing-mount", "incomplete", "broken-weights"])
def test_worker_reports_model_load_failed_and_exits(tmp_path: Path, layout: str) -> None:
    (tmp_path / "other-model").mkdir()
    root = tmp_path / "Wan2.2-TI2V-5B-Diffusers"
    if layout == "missing-mount":
        root = tmp_path / "mnt" / "Wan2.2-TI2V-5B-Diffusers"
        root.parent.mkdir()
    if not layout.startswith("missing"):
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
    has_torch = importlib.util.find_spec("torch") is not None
    if layout == "broken-weights" and not has_torch:
        assert "No module named 'torch'" in event["message"]
    else:
        assert str(root) in event["message"]
    if layout == "incomplete":
        assert "text_encoder/config.json" in event["message"]
    # A wrong path cannot heal; an empty mount point, missing files or unreadable weights may.
    # Without torch installed, broken weights are never reached: the missing module is permanent.
    permanent = layout == "missing" or (layout == "broken-weights" and not has_torch)
    assert code == (EXIT_PERMANENT if permanent else 1)


@pytest.mark.slow
def test_bad_configuration_is_a_load_failure() -> None:
    worker = WorkerProcess({"T2V_ENGINE": "wan", "T2V_MODEL_PATH": "", "T2V_HEARTBEAT_INTERVAL_S": "30"})
    event = worker.next_event(timeout=60)
    assert worker.proc.wait(timeout=60) == EXIT_PERMANENT
    assert event["code"] == "MODEL_LOAD_FAILED" and "T2V_MODEL_PATH" in event["message"]


@pytest.mark.slow
@pytest.mark.parametrize("module", ["torch", "diffusers"])
def test_a_missing_interpreter_module_is_permanent_and_names_the_setup_command(
    tmp_path: Path, module: str
) -> None:
    if module != "torch" and importlib.util.find_spec("torch") is None:
        pytest.skip("torch is missing here, so the worker stops at torch before reaching diffusers")
    # Whatever this interpreter has installed, `module` cannot be imported in the worker.
    shim = tmp_path / "shim" / module
    shim.mkdir(parents=True)
    (shim / "__init__.py").write_text(
        f"raise ModuleNotFoundError(\"No module named '{module}'\", name='{module}')\n"
    )
    worker = WorkerProcess(
        {
            "T2V_ENGINE": "wan-tiny",
            "T2V_HEARTBEAT_INTERVAL_S": "30",
            "PYTHONPATH": f"{shim.parent}{os.pathsep}{WORKER_DIR / 'src'}",
        }
    )
    event = worker.next_event(timeout=120)
    assert worker.proc.wait(timeout=60) == EXIT_PERMANENT
    assert worker.bad_lines == []
    assert event["type"] == "error" and event["job_id"] is None
    assert event["code"] == "MODEL_LOAD_FAILED"
    assert f"No module named '{module}'" in event["message"]
    assert "npx nx run worker:setup" in event["message"]
