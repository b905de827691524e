"""Measure and choose the "not English?" rule of the bundled English-only Whisper (tiny.en).

tiny.en writes English-sounding words for any speech; the app marks such transcripts
unreliable (:attr:`emotion.speech.transcribe.Transcript.unreliable`) from Whisper's own signals.
This script measures the rule by utterance length and channel, on English against three other
languages, with speakers split in two: the rule's thresholds are chosen on the *selection*
speakers (even speaker numbers of each corpus) and reported on the others.

Utterances (``../shared/data``):

- Every clip is cut into utterances by the app's own voice-activity detector
  (:class:`~emotion.speech.vad.UtteranceSegmenter`, its defaults), as the pages would, and each
  utterance is measured.
- English, RAVDESS (24 actors, two sentences of about 1.5-2.5 s): each utterance, and a **short
  cut** made here: the utterance cut 0.15 s after the end of its third word (Whisper's word
  timestamps), about 0.8-1.3 s. The cuts are synthetic (an unfinished phrase), so they are harder
  than a short sentence said on its own.
- Not English: EMOVO (Italian), URDU (Urdu talk shows), TurEV-DB (Turkish single words, mostly
  under 1.5 s).

Channels: ``file`` (the clip as it is) and ``live`` (:func:`training.acoustic_data.live_channel`:
AGC, then Opus at 24 kbit/s, as a browser microphone sends it through WebRTC).

The rule (:func:`emotion.speech.transcribe.english_only_unreliable`): a logistic regression of
"not English" on three of Whisper's signals, the mean token log-probability, the log of the
no-speech probability (tiny.en gives other languages a high one: median 0.30 against 0.03 for
English here) and the log of the duration, fitted (class-balanced) on the selection speakers,
with its threshold where 1% of their English utterances are flagged. Thresholds on the
log-probability alone (per length class) are reported beside it.

Decodings: ``before`` is the app's decoding until this rule (greedy with Whisper's temperature
fallback when the mean log-probability is below -1: a retry samples at a higher temperature,
so the text and its log-probability vary from run to run); ``now`` is the app's decoding now
(:data:`emotion.speech.transcribe.GUARDS`: the fallback only for loops, so decoding is greedy and
deterministic). The rule's inputs are the decoding's mean token log-probability and the
utterance's duration.

    python training/language_rule.py --per-speaker 6 --out runs/language_rule.json

Prints the tables (share flagged, by language, length and channel) for both decodings, the
chosen thresholds, and the figures on the report speakers. Deterministic (``--seed``).
"""

from __future__ import annotations

import argparse
import json
import random
from collections import defaultdict
from pathlib import Path

import numpy as np

from emotion.speech.audio import SAMPLE_RATE, load_audio
from emotion.speech.transcribe import GUARDS, Transcriber, _no_speech
from emotion.speech.vad import UtteranceSegmenter
from training.acoustic_data import live_channel
from training.speech_corpora import DEFAULT_DATA, list_corpus

SHORT_S = 1.5
NO_SPEECH_FLOOR = 1e-4
MAX_ENGLISH_SELECTION = 0.01
"""Share of the selection speakers' English transcripts the fitted rule may flag (half the 2%
target, a margin for speakers it has not seen)."""
BEFORE = {"compression_ratio_threshold": 2.4, "log_prob_threshold": -1.0, "no_speech_threshold": 0.6}
"""The decoding options before this rule (Whisper's defaults, temperature fallback on low log-probability)."""
OLD_MIN_LOGPROB = -0.6
"""The rule before this script: one threshold on the mean log-probability, for every length."""
LANGUAGE = {"ravdess": "English", "emovo": "Italian", "urdu": "Urdu", "turev": "Turkish"}


def speaker_number(speaker: str) -> int:
    """A speaker's number for the selection/report split (digits of its id, else a stable hash)."""
    digits = "".join(ch for ch in speaker.split(":")[-1] if ch.isdigit())
    return int(digits) if digits else sum(map(ord, speaker))


def decode(model, audio: np.ndarray, options: dict) -> dict:
    """One decoding as the app runs it, with Whisper's signals: text, mean token
    log-probability (None without segments), no-speech probability, compression ratio."""
    segments, _ = model.transcribe(
        audio, language="en", task="transcribe", beam_size=1, condition_on_previous_text=False,
        without_timestamps=True, vad_filter=False, **options,
    )  # fmt: skip
    if options is BEFORE:  # the app's filter before: no-speech probability under 0.8
        segs = [s for s in segments if s.no_speech_prob < 0.8]
    else:
        segs = [s for s in segments if not _no_speech(s.no_speech_prob, s.avg_logprob)]
    text = " ".join(s.text.strip() for s in segs).strip()
    return {
        "text": text,
        "logprob": float(np.mean([s.avg_logprob for s in segs])) if segs else None,
        "no_speech": float(max(s.no_speech_prob for s in segs)) if segs else None,
        "compression": float(max(s.compression_ratio for s in segs)) if segs else None,
    }


def utterances(audio: np.ndarray) -> list[np.ndarray]:
    """The utterances the app's voice-activity detector cuts from one clip."""
    seg = UtteranceSegmenter()
    return [s.samples for s in [*seg.push(audio, 0.0), *seg.flush()]]


def short_cut(model, audio: np.ndarray, words: int = 3) -> np.ndarray | None:
    """``audio`` cut 0.15 s after the end of its ``words``-th word (Whisper word timestamps),
    or None when it has fewer words."""
    segments, _ = model.transcribe(audio, language="en", beam_size=1, word_timestamps=True, vad_filter=False)
    ws = [w for s in segments for w in (s.words or [])]
    if len(ws) <= words:
        return None
    end = int((ws[words - 1].end + 0.15) * SAMPLE_RATE)
    return audio[: min(end, len(audio))]


def collect(per_speaker: int, seed: int, data: Path) -> list[dict]:
    tr = Transcriber()  # the bundled tiny.en
    model = tr._model
    rng = random.Random(seed)
    rows = []
    for corpus in LANGUAGE:
        by_speaker = defaultdict(list)
        for c in list_corpus(corpus, data):
            by_speaker[c.speaker].append(c)
        for speaker, clips in sorted(by_speaker.items()):
            for clip in rng.sample(clips, min(per_speaker, len(clips))):
                versions = []
                for k, audio in enumerate(utterances(load_audio(clip.path))):
                    versions.append((f"utterance {k}", audio))
                    if corpus == "ravdess":
                        cut = short_cut(model, audio)
                        if cut is not None:
                            versions.append((f"utterance {k} cut", cut))
                for version, x in versions:
                    for channel, y in (("file", x), ("live", live_channel(x))):
                        row = {
                            "corpus": corpus,
                            "speaker": speaker,
                            "selection": speaker_number(speaker) % 2 == 0,
                            "clip": clip.key,
                            "version": version,
                            "channel": channel,
                            "duration_s": round(len(y) / SAMPLE_RATE, 3),
                        }
                        for name, options in (("before", BEFORE), ("now", GUARDS)):
                            row[name] = decode(model, np.ascontiguousarray(y, np.float32), options)
                        rows.append(row)
        print(f"{corpus}: {sum(r['corpus'] == corpus for r in rows)} decodings", flush=True)
    return rows


def signals(d: dict, duration_s: float) -> list[float]:
    """The rule's inputs (:func:`emotion.speech.transcribe.english_only_unreliable`): mean token
    log-probability, log of the no-speech probability, log of the duration in seconds."""
    return [d["logprob"], float(np.log(d["no_speech"] + NO_SPEECH_FLOOR)), float(np.log(duration_s))]


def fit_rule(rows: list[dict], decoding: str, max_english: float) -> tuple[list[float], float, float]:
    """Logistic regression (class-balanced) of "not English" on :func:`signals`, fitted on the
    selection speakers; the threshold on its score is set so that ``max_english`` of the
    selection speakers' English transcripts are flagged. Returns (weights, intercept, threshold)."""
    from sklearn.linear_model import LogisticRegression

    sel = [r for r in rows if r["selection"] and r[decoding]["text"] and r[decoding]["logprob"] is not None]
    x = np.array([signals(r[decoding], r["duration_s"]) for r in sel])
    y = np.array([r["corpus"] != "ravdess" for r in sel])
    clf = LogisticRegression(C=1.0, class_weight="balanced").fit(x, y)
    score = clf.decision_function(x)
    threshold = float(np.quantile(score[~y], 1.0 - max_english))
    return [round(float(w), 4) for w in clf.coef_[0]], round(float(clf.intercept_[0]), 4), round(threshold, 4)


def flagged_by(rule: tuple[list[float], float, float], d: dict, duration_s: float) -> bool:
    """The fitted rule: a transcript with text whose score is above the threshold."""
    if not d["text"] or d["logprob"] is None:
        return False
    w, b, t = rule
    return float(np.dot(w, signals(d, duration_s)) + b) > t


def table_by(rows: list[dict], decoding: str, rule) -> dict:
    """:func:`table` for the fitted rule."""
    groups = defaultdict(list)
    for r in rows:
        if not r[decoding]["text"]:
            continue
        length = "short" if r["duration_s"] < SHORT_S else "long"
        f = flagged_by(rule, r[decoding], r["duration_s"])
        groups[(LANGUAGE[r["corpus"]], length, r["channel"])].append(f)
        groups[(LANGUAGE[r["corpus"]], "all", "all")].append(f)
        if r["corpus"] != "ravdess":
            groups[("not English", "all", "all")].append(f)
    return {f"{a} {b} {c}": {"n": len(f), "flagged": round(float(np.mean(f)), 4)} for (a, b, c), f in sorted(groups.items())}


def flagged(d: dict, long_below: float, short_below: float, duration_s: float) -> bool:
    """The rule: a transcript with text whose mean log-probability is below the threshold of its
    length (``short_below`` under :data:`SHORT_S` seconds, else ``long_below``)."""
    if not d["text"] or d["logprob"] is None:
        return False
    return d["logprob"] < (short_below if duration_s < SHORT_S else long_below)


def table(rows: list[dict], decoding: str, long_below: float, short_below: float) -> dict:
    """Share flagged per language x length (short < 1.5 s / long) x channel."""
    out = {}
    groups = defaultdict(list)
    for r in rows:
        if not r[decoding]["text"]:
            continue  # nothing transcribed: nothing to flag (the app shows "no words recognised")
        length = "short" if r["duration_s"] < SHORT_S else "long"
        groups[(LANGUAGE[r["corpus"]], length, r["channel"])].append(
            flagged(r[decoding], long_below, short_below, r["duration_s"])
        )
        groups[(LANGUAGE[r["corpus"]], "all", "all")].append(flagged(r[decoding], long_below, short_below, r["duration_s"]))
    for (lang, length, channel), f in sorted(groups.items()):
        out[f"{lang} {length} {channel}"] = {"n": len(f), "flagged": round(float(np.mean(f)), 4)}
    return out


def choose(rows: list[dict], decoding: str, max_english: float = 0.02) -> tuple[float, float]:
    """Per length class, the highest threshold (flags the most) at which at most ``max_english``
    of the selection speakers' English transcripts of that length are flagged, in every channel."""
    chosen = []
    for short in (False, True):
        sel = [r for r in rows if r["selection"] and r[decoding]["text"] and (r["duration_s"] < SHORT_S) == short]
        english = [r for r in sel if r["corpus"] == "ravdess"]
        if not english:  # no English utterance of this length: the other length's threshold
            chosen.append(chosen[0])
            continue
        best = -3.0
        for t in np.arange(-3.0, 0.0, 0.01):
            ok = True
            for channel in ("file", "live"):
                e = [
                    r[decoding]["logprob"] < t for r in english if r["channel"] == channel and r[decoding]["logprob"] is not None
                ]
                if e and np.mean(e) > max_english:
                    ok = False
            if ok:
                best = float(t)
        chosen.append(round(best, 2))
    return chosen[0], chosen[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=DEFAULT_DATA)
    ap.add_argument("--per-speaker", type=int, default=6, help="clips per speaker and corpus")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--rows", type=Path, default=None, help="reuse decodings saved by an earlier run (JSON)")
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args(argv)
    if args.rows and args.rows.exists():
        rows = json.loads(args.rows.read_text())
    else:
        rows = collect(args.per_speaker, args.seed, args.data)
        if args.rows:
            args.rows.parent.mkdir(parents=True, exist_ok=True)
            args.rows.write_text(json.dumps(rows))
    old = OLD_MIN_LOGPROB
    report = [r for r in rows if not r["selection"]]
    result = {
        "command": "python training/language_rule.py" + f" --per-speaker {args.per_speaker} --seed {args.seed}",
        "decodings": len(rows),
        "before: old decoding, old rule (all speakers)": table(rows, "before", old, old),
        "old rule on the new decoding (all speakers)": table(rows, "now", old, old),
    }
    long_below, short_below = choose(rows, "now")
    result["thresholds only, chosen on the selection speakers"] = {
        "long_below": long_below,
        "short_below": short_below,
        "short_s": SHORT_S,
    }
    result["thresholds only, report speakers"] = table(report, "now", long_below, short_below)
    rule = fit_rule(rows, "now", MAX_ENGLISH_SELECTION)
    result["rule (fitted on the selection speakers)"] = {
        "inputs": ["mean token log-probability", f"log(no-speech probability + {NO_SPEECH_FLOOR:g})", "log(duration s)"],
        "weights": rule[0],
        "intercept": rule[1],
        "threshold": rule[2],
        "english_flagged_on_selection": MAX_ENGLISH_SELECTION,
    }
    result["rule, report speakers"] = table_by(report, "now", rule)
    result["rule, selection speakers"] = table_by([r for r in rows if r["selection"]], "now", rule)
    same = [(r["before"]["text"], r["now"]["text"]) for r in rows]
    result["transcripts the two decodings write differently"] = round(float(np.mean([a != b for a, b in same])), 4)
    print(json.dumps(result, indent=2))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
