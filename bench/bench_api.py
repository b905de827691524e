"""HTTP/WebSocket service benchmark, against a real uvicorn server on 127.0.0.1 (this process
serves it from a thread; the clients are httpx and websockets, as any program would use).

    python -m bench.bench_api [--requests 24] [--clients 1 2 4] [--sentences 6]

1. ``POST /v1/analyze`` with a real photo (scikit-image's astronaut, PNG): requests per second and
   median/p95 latency at 1, 2 and 4 concurrent clients, beside the same analysis called in-process
   (``emotion.analyze`` on the same file, same models) in the same run; the ratio of the medians at
   1 client is the API's overhead (aim: at most 1.15x).
2. ``WS /v1/stream`` fed a real face (the astronaut, 5 JPEG frames per second) and real speech
   (``--sentences`` RAVDESS sentences with 1 s pauses, from ``../shared/data/ravdess``, 16-bit
   PCM in 0.1 s messages) at real time: video frames answered per second, and end of utterance ->
   the utterance pushed to the client (median, p95), beside the Live dashboard's figure (end of
   utterance -> on the page, docs/benchmarks.md: 1.50 s median, 2.00 s p95).

Bounded: each level stops after ``--requests`` requests or 120 s; the stream lasts the speech.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import cv2
import httpx
import numpy as np
import websockets
from skimage import data

from devkit.data import RAVDESS
from devkit.media import face_scene
from devkit.server import Served
from emotion.analysis import Analyzers, analyze
from emotion.config import Settings
from emotion.serve.app import create_app
from emotion.speech.audio import load_audio

LEVEL_CAP_S = 120.0
DASHBOARD = "1.50 s median, 2.00 s p95 (Live dashboard, end of utterance -> on the page; docs/benchmarks.md)"


def _stats(seconds) -> str:
    a = np.asarray(seconds)
    return f"median {np.median(a) * 1e3:.0f} ms, p95 {np.percentile(a, 95) * 1e3:.0f} ms (n={len(a)})"


async def _level(url: str, photo: bytes, clients: int, requests: int) -> tuple[float, list[float]]:
    latencies: list[float] = []
    started = time.perf_counter()
    left = [requests]

    async def client(c: httpx.AsyncClient):
        while left[0] > 0 and time.perf_counter() - started < LEVEL_CAP_S:
            left[0] -= 1
            t0 = time.perf_counter()
            r = await c.post("/v1/analyze", files={"file": ("astronaut.png", photo)})
            r.raise_for_status()
            latencies.append(time.perf_counter() - t0)

    async with httpx.AsyncClient(base_url=url, timeout=300) as c:
        await asyncio.gather(*(client(c) for _ in range(clients)))
    return len(latencies) / (time.perf_counter() - started), latencies


async def _stream(port: int, frame_b64: str, speech: np.ndarray) -> tuple[float, list[float], int]:
    pcm = (np.clip(speech, -1, 1) * 32767).astype("<i2")
    chunk, t0 = 1_600, 10.0
    messages: list[tuple[float, dict]] = []
    async with websockets.connect(f"ws://127.0.0.1:{port}/v1/stream", max_size=2**24) as ws:
        await ws.recv()  # ready
        await ws.send(json.dumps({"type": "start", "audio": {"format": "pcm_s16le", "sample_rate": 16_000}}))

        async def reader():
            async for raw in ws:
                messages.append((time.perf_counter(), json.loads(raw)))

        task = asyncio.create_task(reader())
        wall0 = time.perf_counter()
        for i in range(0, len(pcm), chunk):
            t = t0 + i / 16_000
            if i % (chunk * 2) == 0:
                await ws.send(json.dumps({"type": "video", "t": t, "format": "jpeg", "data": frame_b64}))
            await ws.send(json.dumps({"type": "audio", "t": t, "data": base64.b64encode(pcm[i : i + chunk].tobytes()).decode()}))
            await asyncio.sleep(max(0.0, wall0 + (i + chunk) / 16_000 - time.perf_counter()))
        duration = time.perf_counter() - wall0
        await ws.send(json.dumps({"type": "stop"}))
        await asyncio.wait_for(task, 120)
    faces = sum(1 for _, m in messages if m["type"] == "faces" and m["t"] <= t0 + duration)
    # an utterance's end, in client seconds, was sent at wall0 + (end - t0): the wait is what follows
    latency = [w - (wall0 + m["row"]["end_s"] - t0) for w, m in messages if m["type"] == "utterance"]
    return faces / duration, latency, sum(1 for _, m in messages if m["type"] == "utterance")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--requests", type=int, default=24, help="requests per concurrency level")
    ap.add_argument("--clients", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--sentences", type=int, default=6, help="RAVDESS sentences streamed")
    args = ap.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} cores")
    photo_bgr = cv2.cvtColor(data.astronaut(), cv2.COLOR_RGB2BGR)
    photo = cv2.imencode(".png", photo_bgr)[1].tobytes()
    settings = Settings().replace(serve_max_requests_per_key=max(args.clients) + 1, max_concurrent_analyses=max(args.clients))
    analyzers = Analyzers(settings)
    analyzers.faces, analyzers.speech  # noqa: B018 - loaded before any timing

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "astronaut.png"
        path.write_bytes(photo)
        for _ in range(3):
            analyze(path, analyzers=analyzers)
        direct = []
        for _ in range(args.requests):
            t0 = time.perf_counter()
            analyze(path, analyzers=analyzers)
            direct.append(time.perf_counter() - t0)
    print(f"in-process emotion.analyze (photo): {_stats(direct)}")

    with Served(create_app(settings, analyzers=analyzers)) as served:
        asyncio.run(_level(served.url, photo, 1, 3))  # warm-up
        for clients in args.clients:
            rps, latencies = asyncio.run(_level(served.url, photo, clients, args.requests))
            line = f"POST /v1/analyze (photo), {clients} client(s): {rps:.1f} requests/s, {_stats(latencies)}"
            if clients == 1:
                line += f"; API / in-process median: {np.median(latencies) / np.median(direct):.2f}x"
            print(line)
        if not RAVDESS.exists():
            print(f"stream: skipped, RAVDESS not found at {RAVDESS}")
            return
        files = sorted((RAVDESS / "Actor_01").glob("03-01-0*-01-01-01-01.flac"))[: args.sentences]
        pause = np.zeros(16_000, np.float32)
        speech = np.concatenate([part for f in files for part in (pause, load_audio(f) * 3)] + [pause])
        frame = base64.b64encode(cv2.imencode(".jpg", face_scene(photo_bgr))[1].tobytes()).decode()
        fps, latency, count = asyncio.run(_stream(served.port, frame, speech))
        print(f"WS /v1/stream: {len(speech) / 16_000:.1f} s at real time, 5 frames/s sent: {fps:.1f} frames/s answered")
        if latency:
            print(f"WS /v1/stream: end of utterance -> pushed to the client: {_stats(latency)}, {count} utterances")
        print(f"  beside: {DASHBOARD}")


if __name__ == "__main__":
    main()
