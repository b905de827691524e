"""Audio decoding, resampling, VAD segmentation and Whisper transcription on real speech."""

import itertools
import tracemalloc

import numpy as np
import pytest
import soxr

from devkit.media import write_audio
from emotion import InputError
from emotion.speech.audio import iter_audio_blocks, load_audio, probe_audio, to_mono_16k
from emotion.speech.transcribe import Transcriber
from emotion.speech.vad import UtteranceSegmenter

SILENCE = np.zeros(16_000, np.float32)


def _best_corr(x, y):
    n = min(len(x), len(y)) - 4000
    return max(np.corrcoef(x[2000:n], y[2000 + lag : n + lag])[0, 1] for lag in range(0, 1200, 8))


@pytest.mark.parametrize("ext", ["wav", "flac"])
@pytest.mark.parametrize("rate, channels", [(16_000, 1), (8_000, 1), (96_000, 2), (44_100, 6)])
def test_lossless_files_decode_to_the_same_waveform(tmp_path, kids_clip, ext, rate, channels):
    src = soxr.resample(kids_clip, 16_000, rate).astype(np.float32) if rate != 16_000 else kids_clip
    path = write_audio(tmp_path / f"speech.{ext}", src, rate, channels)
    info = probe_audio(path)
    assert (info.sample_rate, info.channels) == (rate, channels)
    y = load_audio(path)
    assert y.dtype == np.float32 and y.ndim == 1
    assert abs(len(y) - len(kids_clip)) <= 16
    assert _best_corr(kids_clip, y) > (0.99 if rate >= 16_000 else 0.95)


@pytest.mark.parametrize("ext", ["mp3", "ogg", "m4a", "webm"])
def test_lossy_files_keep_their_words(tmp_path, kids_clip, transcriber, ext):
    path = write_audio(tmp_path / f"speech.{ext}", kids_clip, 16_000, 2)
    y = load_audio(path.read_bytes())  # bytes, as an upload arrives
    assert abs(len(y) / 16_000 - len(kids_clip) / 16_000) < 0.15
    assert "kids are talking by the door" in transcriber.transcribe(y).text.lower()


def test_blocks_cover_the_file_exactly_on_its_timeline(tmp_path, kids_clip):
    x = np.concatenate([kids_clip] * 4)
    path = write_audio(tmp_path / "long.flac", x)
    blocks = list(iter_audio_blocks(path, chunk_s=2.0))
    assert all(len(b.samples) == 32_000 for b in blocks[:-1]) and 0 < len(blocks[-1].samples) <= 32_000
    assert blocks[0].start_s == 0.0
    assert all(abs(b.start_s - a.end_s) < 1e-9 for a, b in itertools.pairwise(blocks))  # contiguous
    assert np.allclose(np.concatenate([b.samples for b in blocks]), load_audio(path))


@pytest.mark.parametrize(
    "data, message",
    [
        (b"", "empty"),
        (b"hello, this is a text file and not audio" * 10, "not an audio or video file"),
    ],
)
def test_bad_audio_bytes(data, message):
    with pytest.raises(InputError, match=message):
        load_audio(data)


def test_truncated_file_keeps_what_decoded(tmp_path, kids_clip):
    data = write_audio(tmp_path / "s.mp3", np.concatenate([kids_clip] * 3)).read_bytes()
    y = load_audio(data[: len(data) // 2])
    assert 3.0 < len(y) / 16_000 < 7.0


def test_video_without_audio_track(tmp_path):
    import av

    path = tmp_path / "silent_video.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for _ in range(5):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(np.zeros((64, 64, 3), np.uint8), format="rgb24")))
        out.mux(stream.encode(None))
    with pytest.raises(InputError, match="no audio track"):
        load_audio(path)


def test_missing_file():
    with pytest.raises(InputError, match="no such file"):
        load_audio("/nonexistent/speech.wav")


def test_to_mono_16k_from_webrtc_like_int16():
    t = np.arange(48_000) / 48_000
    tone = (np.sin(2 * np.pi * 440 * t) * 16_000).astype(np.int16)
    stereo = np.repeat(tone, 2)
    y = to_mono_16k(stereo, 48_000, channels=2)
    assert len(y) == 16_000 and y.dtype == np.float32
    assert abs(np.abs(y).max() - 16_000 / 32768) < 0.02


def test_vad_cuts_a_stream_into_its_utterances(kids_clip, dogs_clip):
    stream = np.concatenate([SILENCE, kids_clip, SILENCE, SILENCE, dogs_clip, SILENCE])
    seg = UtteranceSegmenter()
    out = []
    for i in range(0, len(stream), 320):  # 20 ms pushes, as from a microphone
        out += seg.push(stream[i : i + 320])
    closed_live = len(out)
    out += seg.flush()
    assert len(out) == 2 and closed_live == 2, "both utterances close before the stream ends"
    kids_end = 1 + len(kids_clip) / 16_000
    assert 1.0 < out[0].start_s < kids_end and out[0].end_s <= kids_end + 0.3
    assert out[1].start_s > kids_end + 1.5
    assert all(abs(s.duration_s * 16_000 - len(s.samples)) <= 1 for s in out)


@pytest.mark.parametrize("options", [{}, {"max_utterance_s": 4.0, "min_silence_ms": 2000, "speech_pad_ms": 100}])
def test_streaming_vad_scores_each_sample_once_and_matches_one_pass(kids_clip, dogs_clip, options):
    from faster_whisper.vad import VadOptions, get_speech_timestamps

    stream = np.concatenate([SILENCE, kids_clip, SILENCE[:5000], dogs_clip, SILENCE, kids_clip * 0.5, SILENCE])
    seg, out, i = UtteranceSegmenter(**options), [], 0
    rng = np.random.default_rng(3)
    while i < len(stream):  # random chunk sizes, 1 sample to 0.3 s
        n = int(rng.integers(1, 5000))
        out += seg.push(stream[i : i + n])
        i += n
    out += seg.flush()
    # faster-whisper's one pass over the whole recording, with the same options
    reference = get_speech_timestamps(
        stream,
        VadOptions(
            threshold=0.5,
            min_silence_duration_ms=options.get("min_silence_ms", 500),
            min_speech_duration_ms=250,
            speech_pad_ms=options.get("speech_pad_ms", 200),
            max_speech_duration_s=options.get("max_utterance_s", 15.0),
        ),
    )
    assert [(round(s.start_s * 16_000), round(s.end_s * 16_000)) for s in out] == [(r["start"], r["end"]) for r in reference]
    assert all(np.array_equal(s.samples, stream[r["start"] : r["end"]]) for s, r in zip(out, reference, strict=True))
    assert len(stream) <= seg.samples_scanned < len(stream) + 512  # each sample once (+ the last window's padding)


def test_vad_keeps_media_time_across_a_gap(kids_clip):
    seg = UtteranceSegmenter()
    speech = np.concatenate([SILENCE, kids_clip, SILENCE])
    first = seg.push(speech, start_s=10.0)
    second = seg.push(speech, start_s=100.0)  # 86.7 s of nothing between the two blocks
    out = first + second + seg.flush()
    assert len(out) == 2
    assert 11.0 < out[0].start_s < out[0].end_s < 10.0 + len(speech) / 16_000
    assert out[1].start_s - out[0].start_s == pytest.approx(90.0, abs=0.05)  # the same sentence, 90 s later


def test_vad_finds_nothing_in_silence_and_noise():
    seg = UtteranceSegmenter()
    noise = np.random.default_rng(0).normal(0, 0.003, 16_000 * 5).astype(np.float32)
    assert seg.push(np.zeros(16_000 * 5, np.float32)) + seg.push(noise) + seg.flush() == []


def test_vad_memory_is_bounded_on_long_silence():
    seg = UtteranceSegmenter()
    for _ in range(120):  # two minutes
        seg.push(np.zeros(16_000, np.float32))
    assert len(seg._buf) <= 16_000 and seg.stream_seconds == 120
    assert seg.samples_scanned <= 120 * 16_000  # each sample looked at once


def test_vad_splits_long_speech(kids_clip, dogs_clip):
    seg = UtteranceSegmenter(max_utterance_s=4.0, min_silence_ms=2000, speech_pad_ms=100)
    speech = np.concatenate([kids_clip, dogs_clip, kids_clip])  # short pauses only
    out = seg.push(speech) + seg.flush()
    assert len(out) >= 2 and all(s.duration_s <= 4.5 for s in out)


def test_transcription_of_real_speech(transcriber, kids_clip, dogs_clip):
    assert "kids are talking by the door" in transcriber.transcribe(kids_clip).text.lower()
    assert "dogs are sitting by the door" in transcriber.transcribe(dogs_clip).text.lower()
    assert transcriber.transcribe(SILENCE).text == ""


def test_unavailable_whisper_model_falls_back_with_a_message(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    t = Transcriber("no-such-whisper-model-xyz")
    assert "tiny.en" in t.model_label and "no-such-whisper-model-xyz" in t.warning
    t = Transcriber(backend="openai-whisper")
    assert t.backend in ("faster-whisper", "openai-whisper")
    if t.backend == "faster-whisper":
        assert "openai-whisper" in t.warning


def test_long_file_is_decoded_in_bounded_memory(tmp_path):
    # ten minutes of low noise as 16-bit FLAC (~ 6 MB); decoding keeps only one chunk at a time
    x = np.random.default_rng(1).normal(0, 0.001, 16_000 * 600).astype(np.float32)
    path = write_audio(tmp_path / "long.flac", x)
    del x
    tracemalloc.start()
    total = sum(len(b.samples) for b in iter_audio_blocks(path, chunk_s=30.0))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert total == 16_000 * 600
    assert peak < 20 * 2**20, f"peak {peak / 2**20:.1f} MiB"


def test_the_whisper_pool_is_bounded_and_falls_back_with_a_reason():
    from emotion.errors import ModelError
    from emotion.speech.pool import TranscriberPool

    loads = []

    def loader(name):
        loads.append(name)
        if name == "medium":
            raise ModelError(
                "Whisper model 'medium' could not be loaded: it is not on this machine and could not be downloaded (no network)"
            )
        return f"model:{name}"

    pool = TranscriberPool(("", "base", "small", "medium"), max_loaded=1, loader=loader)
    assert pool.get("") == ("model:", None) and pool.get("base") == ("model:base", None)
    assert pool.get("base") == ("model:base", None) and loads == ["", "base"]  # loaded once
    assert pool.get("small") == ("model:small", None) and set(pool.loaded) == {"", "small"}  # base dropped
    model, why = pool.get("medium")
    assert model == "model:" and "no network" in why and "bundled tiny.en" in why and set(pool.loaded) == {"", "small"}
    model, why = pool.get("large-v3")  # not on this server's list: never loaded
    assert model == "model:" and "not available on this server" in why and "large-v3" not in loads
    assert TranscriberPool(("", "base"), max_loaded=0, loader=loader).get("base")[1] is not None


def test_an_offline_whisper_model_fails_with_a_clear_reason(monkeypatch):
    from emotion.errors import ModelError

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(ModelError, match="not on this machine and could not be downloaded"):
        Transcriber("base.en", fallback=False)
