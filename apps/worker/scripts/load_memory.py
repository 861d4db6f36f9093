#!/usr/bin/env python3
"""Host memory while the ``wan`` engine loads its weights, before and after component-by-component
loading, on the CPU with a random checkpoint shaped like Wan2.2-TI2V-5B-Diffusers.

1. ``make DIR``: writes a diffusers-format directory with the real architectures and on-disk
   dtypes of the snapshot (transformer and VAE in float32, the UMT5-XXL text encoder in
   bfloat16 with only ``shared.weight`` stored, as Wan's files are), random weights, sharded at
   ``--shard-gb``. ``--transformer-layers`` / ``--text-layers`` scale it down (30 and 24 are full
   size; ``--transformer-heads`` narrows the transformer, ``--text-layers 0`` and ``--small-vae``
   keep the tiny pipeline's text encoder and VAE, which is how the CI test keeps it small).
2. ``measure DIR --mode before|after``: one load in this process, with a thread sampling
   ``/proc/self/status`` every 5 ms, and prints JSON. ``before`` is the old path
   (``WanPipeline.from_pretrained`` into host memory, then each component moved to the device);
   ``after`` is the worker's ``engines/loading.py``. The device is ``meta`` by default: a
   component placed there leaves host memory as one placed on a GPU does, and nothing else
   differs, so the figures are what a GPU host would see from loading (the CUDA runtime's own
   host memory is not included).
3. ``run DIR``: both modes, each in a fresh process, and a table.

    apps/worker/.venv/bin/python apps/worker/scripts/load_memory.py make /tmp/wan-scaled \\
        --transformer-layers 3 --text-layers 3
    apps/worker/.venv/bin/python apps/worker/scripts/load_memory.py run /tmp/wan-scaled
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

SRC = Path(__file__).resolve().parents[1] / "src"
sys.path.insert(0, str(SRC))
sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "tools" / "bench" / "gpu"))
from bench import TI2V_5B_TRANSFORMER, TI2V_5B_VAE  # noqa: E402

# google/umt5-xxl's encoder as Wan2.2-TI2V-5B-Diffusers' text_encoder/config.json describes it.
UMT5_XXL = {
    "vocab_size": 256384,
    "d_model": 4096,
    "d_kv": 64,
    "d_ff": 10240,
    "num_layers": 24,
    "num_heads": 64,
    "relative_attention_num_buckets": 32,
    "relative_attention_max_distance": 128,
    "feed_forward_proj": "gated-gelu",
    "layer_norm_epsilon": 1e-6,
    "tie_word_embeddings": False,
    "pad_token_id": 0,
    "eos_token_id": 1,
    "decoder_start_token_id": 0,
}
GB = 1e9


def _entries(model: Any, skip: tuple[str, ...] = ()) -> list[tuple[str, tuple[int, ...]]]:
    return [(k, tuple(v.shape)) for k, v in model.state_dict().items() if k not in skip]


def write_shards(
    folder: Path,
    stem: str,
    index_name: str,
    entries: list[tuple[str, tuple[int, ...]]],
    dtype: Any,
    shard_bytes: int,
) -> int:
    """Random tensors for ``entries`` in safetensors shards of at most ``shard_bytes`` and the
    index diffusers and transformers read; returns the bytes written."""
    import torch
    from safetensors.torch import save_file

    size = torch.tensor([], dtype=dtype).element_size()
    groups: list[list[tuple[str, tuple[int, ...]]]] = [[]]
    used = 0
    for name, shape in entries:
        nbytes = math.prod(shape) * size
        if groups[-1] and used + nbytes > shard_bytes:
            groups.append([])
            used = 0
        groups[-1].append((name, shape))
        used += nbytes
    folder.mkdir(parents=True, exist_ok=True)
    weight_map: dict[str, str] = {}
    total = 0
    generator = torch.Generator().manual_seed(0)
    for i, group in enumerate(groups, start=1):
        file = f"{stem}-{i:05d}-of-{len(groups):05d}.safetensors"
        tensors = {}
        for name, shape in group:
            t = torch.empty(shape, dtype=torch.float32)
            t.normal_(0.0, 0.02, generator=generator)
            tensors[name] = t.to(dtype)
            weight_map[name] = file
            total += t.numel() * size
            del t
        save_file(tensors, str(folder / file), metadata={"format": "pt"})
        del tensors
    (folder / index_name).write_text(
        json.dumps({"metadata": {"total_size": total}, "weight_map": weight_map})
    )
    return total


def make(args: argparse.Namespace) -> None:
    import torch
    from diffusers import AutoencoderKLWan, WanTransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    from t2v_worker.config import WorkerConfig
    from t2v_worker.engines.wan_tiny import WanTinyEngine

    root = Path(args.dir)
    # model_index.json, tokenizer/ and scheduler/ from the tiny pipeline; the weights replaced.
    tiny = WanTinyEngine(WorkerConfig(engine="wan-tiny"))
    tiny.load()
    tiny.pipe.save_pretrained(str(root))
    shard = int(args.shard_gb * GB)
    written: dict[str, int] = {}
    started = time.monotonic()
    tcfg = {
        **TI2V_5B_TRANSFORMER,
        "num_layers": args.transformer_layers,
        "num_attention_heads": args.transformer_heads,
    }
    diffusers_files = ("diffusion_pytorch_model", "diffusion_pytorch_model.safetensors.index.json")
    with torch.device("meta"):
        components = [("transformer", WanTransformer3DModel(**tcfg), torch.float32, *diffusers_files)]
        if not args.small_vae:
            components.append(("vae", AutoencoderKLWan(**TI2V_5B_VAE), torch.float32, *diffusers_files))
        if args.text_layers:
            text = UMT5EncoderModel(UMT5Config(**{**UMT5_XXL, "num_layers": args.text_layers}))
            components.append(("text_encoder", text, torch.bfloat16, "model", "model.safetensors.index.json"))
    for name, model, dtype, stem, index in components:
        folder = root / name
        for old in folder.glob("*.safetensors*"):
            old.unlink()
        skip = ("encoder.embed_tokens.weight",) if name == "text_encoder" else ()
        written[name] = write_shards(folder, stem, index, _entries(model, skip), dtype, shard)
        if name == "text_encoder":
            model.config.save_pretrained(str(folder))
        else:
            model.save_config(str(folder))
        print(f"{name}: {written[name] / GB:.2f} GB on disk", file=sys.stderr)
    made = {"dir": str(root), "bytes_on_disk": written, "seconds": round(time.monotonic() - started, 1)}
    (root / "load_memory_make.json").write_text(json.dumps(made))
    print(json.dumps(made))


class Sampler(threading.Thread):
    """Peak RssAnon / RssFile / VmRSS of this process, sampled every 5 ms."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak: dict[str, int] = {}
        self.stop_event = threading.Event()

    def sample(self) -> None:
        from t2v_worker.engines.loading import host_memory

        for key, value in host_memory().items():
            self.peak[key] = max(self.peak.get(key, 0), value)

    def run(self) -> None:
        while not self.stop_event.is_set():
            self.sample()
            time.sleep(0.005)


def measure(args: argparse.Namespace) -> None:
    import torch
    import transformers  # noqa: F401 - imported before the baseline, as the worker has it
    from diffusers import AutoencoderKLWan, WanPipeline

    from t2v_worker.engines.loading import component_bytes, host_memory, load_pipeline

    torch.set_num_threads(max(1, torch.get_num_threads()))
    baseline = host_memory()
    sampler = Sampler()
    sampler.start()
    started = time.monotonic()
    if args.mode == "before":
        vae = AutoencoderKLWan.from_pretrained(
            args.dir, subfolder="vae", torch_dtype=torch.float32, local_files_only=True
        )
        pipe = WanPipeline.from_pretrained(
            args.dir, vae=vae, torch_dtype=torch.bfloat16, local_files_only=True
        )
        sizes = {n: component_bytes(getattr(pipe, n)) for n in ("transformer", "text_encoder", "vae")}
        for name in ("transformer", "text_encoder", "vae"):
            getattr(pipe, name).to(args.device)
    else:
        pipe = load_pipeline(args.dir, args.device)
        sizes = {n: component_bytes(getattr(pipe, n)) for n in ("transformer", "text_encoder", "vae")}
    load_s = time.monotonic() - started
    sampler.sample()
    sampler.stop_event.set()
    sampler.join()
    end = host_memory()
    print(
        json.dumps(
            {
                "mode": args.mode,
                "device": args.device,
                "load_s": round(load_s, 1),
                "component_bytes": sizes,
                "baseline": baseline,
                "peak": {**sampler.peak, "VmHWM": end.get("VmHWM", 0)},
                "end": end,
            }
        )
    )


SECTION_START = "<!-- load-memory:start -->"
SECTION_END = "<!-- load-memory:end -->"


def docs_section(results: dict[str, Any], made: dict[str, Any] | None, command: str) -> str:
    """The host-memory section of docs/benchmarks.md (npm run bench keeps it, like the GPU one)."""
    sizes = results["after"]["component_bytes"]
    base = results["after"]["baseline"]

    def gb(n: float) -> str:
        return f"{n / GB:.2f} GB"

    def row(label: str, r: dict[str, Any]) -> str:
        anon = r["peak"]["RssAnon"] - r["baseline"]["RssAnon"]
        hwm = r["peak"]["VmHWM"] - r["baseline"]["VmRSS"]
        return f"| {label} | +{gb(anon)} | +{gb(hwm)} | {r['load_s']} |"

    disk = ""
    if made:
        disk = " On disk: " + ", ".join(f"{k} {gb(v)}" for k, v in made["bytes_on_disk"].items()) + "."
    lines = [
        "## Host memory while the wan engine loads",
        "",
        f"`{command}` on {time.strftime('%Y-%m-%d')}, each load in a fresh process, on a random",
        "checkpoint with the architecture and on-disk dtypes of Wan2.2-TI2V-5B-Diffusers (made first by",
        "`load_memory.py make <dir>`: transformer and VAE in float32, UMT5-XXL in bfloat16, 5 GB",
        "shards)." + disk,
        "Held by the worker: "
        + ", ".join(f"{k} {gb(v)}" for k, v in sizes.items())
        + f" (sum {gb(sum(sizes.values()))}). The target device is `meta`: a component placed there",
        "leaves host memory as one placed on a GPU does. Figures are above the process after its imports",
        f"({gb(base['VmRSS'])} resident, {gb(base['RssAnon'])} anonymous).",
        "",
        "| load | peak anonymous | peak resident (VmHWM) | seconds |",
        "| --- | --- | --- | --- |",
        row("before: `WanPipeline.from_pretrained`, then each component to the device", results["before"]),
        row("after: component by component onto the device (`engines/loading.py`)", results["after"]),
        "",
        "Anonymous memory is what the kernel cannot give back; the rest of the resident figure is pages",
        "of the checkpoint files mapped while they are read, page cache that is reclaimed under the",
        "container's limit (it varies with what the page cache holds: from run to run the anonymous",
        "figures agree to 0.01 GB, the resident ones do not).",
        "Before, the whole transformer converted to bfloat16 sits in host memory, and on a GPU host the",
        "move to the device then reads every page of the text encoder and the VAE as well (the `meta`",
        "device reads none), so the resident peak there approaches the sum of the components (a",
        "projection). After, host memory holds about one tensor and one shard's pages.",
    ]
    return "\n".join(lines) + "\n"


def run(args: argparse.Namespace) -> None:
    results = {}
    for mode in ("before", "after"):
        out = subprocess.run(
            [sys.executable, __file__, "measure", args.dir, "--mode", mode, "--device", args.device],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        results[mode] = json.loads(out.strip().splitlines()[-1])
    sizes = results["after"]["component_bytes"]
    total, largest = sum(sizes.values()), max(sizes.values())
    print(
        "components in memory: "
        + ", ".join(f"{k} {v / GB:.2f} GB" for k, v in sizes.items())
        + f"; sum {total / GB:.2f} GB, largest {largest / GB:.2f} GB"
    )
    print("| load | peak anonymous − baseline | peak RSS (VmHWM) − baseline | seconds |")
    print("| --- | --- | --- | --- |")
    for mode, r in results.items():
        anon = r["peak"].get("RssAnon", 0) - r["baseline"].get("RssAnon", 0)
        hwm = r["peak"]["VmHWM"] - r["baseline"].get("VmRSS", 0)
        print(f"| {mode} | {anon / GB:.2f} GB | {hwm / GB:.2f} GB | {r['load_s']} |")
    print(json.dumps(results))
    if args.write_docs:
        from bench import replace_section

        made_path = Path(args.dir) / "load_memory_make.json"
        made = json.loads(made_path.read_text()) if made_path.exists() else None
        command = (
            f"apps/worker/.venv/bin/python apps/worker/scripts/load_memory.py run {args.dir} "
            f"--write-docs {args.write_docs}"
        )
        replace_section(args.write_docs, SECTION_START, SECTION_END, docs_section(results, made, command))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    m = sub.add_parser("make")
    m.add_argument("dir")
    m.add_argument("--transformer-layers", type=int, default=30)
    m.add_argument("--transformer-heads", type=int, default=24, help="24 × 128 channels is full width")
    m.add_argument("--text-layers", type=int, default=24, help="0 keeps the tiny text encoder")
    m.add_argument("--small-vae", action="store_true", help="keep the tiny VAE")
    m.add_argument("--shard-gb", type=float, default=5.0)
    for name in ("measure", "run"):
        q = sub.add_parser(name)
        q.add_argument("dir")
        q.add_argument("--device", default="meta")
        if name == "measure":
            q.add_argument("--mode", choices=("before", "after"), required=True)
        else:
            q.add_argument("--write-docs", default=None, help="replace the host-memory section of this file")
    args = p.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    {"make": make, "measure": measure, "run": run}[args.command](args)


if __name__ == "__main__":
    main()
