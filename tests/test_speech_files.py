"""Whole-file speech analysis: real speech in, utterances with text and emotions out;
long files in bounded memory."""

import tracemalloc

import av
import numpy as np
import pytest

from devkit.media import write_audio
from emotion import InputError
from emotion.speech.analyzer import SpeechEmotionAnalyzer

SILENCE = np.zeros(16_000, np.float32)


def test_file_utterances_have_text_times_and_progress(tmp_path, transcriber, kids_clip, dogs_clip):
    audio = np.concatenate([SILENCE, kids_clip, SILENCE, SILENCE, dogs_clip, SILENCE])
    path = write_audio(tmp_path / "speech.m4a", audio, 16_000, 2)
    progress = []
    analyzer = SpeechEmotionAnalyzer(transcriber)
    utterances = list(analyzer.analyze_file(path, progress=lambda done, total: progress.append((done, total)), chunk_s=2.0))
    assert [u.text.lower().strip(".") for u in utterances] == ["kids are talking by the door", "dogs are sitting by the door"]
    kids_end = 1 + len(kids_clip) / 16_000  # RAVDESS clips open with ~0.8 s of silence
    assert 1.5 < utterances[0].start_s < 2.3 and utterances[0].end_s < kids_end + 0.3
    assert utterances[1].start_s > kids_end + 1.5
    done = [d for d, _ in progress]
    assert done == sorted(done) and len(progress) >= 5
    assert abs(progress[-1][0] - len(audio) / 16_000) < 0.2 and progress[-1][0] == progress[-1][1]
    assert utterances[0].to_dict()["text"] == utterances[0].text
    # one block holding the whole file: progress still moves after each utterance, not only at the end
    whole = []
    list(analyzer.analyze_file(path, progress=lambda done, total: whole.append(done), chunk_s=60.0))
    assert whole == sorted(whole)
    assert any(abs(d - u.end_s) < 1e-6 for d in whole for u in utterances[:1]), whole


def test_progress_line_gives_media_seconds_and_time_left():
    from ui.widgets import progress_line

    assert progress_line("Audio", 1.0, 60.0, 1.5) == "Audio: 1 s of 60 s analysed"  # too early to estimate
    assert progress_line("Audio", 15.0, 60.0, 10.0) == "Audio: 15 s of 60 s analysed · about 30 s left"
    assert progress_line("Audio", 10.0, 600.0, 20.0).endswith("about 20 min left")
    assert progress_line("Audio", 12.0, 0.0, 5.0) == "Audio: 12 s analysed"  # no duration in the container


def test_speech_in_a_video_file(tmp_path, transcriber, kids_clip):
    path = tmp_path / "clip.mp4"
    with av.open(str(path), "w") as out:
        v = out.add_stream("mpeg4", rate=10)
        v.width, v.height, v.pix_fmt = 64, 64, "yuv420p"
        a = out.add_stream("aac", rate=16_000, layout="mono")
        audio = np.concatenate([SILENCE, kids_clip, SILENCE])
        for k in range(int(len(audio) / 16_000 * 10)):
            out.mux(v.encode(av.VideoFrame.from_ndarray(np.full((64, 64, 3), k % 255, np.uint8), format="rgb24")))
        for i in range(0, len(audio), 1024):
            f = av.AudioFrame.from_ndarray(audio[i : i + 1024][None].copy(), format="fltp", layout="mono")
            f.sample_rate = 16_000
            out.mux(a.encode(f))
        out.mux(a.encode(None))
        out.mux(v.encode(None))
    (u,) = SpeechEmotionAnalyzer(transcriber).analyze_file(path)
    assert "kids are talking by the door" in u.text.lower()


def test_a_corrupt_file_is_an_input_error():
    with pytest.raises(InputError):
        list(SpeechEmotionAnalyzer().analyze_file(b"\x00\x01garbage" * 100))


def test_two_hour_file_in_chunks_with_bounded_memory(tmp_path):
    path = tmp_path / "two_hours.flac"
    rng = np.random.default_rng(0)
    block = rng.normal(0, 0.0005, 16_000 * 10).astype(np.float32)[None]  # 10 s of faint noise
    with av.open(str(path), "w") as out:
        stream = out.add_stream("flac", rate=16_000, layout="mono")
        for k in range(720):  # 2 h
            frame = av.AudioFrame.from_ndarray(block, format="flt", layout="mono")
            frame.sample_rate, frame.pts = 16_000, k * 160_000
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    progress = []
    tracemalloc.start()
    utterances = list(SpeechEmotionAnalyzer().analyze_file(path, progress=lambda d, t: progress.append((d, t))))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert utterances == []
    assert progress[-1] == (7200.0, 7200.0) and len(progress) >= 240
    assert peak < 64 * 2**20, f"peak {peak / 2**20:.0f} MiB for a 2-hour file"
