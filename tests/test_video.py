"""Video files in the library: the annotated MP4 on clips built from the real astronaut photo
(and real RAVDESS speech), its size bounds, and bad input."""

from __future__ import annotations

import io

import av
import cv2
import numpy as np
import pytest

from devkit.media import face_scene, write_video
from emotion import display
from emotion.errors import InputError
from emotion.labels import color_bgr
from emotion.schema import SpeechStatus
from emotion.video import (
    ANNOTATED_MAX_BITRATE,
    ANNOTATED_MIN_BITRATE,
    VideoEmotionAnalyzer,
    annotated_bitrate,
    annotated_size,
)

FPS = 10


@pytest.fixture(scope="module")
def hd_clip(tmp_path_factory, astronaut_bgr):
    """A 1280x720, 10 fps, 3 s MPEG-4 clip of the astronaut photo (one face), no soundtrack."""
    path = tmp_path_factory.mktemp("video") / "astronaut720.mp4"
    return write_video(path, face_scene(astronaut_bgr, 1280, 720), 3.0, fps=FPS).read_bytes()


@pytest.fixture(scope="module")
def annotated(analyzer, hd_clip):
    return VideoEmotionAnalyzer(analyzer).analyze(hd_clip, sample_fps=2.0, annotate=True)


def _frames(mp4: bytes, fmt: str = "bgr24") -> list[np.ndarray]:
    with av.open(io.BytesIO(mp4)) as c:
        return [f.to_ndarray(format=fmt) for f in c.decode(video=0)]


def _caption_share(image: np.ndarray, box: tuple[int, int, int, int], color: tuple[int, int, int]) -> float:
    """Share of the pixels just above ``box`` (where draw_faces fills the caption) within 60 of ``color``."""
    x, y, w, _ = box
    band = image[max(0, y - 14) : y - 3, x + 3 : x + w - 3].astype(int)
    return float((np.linalg.norm(band - np.array(color), axis=2) < 60).mean())


def test_annotated_size_is_even_and_at_most_640():
    assert annotated_size(1280, 720) == (640, 360)
    assert annotated_size(1920, 1080) == (640, 360)
    assert annotated_size(720, 1280) == (360, 640)  # portrait phone video
    assert annotated_size(641, 481) == (640, 480)
    assert annotated_size(643, 479) == (640, 476)  # 476.8 rounded down to even
    assert annotated_size(320, 241) == (320, 240)  # never scaled up; odd sides rounded down
    with pytest.raises(ValueError):
        annotated_size(0, 480)


def test_annotated_bitrate_not_above_the_inputs():
    assert annotated_bitrate(None, 10.0) == ANNOTATED_MAX_BITRATE  # size unknown
    assert annotated_bitrate(10_000_000, None) == ANNOTATED_MAX_BITRATE  # duration unknown
    assert annotated_bitrate(200 * 2**20, 100.0) == ANNOTATED_MAX_BITRATE  # a rich input: capped
    assert annotated_bitrate(10_000_000, 100.0) == 800_000  # the input's 0.8 Mbit/s
    assert annotated_bitrate(10_000_000, 100.0, audio=True) == 800_000 - 96_000  # room left for the AAC track
    assert annotated_bitrate(1_000_000, 100.0) == ANNOTATED_MIN_BITRATE  # 80 kbit/s: the floor


def test_annotated_video_every_frame_at_the_source_rate(annotated, hd_clip):
    assert annotated.annotated_video is not None and annotated.annotated_video[4:8] == b"ftyp"
    with av.open(io.BytesIO(annotated.annotated_video)) as c:
        (stream,) = c.streams  # no soundtrack in the source, none in the copy
        assert stream.codec_context.name == "h264" and stream.codec_context.pix_fmt == "yuv420p"
        assert (stream.width, stream.height) == (640, 360)
        assert stream.average_rate == FPS
        times = [f.time for f in c.decode(stream)]
    assert len(times) == len(_frames(hd_clip)) == 3 * FPS  # every frame, not only the 6 sampled
    assert times[0] == pytest.approx(0.0, abs=1e-3) and times[-1] == pytest.approx(3.0 - 1 / FPS, abs=1e-3)
    assert annotated.notes == []


def test_annotated_video_size_is_bounded(annotated, hd_clip):
    size = len(annotated.annotated_video)
    rate = annotated_bitrate(len(hd_clip), 3.0)
    assert size <= len(hd_clip)  # not larger than the upload
    assert size * 8 <= rate * (3.0 + 2.0) + 64_000  # the cap: bitrate x (duration + 2 s buffer) + container


def test_annotated_frames_have_the_face_boxed_on_every_frame(annotated, hd_clip):
    (tracked,) = annotated.faces[-1][1]
    assert tracked.label == "happy" and tracked.face_id == 1
    box = tuple(v // 2 for v in tracked.box)  # 1280x720 -> 640x360
    happy = color_bgr("happy")
    out_frames, src_frames = _frames(annotated.annotated_video), _frames(hd_clip)
    for k in (0, 3, 14, 29):  # a sampled frame (0 s) and frames between samples (0.3, 1.4, 2.9 s)
        source = av.VideoFrame.from_ndarray(src_frames[k], format="bgr24").reformat(640, 360).to_ndarray(format="bgr24")
        assert _caption_share(out_frames[k], box, happy) > 0.3, f"no caption above the face on frame {k}"
        assert _caption_share(source, box, happy) < 0.05
    # away from the face the copy is the source, scaled (only compression differs)
    far = (slice(300, 360), slice(0, 100))
    assert np.abs(out_frames[14][far].astype(int) - source[far].astype(int)).mean() < 8


def test_faces_are_the_same_with_and_without_the_annotated_video(analyzer, annotated, hd_clip):
    plain = VideoEmotionAnalyzer(analyzer).analyze(hd_clip, sample_fps=2.0)
    assert plain.annotated_video is None
    assert [t for t, _ in plain.faces] == [t for t, _ in annotated.faces] == [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]
    assert [[f.box for f in fs] for _, fs in plain.faces] == [[f.box for f in fs] for _, fs in annotated.faces]


def test_annotated_video_keeps_the_soundtrack(analyzer, astronaut_bgr, kids_clip, tmp_path):
    from emotion.speech.audio import load_audio

    silence = np.zeros(16_000, np.float32)
    audio = np.concatenate([silence, kids_clip, silence])
    seconds = len(audio) / 16_000
    clip = write_video(tmp_path / "talk.mp4", face_scene(astronaut_bgr), seconds, audio=audio)
    result = VideoEmotionAnalyzer(analyzer).analyze(clip, annotate=True)
    assert result.notes == []
    with av.open(io.BytesIO(result.annotated_video)) as c:
        assert [s.type for s in c.streams] == ["video", "audio"]
        assert c.streams.audio[0].codec_context.name == "aac"
        assert sum(1 for _ in c.decode(video=0)) == int(seconds * FPS)
    source, sound = load_audio(clip), load_audio(result.annotated_video)  # re-encoded: compare with the source's
    assert len(sound) / 16_000 == pytest.approx(seconds, abs=0.1) and len(sound) == pytest.approx(len(source), abs=1024)

    def envelope(x):  # RMS per 50 ms
        n = len(x) // 800
        return np.sqrt((x[: n * 800].reshape(n, 800) ** 2).mean(axis=1))

    a, b = envelope(source), envelope(sound)
    n = min(len(a), len(b))
    assert np.corrcoef(a[:n], b[:n])[0, 1] > 0.95  # the same speech, in sync


def test_annotated_video_of_bad_input(analyzer, astronaut_bgr, tmp_path):
    faces = VideoEmotionAnalyzer(analyzer)
    with pytest.raises(InputError, match="not an audio or video file"):
        faces.analyze(b"\x00\x00\x00\x18ftypmp42" + b"\x13" * 500, annotate=True)
    from devkit.media import write_audio

    with pytest.raises(InputError, match="no video track"):
        faces.analyze(write_audio(tmp_path / "a.wav", np.zeros(16_000, np.float32)), annotate=True)
    with pytest.raises(ValueError, match="sample_fps"):
        faces.analyze(write_video(tmp_path / "v.mp4", face_scene(astronaut_bgr), 1.0), sample_fps=0, annotate=True)


def test_a_failing_annotated_copy_keeps_the_analysis(analyzer, annotated, hd_clip, monkeypatch):
    from emotion.video.writer import AnnotatedVideoWriter

    def broken(self, frame, t, faces):
        raise ValueError("encoder broke")

    monkeypatch.setattr(AnnotatedVideoWriter, "add_video", broken)
    result = VideoEmotionAnalyzer(analyzer).analyze(hd_clip, sample_fps=2.0, annotate=True)
    assert result.annotated_video is None
    assert result.notes == ["annotated video: it could not be made (encoder broke)"]
    assert [(t, [f.label for f in fs]) for t, fs in result.faces] == [(t, [f.label for f in fs]) for t, fs in annotated.faces]


def test_a_video_without_utterances_says_why(analyzer, astronaut_bgr, tmp_path):
    from devkit.media import face_scene, write_av_clip, write_video
    from emotion.speech.analyzer import SpeechEmotionAnalyzer

    speech = SpeechEmotionAnalyzer.from_settings()
    video = VideoEmotionAnalyzer(analyzer, speech)
    silent = video.analyze(write_video(tmp_path / "silent.mp4", face_scene(astronaut_bgr), 2.0))
    assert silent.utterances == [] and silent.speech_status == SpeechStatus.NO_AUDIO
    assert display.speech(silent.speech_status) == "no audio track"
    # a soundtrack of room noise: audio, but no speech in it
    noise = (np.random.default_rng(0).normal(0, 0.003, 3 * 16_000)).astype(np.float32)
    frames = [face_scene(astronaut_bgr)] * 30
    quiet = video.analyze(write_av_clip(tmp_path / "quiet.mp4", frames, [i / 10 for i in range(30)], noise))
    assert quiet.utterances == [] and quiet.speech_status == SpeechStatus.NO_SPEECH
    assert display.speech(quiet.speech_status, quiet.speech_heard_s) == "no speech found in 3 s of audio"


def test_tracks_that_do_not_look_like_faces_are_dropped(astronaut_bgr, tmp_path):
    """A detector let through patterns (its threshold lowered to 0.2, so the brick wall and the
    galaxies of scikit-image's face-free photos give boxes, as a title card's lettering did at the
    default): their tracks score below MIN_TRACK_SCORE and are dropped; the real face stays."""
    import skimage.data

    from devkit.media import write_av_clip
    from emotion.face.analyzer import FaceEmotionAnalyzer
    from emotion.video import MIN_TRACK_SCORE

    permissive = FaceEmotionAnalyzer()
    permissive.detector.score_threshold = 0.2
    pattern = cv2.resize(cv2.cvtColor(skimage.data.hubble_deep_field(), cv2.COLOR_RGB2BGR), (640, 480))
    face = face_scene(astronaut_bgr)
    times = [i / 10 for i in range(40)]
    frames = [pattern if t < 2.0 else face for t in times]
    clip = write_av_clip(tmp_path / "title_card.mp4", frames, times)
    result = VideoEmotionAnalyzer(permissive).analyze(clip, sample_fps=4, annotate=True)
    assert result.dropped_tracks >= 1, "the pattern gave no detection: the test shows nothing"
    kept = {f.face_id: f for _, faces in result.faces for f in faces}
    assert len(kept) == 1 and all(f.mean_score >= MIN_TRACK_SCORE and f.label == "happy" for f in kept.values())
    assert all(not faces for t, faces in result.faces if t < 2.0)  # nothing on the pattern
    assert any("not face-like" in n for n in result.notes)
    print(f"dropped tracks: {result.dropped_tracks}; kept: {[(i, f.hits, round(f.mean_score, 2)) for i, f in kept.items()]}")
