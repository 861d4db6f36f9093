#!/usr/bin/env python3
"""The prepared run for a lent GPU machine: what the worker needs from a real H100/H200, in one
command of at most 8 minutes, every result written as soon as it exists.

Started by ``device-run.sh`` (which installs the carried wheels first). Cases, cheapest and most
telling first, each in a process of its own with its own time limit (a hang, a crash or a broken
CUDA context ends that case only):

1. ``env``: driver, GPU, torch and its CUDA build, the worker's driver check, ``gcc`` (Triton),
   Inductor's compile threads, package versions.
2. ``attention``: the worker's attention probe at 27 280 tokens (1280×704×121) on one full-size
   block: each backend's time and its error against PyTorch's SDPA, and the one it picks.
3. ``worker``: one wan-tiny job through the real worker process on CUDA (load, steps, VAE, MP4),
   with the process's peak host and GPU memory.
4. ``wan``: the production ``wan`` engine on a saved tiny diffusers directory: the loader that puts
   each component straight onto the GPU, the built-in Wan2.2 profile, one job.
5. ``vae``: the full-size Wan2.2 VAE (random weights, float32) decoding 1280×704×121 untiled and
   tiled: seconds, peak memory, and how far the two decodes are apart.
6. ``matrix``: ``bench.py --matrix`` trimmed to the time left (2 timed steps per case, the 50-step
   run extrapolated from 3), each case streamed to ``matrix.jsonl``.

``--dry-run`` runs the same cases on the CPU with tiny configs and skips what needs CUDA (reported
as skipped), which is how CI runs this file. Output folder (``$OUT`` on the lent machine; at most
8 files come back): ``cases.jsonl`` (one line per case start and result), ``matrix.jsonl``,
``matrix.json``, ``runner.log`` (every case's stderr), ``summary.md``.

    OUT=/tmp/out apps/worker/.venv/bin/python tools/bench/gpu/device_run.py --dry-run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
WORKER_SRC = REPO / "apps" / "worker" / "src"
# The worker's own test client (worker_support.WorkerProcess) drives the worker process.
for path in (HERE, WORKER_SRC, WORKER_SRC.parent / "tests"):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

# (name, seconds it may take at most, seconds it needs to be worth starting)
CASES = (
    ("env", 60, 10),
    ("attention", 120, 30),
    ("worker", 150, 60),
    ("wan", 150, 60),
    ("vae", 180, 60),
    ("matrix", 600, 90),
)
FULL_SHAPE = (1280, 704, 121)  # width, height, frames: 27 280 video tokens
DRY_SHAPE = (512, 256, 5)


# ---- the cases (each runs in a process of its own: ``device_run.py case NAME``) --------------------


def _versions(*names: str) -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def case_env(dry: bool) -> dict[str, Any]:
    import torch

    from t2v_worker.device import (
        cuda_unavailable,
        describe_cuda,
        find_compiler,
        prepare_process_env,
        read_driver,
        triton_launcher_error,
    )

    prepare_process_env()
    gcc = shutil.which("gcc")
    gcc_version = None
    if gcc:
        gcc_version = subprocess.run([gcc, "--version"], capture_output=True, text=True, check=False).stdout
        gcc_version = gcc_version.splitlines()[0] if gcc_version else None
    result: dict[str, Any] = {
        "python": platform.python_version(),
        "torch": torch.__version__,
        "torch_cuda_build": torch.version.cuda,
        "packages": _versions(
            "diffusers", "transformers", "tokenizers", "accelerate", "safetensors", "imageio-ffmpeg"
        ),
        "gcc": gcc_version,
        "triton_compiler": find_compiler("cuda"),
        # None: the compiler builds what Triton builds (C with Python.h) for a kernel's launcher.
        "triton_launcher_error": (
            triton_launcher_error(compiler) if (compiler := find_compiler("cuda")) else "no C compiler"
        ),
        "inductor_compile_threads": os.environ.get("TORCHINDUCTOR_COMPILE_THREADS"),
        "cuda_device_order": os.environ.get("CUDA_DEVICE_ORDER"),
        "cpus": os.cpu_count(),
    }
    if dry:
        result["cuda"] = "skipped: dry run (CUDA only)"
        return result
    smi = shutil.which("nvidia-smi")
    if smi:
        query = "name,driver_version,memory.total,compute_cap,pci.bus_id"
        out = subprocess.run(
            [smi, f"--query-gpu={query}", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            check=False,
        )
        result["nvidia_smi"] = out.stdout.strip() or out.stderr.strip()
    driver = read_driver()
    result["driver"] = {"version": driver.version, "cuda": driver.cuda}
    if torch.cuda.is_available():
        result["cuda"] = describe_cuda(torch, driver)
        result["device_count"] = torch.cuda.device_count()
    else:
        failure = cuda_unavailable(torch, os.environ, driver)
        result["cuda"] = None
        result["cuda_unavailable"] = {"message": str(failure), "permanent": failure.permanent}
    return result


def case_attention(dry: bool) -> dict[str, Any]:
    """The worker's probe (``engines.accel.pick_attention_backend``) on one block of the real width."""
    import torch
    from diffusers import WanTransformer3DModel

    from bench import TI2V_5B_TRANSFORMER, TINY_TRANSFORMER
    from t2v_worker.engines.accel import GPU_ATTENTION_ORDER, pick_attention_backend
    from t2v_worker.params import tokens_for

    device = "cpu" if dry else "cuda"
    config = {**(TINY_TRANSFORMER if dry else TI2V_5B_TRANSFORMER), "num_layers": 1}
    tokens = 1024 if dry else tokens_for(*FULL_SHAPE)
    order = ("_native_math", "native") if dry else GPU_ATTENTION_ORDER
    torch.manual_seed(0)
    with torch.device(device):
        transformer = WanTransformer3DModel(**config).to(torch.float32 if dry else torch.bfloat16).eval()
    details: list[dict[str, Any]] = []
    chosen = pick_attention_backend(transformer, order, tokens, details)
    return {"tokens": tokens, "order": list(order), "chosen": chosen, "candidates": details}


def case_worker(dry: bool, out: Path) -> dict[str, Any]:
    """One wan-tiny job through ``python -m t2v_worker`` exactly as the API starts it."""
    return worker_job(dry, {"T2V_ENGINE": "wan-tiny"})


def case_wan(dry: bool, out: Path) -> dict[str, Any]:
    """The production ``wan`` engine's loader on the device: wan-tiny's components saved as a
    diffusers-format directory, loaded component by component straight onto the GPU
    (``engines/loading.py``) with the built-in Wan2.2 profile, then one job."""
    from t2v_worker.config import WorkerConfig
    from t2v_worker.engines.wan_tiny import WanTinyEngine

    model = Path(tempfile.mkdtemp(prefix="t2v-wan-dir-")) / "Wan2.2-TI2V-tiny-Diffusers"
    tiny = WanTinyEngine(WorkerConfig(engine="wan-tiny"))
    tiny.load()
    tiny.pipe.save_pretrained(str(model))
    del tiny
    return worker_job(dry, {"T2V_ENGINE": "wan", "T2V_MODEL_PATH": str(model)})


def worker_job(dry: bool, settings: dict[str, str]) -> dict[str, Any]:
    """Starts the worker as the supervisor does (the tests' ``WorkerProcess``), sends one 256×128,
    17-frame, 4-step job and reads its result, the MP4's first bytes and the process's memory."""
    from worker_support import WorkerProcess, generate_request

    env = {
        "T2V_WORKER_DEVICE": "cpu" if dry else "cuda",
        "T2V_HEARTBEAT_INTERVAL_S": "0.5",
        "CUDA_VISIBLE_DEVICES": "" if dry else os.environ.get("CUDA_VISIBLE_DEVICES", "0"),
        **settings,
    }
    work = Path(tempfile.mkdtemp(prefix="t2v-device-"))
    started = time.monotonic()
    worker = WorkerProcess(env)
    try:
        ready = worker.next_event(timeout=120)
        if ready["type"] != "ready":
            raise RuntimeError(f"load failed: {ready}")
        worker.send(generate_request("device-job", work, width=256, height=128, num_frames=17))
        _, done = worker.until_terminal("device-job", timeout=120)
        if done["type"] != "done":
            raise RuntimeError(f"job failed: {done}")
        mp4 = Path(done["path"]).read_bytes()
    finally:
        status = worker.close()
        sys.stderr.write("".join(worker.stderr_lines)[-20000:])
    # Host and GPU memory of the worker over its life (its heartbeats carry both): what the
    # chart's per-worker memory figure rests on, the CUDA runtime included.
    peak = {
        key: max((b.get(key) or 0 for b in worker.heartbeats), default=0)
        for key in ("rss_bytes", "gpu_mem_bytes")
    }
    return {
        "engine": ready["card"]["engine"],
        "model": ready["card"]["id"],
        "device": ready["device"],
        "load_s": ready["load_s"],
        "inference_s": done["timings"]["inference_s"],
        "encode_s": done["timings"]["encode_s"],
        "acceleration": done["acceleration"],
        "frames": done["frames"],
        "mp4_bytes": len(mp4),
        "mp4_is_iso_media": mp4[4:8] == b"ftyp",
        "exit_status": status,
        "peak_rss_gib": round(peak["rss_bytes"] / 2**30, 2),
        "peak_gpu_reserved_gib": round(peak["gpu_mem_bytes"] / 2**30, 2),
        "wall_s": round(time.monotonic() - started, 1),
    }


def case_vae(dry: bool) -> dict[str, Any]:
    """Untiled and tiled decodes of the same latents: seconds, peak memory, difference."""
    import torch
    from diffusers import AutoencoderKLWan

    from bench import TI2V_5B_TRANSFORMER, TI2V_5B_VAE, TINY_VAE, latent_shape

    device = "cpu" if dry else "cuda"
    width, height, frames = DRY_SHAPE if dry else FULL_SHAPE
    config = TINY_VAE if dry else TI2V_5B_VAE
    shape = latent_shape(height, width, frames, TI2V_5B_TRANSFORMER, config)
    torch.manual_seed(0)
    with torch.device(device):
        vae = AutoencoderKLWan(**config).to(torch.float32).eval()
    generator = torch.Generator(device="cpu").manual_seed(0)
    z = torch.randn(
        (1, config["z_dim"], shape.latent_frames, shape.latent_height, shape.latent_width),
        generator=generator,
    ).to(device)
    sync = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    result: dict[str, Any] = {
        "size": f"{width}x{height}x{frames}",
        "latents": list(z.shape),
        "dtype": "float32",
    }
    videos = {}
    for tiled in (False, True):
        if tiled:
            vae.enable_tiling()
        if device == "cuda":
            torch.cuda.empty_cache()
            torch.cuda.reset_peak_memory_stats()
        sync()
        started = time.perf_counter()
        with torch.inference_mode():
            video = vae.decode(z, return_dict=False)[0]
        sync()
        key = "tiled" if tiled else "untiled"
        result[f"{key}_s"] = round(time.perf_counter() - started, 2)
        result[f"{key}_peak_gpu_gib"] = (
            round(torch.cuda.max_memory_allocated() / 2**30, 2) if device == "cuda" else None
        )
        assert tuple(video.shape) == (1, 3, frames, height, width), video.shape
        videos[key] = video
    # Pixels in [-1, 1]; as 8-bit video levels one level is 2/255.
    diff = (videos["tiled"].float() - videos["untiled"].float()).abs()
    mse = float((diff**2).mean())
    result.update(
        {
            "max_abs_diff": round(float(diff.max()), 4),
            "mean_abs_diff": round(float(diff.mean()), 5),
            "psnr_db": round(10 * float(torch.log10(torch.tensor(4.0 / max(mse, 1e-20)))), 1),
        }
    )
    return result


def case_matrix(dry: bool, out: Path, budget_s: float) -> dict[str, Any]:
    import bench

    argv = ["--matrix", "--stream", str(out / "matrix.jsonl"), "--json", str(out / "matrix.json")]
    argv += ["--e2e-steps", "50", "--parallel", "off", "--budget-s", str(int(budget_s))]
    if dry:
        argv += ["--tiny", "--dtype", "float32", "--steps", "1", "--warmup", "0", "--skip-compile"]
        argv += ["--e2e-measure-steps", "2"]
    else:
        argv += ["--steps", "2", "--warmup", "1", "--e2e-measure-steps", "3"]
    code = bench.main(argv)
    matrix = json.loads((out / "matrix.json").read_text())
    return {
        "exit_status": code,
        "device": matrix["device"],
        "elapsed_s": matrix["elapsed_s"],
        "cases": [
            {
                "case": c["case"],
                "status": "skipped" if "skipped" in c else "error" if "error" in c else "ok",
                **{
                    k: c[k] for k in ("sec_per_step", "total_s", "extrapolated", "error", "skipped") if k in c
                },
            }
            for c in matrix["cases"]
        ],
    }


def run_case(name: str, dry: bool, out: Path, budget_s: float) -> dict[str, Any]:
    cases = {
        "env": lambda: case_env(dry),
        "attention": lambda: case_attention(dry),
        "worker": lambda: case_worker(dry, out),
        "wan": lambda: case_wan(dry, out),
        "vae": lambda: case_vae(dry),
        "matrix": lambda: case_matrix(dry, out, budget_s),
    }
    if name not in cases:
        raise SystemExit(f"unknown case {name}")
    if name != "env" and not dry and not _cuda():
        raise Skipped("no CUDA device")
    return cases[name]()


class Skipped(Exception):
    """The case cannot run here (reported as skipped, with why)."""


def _cuda() -> bool:
    import torch

    return bool(torch.cuda.is_available())


# ---- the runner ----------------------------------------------------------------------------------


class Results:
    """``cases.jsonl``: a line when a case starts and one with its result, synced at once."""

    def __init__(self, out: Path) -> None:
        self.path = out / "cases.jsonl"
        self.records: list[dict[str, Any]] = []

    def write(self, record: dict[str, Any]) -> None:
        record = {**record, "t": round(time.time(), 1)}
        if "status" in record and record["status"] != "started":
            self.records.append(record)
        with open(self.path, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(record) + "\n")
            fh.flush()
            os.fsync(fh.fileno())


def summary_markdown(records: list[dict[str, Any]], dry: bool, elapsed: float) -> str:
    lines = [
        f"# Device run{' (dry run, CPU)' if dry else ''}: {elapsed:.0f} s",
        "",
        "| case | status | seconds | result |",
        "| --- | --- | --- | --- |",
    ]
    for r in records:
        detail = r.get("error") or r.get("skipped") or json.dumps(r.get("result"), ensure_ascii=False)[:300]
        lines.append(f"| {r['case']} | {r['status']} | {r.get('seconds', '–')} | {detail} |")
    return "\n".join(lines) + "\n"


def run_all(args: argparse.Namespace) -> int:
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = Results(out)
    log = open(out / "runner.log", "a", encoding="utf-8")  # noqa: SIM115 - open for the whole run
    started = time.monotonic()
    wanted = [c for c in CASES if not args.only or c[0] in args.only]
    for name, cap_s, needs_s in wanted:
        left = args.budget_s - (time.monotonic() - started)
        if left < needs_s:
            results.write(
                {
                    "case": name,
                    "status": "skipped",
                    "skipped": f"budget: {left:.0f} s left, needs {needs_s} s",
                }
            )
            continue
        limit = min(cap_s, left)
        results.write({"case": name, "status": "started", "limit_s": round(limit)})
        log.write(f"\n===== {name} (limit {limit:.0f} s) =====\n")
        log.flush()
        command = [sys.executable, str(Path(__file__).resolve()), "case", name, "--out", str(out)]
        command += ["--budget-s", str(max(limit - 20, 30))] + (["--dry-run"] if args.dry_run else [])
        case_started = time.monotonic()
        proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=log, text=True, start_new_session=True, cwd=str(REPO)
        )
        try:
            stdout, _ = proc.communicate(timeout=limit)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            results.write({"case": name, "status": "error", "error": f"timed out after {limit:.0f} s"})
            continue
        seconds = round(time.monotonic() - case_started, 1)
        last = stdout.strip().splitlines()[-1] if stdout.strip() else ""
        try:
            outcome = json.loads(last)
        except ValueError:
            outcome = {
                "status": "error",
                "error": f"exit status {proc.returncode}, no result (see runner.log)",
            }
        results.write({"case": name, "seconds": seconds, **outcome})
        (out / "summary.md").write_text(
            summary_markdown(results.records, args.dry_run, time.monotonic() - started), encoding="utf-8"
        )
    log.close()
    elapsed = time.monotonic() - started
    (out / "summary.md").write_text(
        summary_markdown(results.records, args.dry_run, elapsed), encoding="utf-8"
    )
    print(summary_markdown(results.records, args.dry_run, elapsed))
    return 0 if all(r["status"] in ("ok", "skipped") for r in results.records) else 1


def case_main(args: argparse.Namespace) -> int:
    """One case in this process; the result is the last line of stdout."""
    import contextlib

    out = Path(args.out)
    try:
        with contextlib.redirect_stdout(sys.stderr):
            result = run_case(args.name, args.dry_run, out, args.budget_s)
        record: dict[str, Any] = {"status": "ok", "result": result}
    except Skipped as exc:
        record = {"status": "skipped", "skipped": str(exc)}
    except BaseException as exc:  # noqa: BLE001 - the runner records it and goes on
        import traceback

        traceback.print_exc()
        record = {
            "status": "error",
            "error": f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}",
        }
    print(json.dumps(record, default=str))
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=os.environ.get("OUT") or "device-out", help="output folder ($OUT)")
    p.add_argument("--dry-run", action="store_true", help="CPU, tiny configs; CUDA-only cases skipped")
    p.add_argument("--budget-s", type=float, default=450.0, help="the whole run (each case: less)")
    p.add_argument("--only", nargs="*", default=None, help="run only these cases")
    sub = p.add_subparsers(dest="command")
    c = sub.add_parser("case")
    c.add_argument("name")
    c.add_argument("--out", default="device-out")
    c.add_argument("--dry-run", action="store_true")
    c.add_argument("--budget-s", type=float, default=450.0)
    args = p.parse_args(argv)
    if args.command == "case":
        return case_main(args)
    return run_all(args)


if __name__ == "__main__":
    sys.exit(main())
