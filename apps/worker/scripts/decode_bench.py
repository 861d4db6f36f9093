#!/usr/bin/env python3
"""After the last step: VAE decode and MP4 encode, today's whole-video path against the stream.

The full-size Wan2.2-TI2V-5B VAE (the GPU benchmark's config, random weights, float32 as the
worker runs it) decodes the same random latents in every variant, each in a fresh process so
that each peak RSS is its own (the high-water mark is reset at the start of the stage through
``/proc/self/clear_refs`` and read from ``VmHWM`` at the end):

- ``whole``: what the worker did before streaming: ``vae.decode`` of every latent frame, the
  pipeline's ``postprocess_video`` to a float array, then the array converted to uint8 for the
  MP4, copied into one ``bytes`` for ffmpeg's stdin, and converted again for the thumbnail.
  Its decode and encode seconds are timed separately (they run one after the other).
- ``stream``: ``DecodedVideo`` into ``output.write_outputs``: a latent frame at a time, uint8
  once, ffmpeg encoding while the next latent frame decodes.
- ``decode``: the streamed decode alone (chunks converted to uint8 and dropped): the floor.
- ``encode``: ffmpeg alone on the same frames (uint8, as the stream hands them over).

``--stand-in`` replaces the decoder by a module that returns zeros of the right shape at once:
what is left is the output path itself (buffers, conversions, the pipe), at a size the real
decoder cannot reach on a CPU in minutes.

    apps/worker/.venv/bin/python apps/worker/scripts/decode_bench.py [--size 320x176 --frames 9]
    apps/worker/.venv/bin/python apps/worker/scripts/decode_bench.py --write-docs
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parents[3]
SRC = Path(__file__).resolve().parents[1] / "src"
sys.path.insert(0, str(SRC))
sys.path.insert(0, str(ROOT / "tools" / "bench" / "gpu"))

MARK_START = "<!-- decode-stream:start -->"
MARK_END = "<!-- decode-stream:end -->"


def _status(key: str) -> int:
    with open("/proc/self/status", encoding="ascii") as fh:
        for line in fh:
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {key} in /proc/self/status")


def _reset_peak() -> int:
    """Resets VmHWM to the current RSS; returns the current RSS."""
    with open("/proc/self/clear_refs", "w", encoding="ascii") as fh:
        fh.write("5")
    return _status("VmRSS:")


def _stand_in(torch: Any) -> Any:
    """A decoder that costs nothing: zeros of the shape the Wan2.2 decoder returns."""

    class StandIn(torch.nn.Module):
        def forward(
            self, x: Any, feat_cache: Any = None, feat_idx: Any = None, first_chunk: bool = False
        ) -> Any:
            _, _, count, h, w = x.shape
            return torch.zeros(1, 12, (1 if first_chunk else 4) * count, h * 8, w * 8)

    return StandIn()


def _build(args: argparse.Namespace) -> tuple[Any, Any, Any]:
    import torch
    from diffusers import AutoencoderKLWan

    from bench import TI2V_5B_VAE

    torch.manual_seed(0)
    vae = AutoencoderKLWan(**TI2V_5B_VAE).eval()
    if args.stand_in:
        vae.decoder = _stand_in(torch)
    pipe = SimpleNamespace(
        vae=vae, vae_scale_factor_spatial=16, vae_scale_factor_temporal=4, maybe_free_model_hooks=lambda: None
    )
    latent_frames = (args.frames - 1) // 4 + 1
    generator = torch.Generator().manual_seed(1)
    latents = torch.randn(1, 48, latent_frames, args.height // 16, args.width // 16, generator=generator)
    return torch, pipe, latents


def _legacy_write(frames: Any, fps: int, out: str, thumb: str, ffmpeg: str) -> None:
    """The output path before streaming, kept here as the baseline: uint8 twice, one bytes copy."""
    from PIL import Image

    from t2v_worker.output import _ffmpeg_command, to_uint8_frames

    array = to_uint8_frames(frames)
    count, height, width, _ = array.shape
    proc = subprocess.run(
        _ffmpeg_command(ffmpeg, width, height, fps, out),
        input=array.tobytes(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr.decode())
    del array
    Image.fromarray(to_uint8_frames(frames)[0]).save(thumb, format="JPEG", quality=90)


def run_variant(args: argparse.Namespace) -> dict[str, Any]:
    from t2v_worker.engines.vae_stream import DecodedVideo
    from t2v_worker.output import encode_mp4, find_ffmpeg, write_outputs

    torch, pipe, latents = _build(args)
    ffmpeg = find_ffmpeg(os.environ.get("T2V_FFMPEG") or None)
    result: dict[str, Any] = {"variant": args.variant}
    with tempfile.TemporaryDirectory() as tmp:
        out, thumb = os.path.join(tmp, "v.mp4"), os.path.join(tmp, "v.jpg")
        base = _reset_peak()
        started = time.monotonic()
        if args.variant == "whole":
            from diffusers.video_processor import VideoProcessor

            video = DecodedVideo(pipe, latents, tiled=False)
            z = video._denormalised(latents)
            with torch.inference_mode():
                decoded = pipe.vae.decode(z, return_dict=False)[0]
                frames = VideoProcessor(vae_scale_factor=16).postprocess_video(decoded, output_type="np")[0]
            del decoded, z
            result["decode_s"] = time.monotonic() - started
            middle = time.monotonic()
            _legacy_write(frames, args.fps, out, thumb, ffmpeg)
            result["encode_s"] = time.monotonic() - middle
        elif args.variant == "stream":
            write_outputs(DecodedVideo(pipe, latents, tiled=args.tiled), args.fps, out, thumb, ffmpeg)
        elif args.variant == "decode":
            # The frames go to a file for the encode variant; the seconds that takes are not counted.
            saving = 0.0
            with open(args.frames_file, "wb") as fh:
                for chunk in DecodedVideo(pipe, latents, tiled=args.tiled).chunks():
                    mark = time.monotonic()
                    fh.write(memoryview(chunk).cast("B"))
                    saving += time.monotonic() - mark
                    del chunk
            started += saving
        elif args.variant == "encode":
            import numpy as np

            del latents
            frames = np.fromfile(args.frames_file, dtype=np.uint8).reshape(-1, args.height, args.width, 3)

            class Ready:
                shape = frames.shape

                def chunks(self) -> Any:
                    yield frames[:1]
                    for i in range(1, len(frames), 4):
                        yield frames[i : i + 4]

            base = _reset_peak()
            started = time.monotonic()
            encode_mp4(Ready(), args.fps, out, ffmpeg)
        result["seconds"] = time.monotonic() - started
        result["peak_rss_bytes"] = _status("VmHWM:")
        result["stage_added_bytes"] = result["peak_rss_bytes"] - base
        if os.path.exists(out):
            result["mp4_bytes"] = os.path.getsize(out)
    return result


def _spawn(args: argparse.Namespace, variant: str, tiled: bool = False) -> dict[str, Any]:
    cmd = [
        sys.executable,
        __file__,
        "--variant",
        variant,
        "--size",
        f"{args.width}x{args.height}",
        "--frames",
        str(args.frames),
        "--fps",
        str(args.fps),
    ]
    if args.stand_in:
        cmd.append("--stand-in")
    if tiled:
        cmd.append("--tiled")
    cmd += ["--frames-file", args.frames_file]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{variant} failed: {proc.stderr[-2000:]}")
    print(f"[decode-bench] {proc.stdout.strip()}", file=sys.stderr)
    return json.loads(proc.stdout)


def _mib(n: int) -> int:
    return round(n / 2**20)


def run_all(args: argparse.Namespace) -> dict[str, Any]:
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        args.frames_file = os.path.join(tmp, "frames.rgb")
        runs = {v: _spawn(args, v) for v in ("whole", "stream", "decode", "encode")}
    whole, stream, decode = runs["whole"], runs["stream"], runs["decode"]
    return {
        "size": f"{args.width}x{args.height}",
        "frames": args.frames,
        "stand_in": args.stand_in,
        "threads": torch.get_num_threads(),
        "runs": runs,
        "stream_vs_decode": round(stream["seconds"] / decode["seconds"], 3),
        "whole_vs_decode": round(whole["seconds"] / decode["seconds"], 3),
        "peak_ratio": round(stream["peak_rss_bytes"] / whole["peak_rss_bytes"], 3),
        "added_ratio": round(stream["stage_added_bytes"] / max(1, whole["stage_added_bytes"]), 3),
    }


def markdown(real: dict[str, Any], stand_in: dict[str, Any], command: str) -> str:
    def rows(r: dict[str, Any]) -> str:
        w, s, d, e = (r["runs"][k] for k in ("whole", "stream", "decode", "encode"))
        table = (
            ("before: decode whole, then encode", w, f"{w['decode_s']:.2f}", f"{w['encode_s']:.2f}"),
            ("**after: streamed decode → encode**", s, "—", "—"),
            ("streamed decode alone", d, f"{d['seconds']:.2f}", "—"),
            ("encode alone (uint8 frames ready)", e, "—", f"{e['seconds']:.2f}"),
        )
        return "\n".join(
            f"| {name} | {run['seconds']:.2f} | {dec} | {enc} | {_mib(run['peak_rss_bytes'])} | "
            f"{_mib(run['stage_added_bytes'])} |"
            for name, run, dec, enc in table
        )

    width, height = (int(n) for n in real["size"].split("x"))
    factor = 1280 * 704 / (width * height)
    head = "| variant | last step → MP4 s | decode s | encode s | peak RSS MiB | stage added MiB |\n|---|---|---|---|---|---|"
    return f"""{MARK_START}
## After the last step: VAE decode → MP4, whole vs streamed

`{command}` (`apps/worker/scripts/decode_bench.py`; `npm run bench` runs it too). The full-size
Wan2.2-TI2V-5B VAE (random weights, float32, {real["threads"]} CPU threads) decodes the same random
latents in every variant, each variant in its own process; peak RSS is the process's high-water
mark during the stage (VAE weights included), "stage added" is that mark minus the RSS when the
stage began. "Before" is the output path as it was before streaming (whole-video decode,
`postprocess_video`, uint8 twice, one `bytes` copy for ffmpeg); "after" is the worker's path now
(docs/adr/0085).

**Real decoder, {real["size"]}, {real["frames"]} frames** ({real["frames"] // 4 + 1} latent frames; a reduced size: at
1280×704 one latent frame of this decoder needs ≈ {factor:.0f}× the memory and time measured here, beyond a
shared 2-core CPU machine — the GPU matrix's `decode → MP4: whole vs streamed` case measures 1280×704×121).
Each variant runs once; absolute seconds move with the shared machine's load:

{head}
{rows(real)}

Last step → MP4, streamed / decode alone: **{real["stream_vs_decode"]}×** (before: {real["whole_vs_decode"]}×).
Peak RSS streamed / before: **{real["peak_ratio"]}×** (stage added: {real["added_ratio"]}×).

**Stand-in decoder (returns zeros at once), {stand_in["size"]}, {stand_in["frames"]} frames**: the output path
alone at the full preset size — what streaming removes independently of the decoder:

{head}
{rows(stand_in)}

Peak RSS streamed / before: **{stand_in["peak_ratio"]}×** (stage added: {stand_in["added_ratio"]}×).
{MARK_END}"""


def write_docs(section: str) -> None:
    path = ROOT / "docs" / "benchmarks.md"
    text = path.read_text(encoding="utf-8")
    start, end = text.find(MARK_START), text.find(MARK_END)
    if start >= 0 and end > start:
        text = text[:start] + section + text[end + len(MARK_END) :]
    else:
        memory = text.find("<!-- load-memory:start -->")
        text = text[:memory] + section + "\n\n" + text[memory:]
    path.write_text(text, encoding="utf-8")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--size", default="320x176")
    p.add_argument("--frames", type=int, default=9)
    p.add_argument("--fps", type=int, default=24)
    p.add_argument("--stand-in-size", default="1280x704")
    p.add_argument("--stand-in-frames", type=int, default=121)
    p.add_argument("--variant", choices=["whole", "stream", "decode", "encode"])
    p.add_argument("--stand-in", action="store_true")
    p.add_argument("--tiled", action="store_true")
    p.add_argument("--frames-file", default="", help="(internal) decoded frames for the encode variant")
    p.add_argument("--markdown", action="store_true", help="print the docs section instead of JSON")
    p.add_argument("--write-docs", action="store_true", help="replace the section in docs/benchmarks.md")
    args = p.parse_args()
    args.width, args.height = (int(n) for n in args.size.split("x"))
    if args.variant:
        print(json.dumps(run_variant(args)))
        return
    real = run_all(args)
    sw, sh = (int(n) for n in args.stand_in_size.split("x"))
    stand_args = argparse.Namespace(
        **{**vars(args), "width": sw, "height": sh, "frames": args.stand_in_frames}
    )
    stand_args.stand_in = True
    stand_in = run_all(stand_args)
    command = "apps/worker/.venv/bin/python apps/worker/scripts/decode_bench.py " + " ".join(sys.argv[1:])
    result = {"real": real, "stand_in": stand_in}
    if args.markdown or args.write_docs:
        section = markdown(real, stand_in, command.strip())
        if args.write_docs:
            write_docs(section)
        print(section if args.markdown else json.dumps(result))
    else:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
