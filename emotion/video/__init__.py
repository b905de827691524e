"""Video files: faces on frames sampled at a chosen rate (tracked, with stable IDs), the
soundtrack's utterances (transcript, semantic and acoustic emotion), a fused estimate per
utterance, and optionally an annotated copy of the video (H.264 MP4, in memory).

Faces and utterances are on the file's own timeline (:mod:`emotion.media`): frame times come
from the frames' timestamps (variable frame rates included), audio that starts before or after
the video keeps its place, and videos with a rotation in their display matrix (phones) are
turned upright before analysis.

Decoded by PyAV as a stream, in one pass, so memory stays bounded for any length: no list of
frames is kept, and the annotated copy's size is bounded by its bitrate (see
:func:`annotated_bitrate`).

Modules: :mod:`~emotion.video.decoding` (frames, their times, the sampling),
:mod:`~emotion.video.writer` (the annotated copy), :mod:`~emotion.video.analysis` (the
orchestrator, :class:`VideoEmotionAnalyzer`).
"""

from ..config import MAX_SAMPLE_FPS
from ..formats import VIDEO_EXTENSIONS
from .analysis import MIN_TRACK_HITS, MIN_TRACK_SCORE, VideoAnalysis, VideoEmotionAnalyzer
from .decoding import video_duration
from .writer import (
    ANNOTATED_AUDIO_BITRATE,
    ANNOTATED_MAX_BITRATE,
    ANNOTATED_MAX_SIDE,
    ANNOTATED_MIN_BITRATE,
    annotated_bitrate,
    annotated_size,
)

__all__ = [
    "ANNOTATED_AUDIO_BITRATE",
    "ANNOTATED_MAX_BITRATE",
    "ANNOTATED_MAX_SIDE",
    "ANNOTATED_MIN_BITRATE",
    "MAX_SAMPLE_FPS",
    "MIN_TRACK_HITS",
    "MIN_TRACK_SCORE",
    "VIDEO_EXTENSIONS",
    "VideoAnalysis",
    "VideoEmotionAnalyzer",
    "annotated_bitrate",
    "annotated_size",
    "video_duration",
]
