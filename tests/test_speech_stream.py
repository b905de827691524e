"""The live speech pipeline fed with real speech as WebRTC-like frames (48 kHz stereo s16)."""

import asyncio
import time
from collections import deque

import numpy as np
import pytest

from devkit.media import webrtc_frames
from emotion.live import SpeechStreamProcessor
from emotion.speech.analyzer import SpeechEmotionAnalyzer

SILENCE = np.zeros(16_000, np.float32)


@pytest.fixture(scope="module")
def speech_analyzer():
    return SpeechEmotionAnalyzer.from_settings()


def _slow(delay_s: float):
    """A speech analyzer (no models) that takes ``delay_s`` seconds per utterance: a slow machine."""

    class Slow(SpeechEmotionAnalyzer):
        def analyze_segment(self, segment, conversation=None):
            time.sleep(delay_s)
            return super().analyze_segment(segment, conversation)

    return Slow


def _stream(proc, frames, chunk=5):
    for i in range(0, len(frames), chunk):  # streamlit-webrtc hands over queued frames in small lists
        out = asyncio.run(proc.on_audio_frames(frames[i : i + chunk]))
        assert len(out) == len(frames[i : i + chunk])


def test_live_speech_yields_utterances_with_both_emotions(speech_analyzer, kids_clip, dogs_clip):
    audio = np.concatenate([SILENCE, kids_clip, SILENCE, dogs_clip, SILENCE])
    frames = webrtc_frames(audio)
    proc = SpeechStreamProcessor(speech_analyzer)
    _stream(proc, frames)
    proc.on_ended()
    proc.join(timeout=60)
    snap = proc.snapshot()
    assert not snap.running and snap.error is None
    # nothing dropped: every 20 ms frame reached the pipeline
    assert abs(snap.received_s - len(frames) * 0.02) < 0.05
    assert [u.text.lower().strip(".") for u in snap.utterances] == [
        "kids are talking by the door",
        "dogs are sitting by the door",
    ]
    for u in snap.utterances:
        assert u.semantic is not None and u.acoustic is not None
        assert abs(float(u.semantic.sum()) - 1) < 1e-4 and abs(float(u.acoustic.sum()) - 1) < 1e-4
    kids_end = 1 + len(kids_clip) / 16_000
    assert snap.utterances[0].end_s < kids_end + 0.3 < snap.utterances[1].start_s


def test_a_live_stream_is_one_voice_session_and_a_new_start_another(speech_analyzer, kids_clip, dogs_clip):
    """Each utterance's voice is standardised over the stream's earlier utterances (one session
    from START to STOP); the next stream starts a fresh session."""
    sessions = []

    class Recording(SpeechEmotionAnalyzer):
        def analyze_segment(self, segment, conversation=None):
            sessions.append(conversation.voice)
            return super().analyze_segment(segment, conversation)

    analyzer = Recording(None, speech_analyzer.acoustic, None)
    proc = SpeechStreamProcessor(analyzer)
    for _ in range(2):  # two streams, each with two utterances
        _stream(proc, webrtc_frames(np.concatenate([SILENCE, kids_clip, SILENCE, dogs_clip, SILENCE])))
        proc.on_ended()
        proc.join(timeout=60)
    assert len(sessions) == 4 and sessions[0] is not None
    assert sessions[0] is sessions[1] and sessions[2] is sessions[3] and sessions[0] is not sessions[2]
    assert sessions[1].count == sessions[3].count == 2
    utterances = proc.snapshot().utterances
    assert all(u.acoustic_uncertain == speech_analyzer.acoustic.is_uncertain(u.acoustic) for u in utterances)


def test_a_slow_analyzer_makes_audio_wait_not_vanish(kids_clip):
    Slow = _slow(0.3)

    audio = np.concatenate([SILENCE, kids_clip] * 5 + [SILENCE])
    proc = SpeechStreamProcessor(Slow())
    _stream(proc, webrtc_frames(audio), chunk=50)
    proc.on_ended()
    proc.join(timeout=60)
    snap = proc.snapshot()
    assert len(snap.utterances) == 5 and snap.backlog_s == 0


def test_stop_ends_the_workers_promptly(kids_clip):
    proc = SpeechStreamProcessor(SpeechEmotionAnalyzer())
    _stream(proc, webrtc_frames(np.concatenate([kids_clip, kids_clip])))
    assert proc.snapshot().running
    t0 = time.monotonic()
    proc.stop()
    assert time.monotonic() - t0 < 2 and not proc.snapshot().running


def test_a_failing_analyzer_is_reported_and_the_stream_goes_on(kids_clip):
    class Broken(SpeechEmotionAnalyzer):
        def analyze_segment(self, segment, conversation=None):
            raise RuntimeError("model exploded")

    proc = SpeechStreamProcessor(Broken())
    _stream(proc, webrtc_frames(np.concatenate([SILENCE, kids_clip, SILENCE])))
    proc.on_ended()
    proc.join(timeout=30)
    assert "model exploded" in proc.snapshot().error


def test_a_new_stream_starts_fresh(kids_clip):
    proc = SpeechStreamProcessor(SpeechEmotionAnalyzer())
    for _ in range(2):
        _stream(proc, webrtc_frames(np.concatenate([SILENCE, kids_clip, SILENCE])))
        proc.on_ended()
        proc.join(timeout=30)
        snap = proc.snapshot()
        assert len(snap.utterances) == 1 and snap.utterances[0].start_s < 2.0


def test_start_again_while_the_last_stream_is_still_finishing(kids_clip):
    Slow = _slow(1.0)

    proc = SpeechStreamProcessor(Slow())
    clip = np.concatenate([SILENCE, kids_clip, SILENCE])
    _stream(proc, webrtc_frames(clip))
    proc.on_ended()  # STOP: the first stream's last utterance is still being analysed...
    _stream(proc, webrtc_frames(np.concatenate([clip, clip])))  # ...when START is pressed again
    proc.on_ended()
    proc.join(timeout=30)
    snap = proc.snapshot()
    # the new stream loses nothing and does not inherit the old stream's result
    assert len(snap.utterances) == 2 and abs(snap.received_s - 2 * len(clip) / 16_000) < 0.1


def test_a_failing_vad_step_is_reported_and_audio_keeps_draining(speech_analyzer, kids_clip):
    from emotion.speech.vad import UtteranceSegmenter

    class Flaky(UtteranceSegmenter):
        calls = 0

        def push(self, samples, start_s=None):
            Flaky.calls += 1
            if Flaky.calls == 3:
                raise RuntimeError("VAD broke")
            return super().push(samples, start_s)

    proc = SpeechStreamProcessor(speech_analyzer, segmenter_factory=Flaky)
    _stream(proc, webrtc_frames(np.concatenate([SILENCE, kids_clip, SILENCE])))
    proc.on_ended()
    proc.join(timeout=60)
    snap = proc.snapshot()
    assert not snap.running and snap.backlog_s == 0.0  # nothing left waiting in the inbox
    assert snap.error == "RuntimeError: VAD broke"
    assert [u.text.lower().strip(". ") for u in snap.utterances] == ["kids are talking by the door"]


def test_the_utterance_history_is_bounded_and_an_ended_stream_can_be_discarded(speech_analyzer, kids_clip, dogs_clip):
    proc = SpeechStreamProcessor(speech_analyzer, max_results=1)
    _stream(proc, webrtc_frames(np.concatenate([SILENCE, kids_clip, SILENCE, dogs_clip, SILENCE])))
    proc.discard_finished()  # still streaming: nothing is discarded
    proc.on_ended()
    proc.join(timeout=60)
    snap = proc.snapshot()
    assert [u.text.lower().strip(". ") for u in snap.utterances] == ["dogs are sitting by the door"]
    assert len(snap.end_arrived_at) == len(snap.ready_at) == 1
    proc.discard_finished()
    snap = proc.snapshot()
    assert snap.utterances == () and snap.started_at is None and snap.received_s == 0.0


def test_arrival_times_are_forgotten_not_guessed():
    from emotion.live.speech import _SpeechRun

    run = _SpeechRun(clock=lambda: 0.0)
    run.arrivals = deque(maxlen=2)
    for i, at in enumerate((10.0, 11.0, 12.0), start=1):
        run.mark_arrival(i * 0.1, at)  # the audio up to i * 100 ms had arrived at ``at``
    assert run.arrival_of(0.1) is None  # its mark (0.1 s @ 10.0) was dropped: unknown, not 11.0
    assert run.arrival_of(0.15) == 11.0  # arrived in the batch that completed at 11.0
    assert run.arrival_of(0.201) == 12.0
    assert run.arrival_of(0.3) == 12.0 and run.arrival_of(0.301) is None


def _utterances(proc, frames):
    _stream(proc, frames)
    proc.on_ended()
    proc.join(timeout=120)
    return proc.snapshot()


@pytest.mark.parametrize("lost_s, tolerance_s", [(0.4, 0.01), (1.2, 0.15)])
def test_lost_packets_do_not_shift_later_utterances(speech_analyzer, kids_clip, dogs_clip, lost_s, tolerance_s):
    audio = np.concatenate([SILENCE, kids_clip, SILENCE, SILENCE, dogs_clip, SILENCE])
    frames = webrtc_frames(audio)  # 20 ms each, RTP-like timestamps
    full = _utterances(SpeechStreamProcessor(speech_analyzer), frames)
    # packets lost in the pause between the sentences, and 60 ms inside the second one. Up to 0.5 s
    # is filled with silence (the VAD goes on as it was); a longer loss stays a gap (the VAD starts
    # afresh after it, which may move the next onset by a window or two, never by the loss)
    pause = round((1 + len(kids_clip) / 16_000 + 0.3) / 0.02)
    second = round((3 + (len(kids_clip) + len(dogs_clip) / 2) / 16_000) / 0.02)
    lost = set(range(pause, pause + round(lost_s / 0.02))) | set(range(second, second + 3))
    partial = _utterances(SpeechStreamProcessor(speech_analyzer), [f for i, f in enumerate(frames) if i not in lost])
    assert partial.received_s == pytest.approx(full.received_s - len(lost) * 0.02, abs=1e-6)
    assert len(full.utterances) == len(partial.utterances) == 2
    for a, b in zip(full.utterances, partial.utterances, strict=True):
        assert b.start_s == pytest.approx(a.start_s, abs=tolerance_s) and b.end_s == pytest.approx(a.end_s, abs=tolerance_s)


def test_a_backlog_over_the_cap_skips_the_oldest_speech_and_says_how_much(kids_clip):
    Slow = _slow(1.0)

    audio = np.concatenate([SILENCE, kids_clip] * 6 + [SILENCE])
    frames = webrtc_frames(audio)
    on_time = _utterances(SpeechStreamProcessor(SpeechEmotionAnalyzer()), frames).utterances
    assert len(on_time) == 6
    snap = _utterances(SpeechStreamProcessor(Slow(), max_backlog_s=4.0), frames)  # 20 s of audio at once
    assert snap.skipped_s > 3.0 and 1 <= snap.count < 6 and snap.backlog_s == 0 and not snap.running
    # what was analysed kept its true times: skipping moved nothing
    starts = [u.start_s for u in on_time]
    for u in snap.utterances:
        assert min(abs(u.start_s - s) for s in starts) < 0.05
    # nothing vanishes uncounted: what was analysed plus what was skipped covers all the speech. Skipping
    # counts audio seconds, and drops raw audio (pauses too) when no utterance is queued yet, so it may
    # exceed the speech it removed, never the audio itself
    speech = sum(u.end_s - u.start_s for u in on_time)
    assert sum(u.end_s - u.start_s for u in snap.utterances) + snap.skipped_s >= speech - 0.5
    assert snap.skipped_s <= len(audio) / 16_000


def test_snapshots_cover_a_bounded_window(speech_analyzer, kids_clip, dogs_clip):
    audio = np.concatenate([SILENCE, kids_clip, SILENCE, dogs_clip, SILENCE])
    proc = SpeechStreamProcessor(speech_analyzer)
    snap = _utterances(proc, webrtc_frames(audio))
    last = proc.snapshot(last=1)
    assert snap.count == last.count == 2 and last.utterances == snap.utterances[-1:]
    assert last.ready_at == snap.ready_at[-1:] and last.end_arrived_at == snap.end_arrived_at[-1:]
