"""The HTTP/WebSocket service (emotion.serve) on a real uvicorn server on 127.0.0.1, with real
clients (httpx, websockets) and real media (the astronaut photo, RAVDESS speech, a video with
speech): each endpoint gives what the core gives; keys, size and concurrency limits; problem
details, never a 500; jobs; metrics; a live stream on the client's timeline."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

pytest.importorskip("fastapi", reason="the service's extra is not installed: pip install '.[serve]'")
httpx = pytest.importorskip("httpx", reason="the service's tests need httpx (requirements-dev.txt)")
websockets = pytest.importorskip("websockets", reason="the service's tests need websockets (requirements-dev.txt)")

from devkit.media import face_scene, write_audio, write_av_clip  # noqa: E402
from devkit.server import Served, free_port  # noqa: E402
from emotion.analysis import Analyzers, analyze  # noqa: E402
from emotion.config import Settings  # noqa: E402
from emotion.schema import TIMELINE  # noqa: E402
from emotion.serve.app import create_app  # noqa: E402
from emotion.serve.security import check_bind  # noqa: E402

KEY = "test-key-1"


@pytest.fixture(scope="module")
def analyzers():
    a = Analyzers(Settings())
    a.faces, a.speech  # noqa: B018 - loaded once, shared by every server of this module
    return a


@pytest.fixture(scope="module")
def api(analyzers):
    """The service with one key, small limits (5 MB uploads, 1 request in flight per key, jobs
    above 15 s of media)."""
    settings = Settings().replace(
        api_keys=(KEY,),
        serve_max_upload_bytes=5_000_000,
        serve_max_requests_per_key=1,
        serve_job_above_s=15.0,
        serve_job_ttl_s=120.0,
    )
    with Served(create_app(settings, analyzers=analyzers)) as served:
        yield served


@pytest.fixture(scope="module")
def client(api):
    with httpx.Client(base_url=api.url, headers={"X-API-Key": KEY}, timeout=300) as c:
        yield c


@pytest.fixture(scope="module")
def astronaut_png(tmp_path_factory, astronaut_bgr) -> Path:
    path = tmp_path_factory.mktemp("serve") / "astronaut.png"
    cv2.imwrite(str(path), astronaut_bgr)
    return path


def _post(client, path: Path, **fields):
    with path.open("rb") as f:
        return client.post("/v1/analyze", files={"file": (path.name, f)}, data={k: str(v) for k, v in fields.items()})


def _rows(result) -> list[dict]:
    """Timeline rows as JSON gives them (statuses as values, only the columns a row fills)."""
    return json.loads(json.dumps([{k: v for k, v in r.items() if v is not None} for r in result.rows()]))


def _problem(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status and body["code"] == code and body["detail"] and "Traceback" not in body["detail"]
    return body


# ----------------------------------------------------------------------------------- results


def test_a_photo_gives_the_core_s_rows(client, astronaut_png, analyzers):
    response = _post(client, astronaut_png)
    assert response.status_code == 200, response.text
    body = response.json()
    core = analyze(astronaut_png, analyzers=analyzers)
    assert body["rows"] == _rows(core) and body["kind"] == "image" and body["faces"] == core.face_count() == 1
    assert body["rows"][0]["label"] == "happy" and body["labels"][3] == "happy"


@pytest.fixture(scope="module")
def speech_clip(tmp_path_factory, kids_clip, dogs_clip) -> Path:
    """Two real RAVDESS sentences with pauses, 16 kHz mono WAV (under the 15 s job threshold)."""
    pause = np.zeros(8_000, np.float32)
    audio = np.concatenate([pause, kids_clip, pause, dogs_clip, pause]) * 3
    return write_audio(tmp_path_factory.mktemp("serve") / "speech.wav", audio, 16_000)


def test_audio_and_a_video_give_the_core_s_rows(client, speech_clip, analyzers, astronaut_bgr, tmp_path):
    response = _post(client, speech_clip)
    assert response.status_code == 200, response.text
    core = analyze(speech_clip, analyzers=analyzers)
    assert response.json()["rows"] == _rows(core) and len(core.utterances) == 2
    assert response.json()["speech_status"] == "speech"

    from emotion.speech.audio import load_audio

    speech = load_audio(speech_clip)
    seconds = len(speech) / 16_000
    frames = [face_scene(astronaut_bgr)] * round(seconds * 5)
    video = write_av_clip(tmp_path / "talk.mp4", frames, [i / 5 for i in range(len(frames))], speech)
    response = _post(client, video, fps=2)
    assert response.status_code == 200, response.text
    core = analyze(video, analyzers=analyzers, sample_fps=2)
    body = response.json()
    assert body["rows"] == _rows(core) and {r["kind"] for r in body["rows"]} == {"face", "utterance", "fused"}
    # one modality off: the video is heard only, as the core's audio analysis of it
    heard = _post(client, video, modalities="semantic,acoustic")
    assert heard.status_code == 200 and {r["kind"] for r in heard.json()["rows"]} == {"utterance"}


def test_text_gives_the_core_s_probabilities(client, analyzers):
    response = client.post("/v1/text", json={"text": "Really?", "context": "We won the final!"})
    assert response.status_code == 200, response.text
    p = analyzers.text.predict("Really?", "We won the final!")
    body = response.json()
    assert list(body["probabilities"].values()) == pytest.approx([round(float(v), 4) for v in p], abs=1e-4)
    assert body["label"] == max(body["probabilities"], key=body["probabilities"].get)
    # without a context the words are typed text, as a text file's lines are
    alone = client.post("/v1/text", json={"text": "My exam results came today."}).json()
    typed = analyzers.text.predict("My exam results came today.", typed=True)
    assert list(alone["probabilities"].values()) == pytest.approx([round(float(v), 4) for v in typed], abs=1e-4)
    _problem(client.post("/v1/text", json={"text": ""}), 422, "invalid_input")
    _problem(client.post("/v1/text", json={"words": "hi"}), 422, "invalid_input")


def test_models_health_and_the_openapi_schema(client, api):
    models = client.get("/v1/models").json()
    names = [m["name"] for m in models["models"]]
    assert "fernet" in names and "acoustic_emotion" in names and "text_emotion" in names
    face = next(m for m in models["models"] if m["name"] == "fernet")
    assert face["labels"][:3] == ["angry", "disgust", "fear"] and face["figures"]
    assert face["version"].startswith("sha256:") and len(face["version"]) == len("sha256:") + 12
    assert httpx.get(f"{api.url}/healthz").json()["status"] == "ok"
    assert httpx.get(f"{api.url}/readyz").status_code == 200
    spec = httpx.get(f"{api.url}/openapi.json").json()
    row = spec["components"]["schemas"]["TimelineRow"]["properties"]
    assert tuple(row) == TIMELINE.names  # generated from the one schema
    from emotion.schema import FaceStatus

    assert spec["components"]["schemas"]["FaceStatus"]["enum"] == [s.value for s in FaceStatus]
    assert httpx.get(f"{api.url}/docs").status_code == 200


# -------------------------------------------------------------------------------- safety


def test_keys_are_enforced(api, astronaut_png):
    with httpx.Client(base_url=api.url, timeout=60) as anonymous:
        _problem(anonymous.get("/v1/models"), 401, "unauthorized")
        _problem(anonymous.get("/v1/models", headers={"X-API-Key": "wrong"}), 401, "unauthorized")
        assert anonymous.get("/v1/models", headers={"X-API-Key": KEY}).status_code == 200


def test_an_open_server_is_refused_on_a_network_address():
    with pytest.raises(ValueError, match="EMOTION_API_KEYS"):
        check_bind("0.0.0.0", Settings())
    check_bind("127.0.0.1", Settings())
    check_bind("0.0.0.0", Settings().replace(api_keys=("k",)))
    run = subprocess.run(
        [sys.executable, "-m", "emotion", "serve", "--host", "0.0.0.0", "--port", str(free_port())],
        capture_output=True,
        text=True,
        timeout=120,
        env={k: v for k, v in __import__("os").environ.items() if k != "EMOTION_API_KEYS"},
    )
    assert run.returncode == 2 and "EMOTION_API_KEYS" in run.stderr, run.stderr


def test_an_oversized_upload_is_413_and_unknown_files_415(client, tmp_path):
    big = tmp_path / "big.wav"
    big.write_bytes(b"\0" * 6_000_000)
    _problem(_post(client, big), 413, "too_large")
    notes = tmp_path / "notes.pdf"
    notes.write_bytes(b"%PDF-1.4")
    _problem(_post(client, notes), 415, "unsupported_media")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    _problem(_post(client, empty), 422, "invalid_input")
    _problem(client.get("/v1/nothing"), 404, "not_found")


def test_past_the_concurrency_limit_is_429(client, speech_clip):
    async def both():
        async with httpx.AsyncClient(base_url=str(client.base_url), headers={"X-API-Key": KEY}, timeout=300) as c:

            async def one():
                return await c.post("/v1/analyze", files={"file": (speech_clip.name, speech_clip.read_bytes())})

            return await asyncio.gather(one(), one())

    first, second = asyncio.run(both())
    statuses = sorted([first.status_code, second.status_code])
    assert statuses == [200, 429], (first.text[:200], second.text[:200])
    refused = first if first.status_code == 429 else second
    _problem(refused, 429, "too_many_requests")
    assert refused.headers["retry-after"].isdigit()


def test_the_fuzz_corpus_is_refused_with_problems_never_500(api, tmp_path):
    from tests.fuzz_corpus import build_corpus

    corpus = build_corpus(tmp_path / "corpus")[
        ::2
    ]  # every other file: each kind of trouble (the core takes them all in test_fuzz)
    seen = {}
    with httpx.Client(base_url=api.url, headers={"X-API-Key": KEY}, timeout=300) as c:
        for item in corpus:
            with item.path.open("rb") as f:
                r = c.post("/v1/analyze", files={"file": (item.path.name, f)}, data={"job": "false"})
            assert r.status_code != 500 and r.status_code < 500 or r.status_code == 504, (item.what, r.status_code, r.text[:300])
            if r.status_code >= 400:
                assert r.headers["content-type"].startswith("application/problem+json"), item.what
                assert r.json()["code"] in ("too_large", "unsupported_media", "invalid_input", "timeout"), (item.what, r.text)
            seen[r.status_code] = seen.get(r.status_code, 0) + 1
    assert seen.get(422, 0) > 10 and seen.get(200, 0) > 5, seen


# ---------------------------------------------------------------------------------- jobs


def test_a_long_file_is_a_job_whose_progress_moves(client, analyzers, kids_clip, tmp_path):
    pause = np.zeros(16_000, np.float32)
    audio = np.concatenate([pause, kids_clip, pause] * 4) * 3  # about 22 s: over the 15 s threshold
    path = write_audio(tmp_path / "long.wav", audio, 16_000)
    accepted = _post(client, path)
    assert accepted.status_code == 202, accepted.text
    location = accepted.headers["location"]
    assert location == accepted.json()["location"]
    progress, deadline = [], time.monotonic() + 300
    while True:
        state = client.get(location).json()
        progress.append((state["status"], state["done_s"]))
        if state["status"] in ("done", "failed"):
            break
        assert time.monotonic() < deadline, progress
        time.sleep(0.1)
    assert state["status"] == "done", state
    done_values = [d for s, d in progress if s == "running"]
    assert len(set(done_values)) >= 2 or (done_values and 0 < max(done_values) < state["total_s"]), progress
    core = analyze(path, analyzers=analyzers)
    assert state["result"]["rows"] == _rows(core) and len(core.utterances) == 4
    assert state["expires_in_s"] > 0
    _problem(client.get("/v1/jobs/no-such-job"), 404, "not_found")


def test_metrics_count_what_was_sent(client):
    def count() -> float:
        text = client.get("/metrics").text
        line = next(
            (
                x
                for x in text.splitlines()
                if x.startswith("emotion_requests_total{") and 'route="/v1/text"' in x and 'status="200"' in x
            ),
            None,
        )
        return float(line.rsplit(" ", 1)[1]) if line else 0.0

    before = count()
    for _ in range(3):
        assert client.post("/v1/text", json={"text": "I am so happy!"}).status_code == 200
    assert count() == before + 3
    text = client.get("/metrics").text
    assert 'emotion_inference_seconds_count{model="text"}' in text and "emotion_streams_open" in text


# ---------------------------------------------------------------------------------- stream


def _jpeg(image: np.ndarray) -> str:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 85])
    return base64.b64encode(data.tobytes()).decode()


def test_a_stream_answers_on_the_client_s_timeline(api, analyzers, speech_clip, astronaut_bgr):
    """Real face frames and real speech, sent at real time with timestamps that start at 100 s
    on the client's clock: each utterance comes back at the times the file analysis finds
    (+100 s, within 0.1 s), with both emotions, fused with the face on screen."""
    from emotion.speech.audio import load_audio

    speech = (load_audio(speech_clip) * 32767).astype("<i2")
    reference = analyze(speech_clip, analyzers=analyzers).utterances
    t0, chunk = 100.0, 1_600  # 0.1 s of audio per message
    frame = _jpeg(face_scene(astronaut_bgr))

    async def run():
        url = f"ws://127.0.0.1:{api.port}/v1/stream"
        received = []
        async with websockets.connect(url, additional_headers={"X-API-Key": KEY}, max_size=2**24) as ws:
            ready = json.loads(await ws.recv())
            assert ready["type"] == "ready" and ready["labels"][3] == "happy"
            await ws.send(json.dumps({"type": "start", "audio": {"format": "pcm_s16le", "sample_rate": 16_000, "channels": 1}}))

            async def reader():
                async for raw in ws:
                    received.append(json.loads(raw))

            task = asyncio.create_task(reader())
            start = time.monotonic()
            for i in range(0, len(speech), chunk):
                t = t0 + i / 16_000
                if i % (chunk * 2) == 0:  # 5 frames per second
                    await ws.send(json.dumps({"type": "video", "t": t, "format": "jpeg", "data": frame}))
                await ws.send(
                    json.dumps({"type": "audio", "t": t, "data": base64.b64encode(speech[i : i + chunk].tobytes()).decode()})
                )
                await asyncio.sleep(max(0.0, start + i / 16_000 - time.monotonic()))
            await ws.send(json.dumps({"type": "bogus"}))
            await ws.send(json.dumps({"type": "stop"}))
            await asyncio.wait_for(task, 120)
        return received

    messages = asyncio.run(run())
    kinds = [m["type"] for m in messages]
    assert kinds[-1] == "end", kinds[-5:]
    faces = [m for m in messages if m["type"] == "faces"]
    assert len(faces) >= 10 and all(t0 <= m["t"] <= t0 + len(speech) / 16_000 for m in faces)
    seen = [f for m in faces for f in m["faces"]]
    assert seen and {f["label"] for f in seen} == {"happy"} and {f["face_id"] for f in seen} == {1}
    utterances = [m["row"] for m in messages if m["type"] == "utterance"]
    assert len(utterances) == len(reference) == 2, utterances
    for got, want in zip(utterances, reference, strict=True):
        assert got["start_s"] == pytest.approx(t0 + want.start_s, abs=0.1) and got["end_s"] == pytest.approx(
            t0 + want.end_s, abs=0.1
        )
        assert got["text"] and got["semantic_label"] and got["acoustic_label"] and got["acoustic_status"]
    assert sum("by the door" in u["text"].lower() for u in utterances) == 2, utterances
    fused = [m["row"] for m in messages if m["type"] == "fused"]
    assert len(fused) == 2 and all(f["face_id"] == 1 for f in fused)  # the face on screen
    now = [m for m in messages if m["type"] == "now" and m["label"]]
    assert now and now[-1]["face_id"] == 1
    assert any(m["type"] == "notice" and m["code"] == "bad_message" for m in messages)


def test_a_stream_needs_a_key(api):
    async def run():
        async with websockets.connect(f"ws://127.0.0.1:{api.port}/v1/stream") as ws:
            await ws.recv()

    with pytest.raises(websockets.exceptions.InvalidStatus) as refused:
        asyncio.run(run())
    response = refused.value.response
    assert response.status_code == 401 and json.loads(bytes(response.body))["code"] == "unauthorized"


# ------------------------------------------------------------------------------ Ray Serve


def test_the_same_app_on_ray_serve():
    """The service as a Ray Serve deployment on a local Ray instance: its replica builds the app
    (models loaded once) and answers through Ray Serve's HTTP proxy on 127.0.0.1."""
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install '.[serve]')")
    serve = pytest.importorskip("ray.serve", reason="Ray Serve is not installed (pip install '.[serve]')")
    from emotion.batch.engines import ray_init
    from emotion.serve.ray_serve import build_app

    with pytest.raises(ValueError, match="EMOTION_API_KEYS"):
        build_app({"host": "0.0.0.0"})
    started = ray_init(num_cpus=2)
    port = free_port()
    try:
        serve.start(http_options={"host": "127.0.0.1", "port": port})
        serve.run(build_app({"max_replicas": 1, "num_cpus": 1}), name="emotion", route_prefix="/")
        url = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{url}/healthz", timeout=120).json()["status"] == "ok"
        r = httpx.post(f"{url}/v1/text", json={"text": "I am so happy to see you!"}, timeout=300)
        assert r.status_code == 200 and r.json()["label"] == "happy", r.text
        problem = httpx.post(f"{url}/v1/text", json={"text": ""}, timeout=60)
        assert problem.status_code == 422 and problem.json()["code"] == "invalid_input"
    finally:
        serve.shutdown()
        if started:
            ray.shutdown()


# ------------------------------------------------------------------------- the demo page


@pytest.mark.browser
def test_the_demo_page_labels_a_real_face_and_real_speech(api, chromium_path, astronaut_bgr, live_speech_wav, tmp_path):
    """/demo in Debian's Chromium, the fake camera playing the astronaut and the fake microphone
    real RAVDESS speech: the face comes back boxed and labelled, the sentences transcribed."""
    if live_speech_wav is None:
        pytest.skip("RAVDESS not found (../shared is absent): no real speech for the fake microphone")
    from playwright.sync_api import sync_playwright

    from devkit.media import chromium_media_args, write_y4m

    y4m = write_y4m(tmp_path / "face.y4m", [face_scene(astronaut_bgr)] * 10).resolve()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path, args=chromium_media_args(y4m, live_speech_wav))
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        try:
            page.goto(f"{api.url}/demo?api_key={KEY}")
            page.get_by_role("button", name="Start").click()
            # locators, not evaluated strings: the page's Content-Security-Policy forbids eval, and stays on
            page.locator("#faces", has_text="happy").wait_for(timeout=60_000)
            page.locator("li.utterance", has_text=re.compile("by the door", re.I)).first.wait_for(timeout=90_000)
            page.locator("#now", has_text="Fused:").wait_for(timeout=30_000)
            shot = tmp_path / "demo.png"
            page.screenshot(path=str(shot), full_page=True)
            print(f"screenshot: {shot}")
            text = page.inner_text("body")
            assert "#1 happy" in text and "words:" in text and "voice:" in text
            page.get_by_role("button", name="Stop").click()
            page.locator("#status", has_text="Stopped").wait_for(timeout=90_000)
        finally:
            browser.close()


def test_a_job_can_be_polled_from_another_worker(tmp_path):
    """Two job stores sharing a folder stand for two uvicorn workers of one server: a job run by
    one is seen, progress and result, by the other; unknown or expired jobs are 404."""
    from emotion.serve.jobs import JobStore
    from emotion.serve.problems import ApiError

    one, other = JobStore(4, ttl_s=60, folder=tmp_path), JobStore(4, ttl_s=60, folder=tmp_path)
    gate = threading.Event()

    def run(progress):
        progress("speech", 3.0, 10.0)
        gate.wait(10)
        return {"rows": [{"kind": "utterance"}]}

    job = one.submit(run, lambda: None)
    deadline = time.monotonic() + 10
    while (seen := other.get(job.id)[0]).done_s != 3.0:
        assert time.monotonic() < deadline, seen
        time.sleep(0.05)
    assert seen.status == "running" and seen.total_s == 10.0
    gate.set()
    while other.get(job.id)[0].status != "done":
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert other.get(job.id)[0].result == {"rows": [{"kind": "utterance"}]}
    with pytest.raises(ApiError) as missing:
        other.get("../../etc/passwd")
    assert missing.value.status == 404
    one.shutdown()
    with pytest.raises(ApiError):
        other.get(job.id)  # the store that ran it has shut down: its jobs are gone


def test_a_job_is_never_seen_done_without_its_result_and_expiry(tmp_path):
    """The end of a job is one step: a poll between the work and its clean-up (here a slow one)
    sees it running, never done without its result or the seconds before it is forgotten (CI
    once read ``expires_in_s: null`` from a done job). A clean-up that raises still ends the job."""
    from emotion.serve.jobs import JobStore

    store = JobStore(4, ttl_s=60, folder=tmp_path)
    job = store.submit(lambda progress: {"rows": []}, lambda: time.sleep(0.5))
    seen, deadline = [], time.monotonic() + 10
    while (state := store.get(job.id))[0].status != "done":
        seen.append(state[0].status)
        assert time.monotonic() < deadline, seen
        time.sleep(0.01)
    done, left = state
    assert done.result == {"rows": []} and left is not None and 0 < left <= 60
    assert "running" in seen  # the poll did land inside the slow clean-up

    def broken_cleanup():
        raise OSError("disk gone")

    failing = store.submit(lambda progress: {"rows": []}, broken_cleanup)
    while store.get(failing.id)[0].status != "done":
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert store.get(failing.id)[1] is not None
    store.shutdown()


def _opus_packets(samples: np.ndarray, rate: int = 16_000) -> list[tuple[float, bytes]]:
    """Mono float32 speech as Opus packets at 48 kHz (PyAV's libopus), each with its start time (s)."""
    import av
    import soxr

    audio = soxr.resample(samples, rate, 48_000).astype(np.float32)
    encoder = av.CodecContext.create("libopus", "w")
    encoder.sample_rate, encoder.layout, encoder.format = 48_000, "mono", "flt"
    packets = []
    for i in range(0, len(audio), 960):  # 20 ms frames
        frame = av.AudioFrame.from_ndarray(audio[None, i : i + 960], format="flt", layout="mono")
        frame.sample_rate, frame.pts = 48_000, i
        packets += [(p.pts / 48_000, bytes(p)) for p in encoder.encode(frame)]
    packets += [(p.pts / 48_000, bytes(p)) for p in encoder.encode(None)]
    return packets


def test_a_stream_takes_opus_audio(api, speech_clip):
    """Audio only, as Opus packets (what a browser's MediaRecorder or WebRTC gives): every
    sentence comes back transcribed; audio sent faster than real time is never dropped."""
    from emotion.speech.audio import load_audio

    packets = _opus_packets(load_audio(speech_clip))

    async def run():
        received = []
        async with websockets.connect(f"ws://127.0.0.1:{api.port}/v1/stream", additional_headers={"X-API-Key": KEY}) as ws:
            await ws.recv()
            await ws.send(json.dumps({"type": "start", "audio": {"format": "opus", "sample_rate": 48_000, "channels": 1}}))
            for t, data in packets:
                await ws.send(json.dumps({"type": "audio", "t": 50.0 + t, "data": base64.b64encode(data).decode()}))
            await ws.send(json.dumps({"type": "stop"}))
            async for raw in ws:
                received.append(json.loads(raw))
        return received

    messages = asyncio.run(run())
    utterances = [m["row"] for m in messages if m["type"] == "utterance"]
    assert len(utterances) == 2 and all("by the door" in u["text"].lower() for u in utterances), utterances
    assert all(u["start_s"] > 50.0 for u in utterances) and messages[-1]["type"] == "end"
    assert not [m for m in messages if m["type"] == "faces"]
