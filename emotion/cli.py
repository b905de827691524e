"""Command line: ``python -m emotion image|video|audio|text PATH... [--json|--csv] [--out FILE]``,
and ``python -m emotion batch INPUT... --out DIR [--engine local|ray]`` (:mod:`emotion.batch`).

Batch analysis of files and folders with the same library calls the pages use. A folder is
searched recursively for files of the command's kind. Output is a readable table, or the
timeline as JSON or CSV (columns: :data:`emotion.timeline.TIMELINE_COLUMNS`). A file that
cannot be analysed gets a clear message on stderr and the exit code is 1; the other files
are still analysed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

from .errors import EmotionError
from .images import IMAGE_EXTENSIONS
from .speech.audio import AUDIO_EXTENSIONS
from .timeline import Timeline, face_row, utterance_row
from .video import VIDEO_EXTENSIONS

TEXT_EXTENSIONS = ("txt",)
KINDS = {"image": IMAGE_EXTENSIONS, "video": VIDEO_EXTENSIONS, "audio": AUDIO_EXTENSIONS, "text": TEXT_EXTENSIONS}


def expand(paths: list[str], extensions: tuple[str, ...]) -> Iterator[Path]:
    """Files named, and files with one of ``extensions`` inside folders named (sorted)."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower().lstrip(".") in extensions)
        else:
            yield path


def _note(ctx: dict, path: Path, message: str) -> None:
    """Tell the user about ``path`` (something that did not stop its analysis): ``ctx["on_note"](path,
    message)`` when given (batch analysis keeps notes with the results), else a line on stderr."""
    on_note = ctx.get("on_note")
    if on_note is not None:
        on_note(path, message)
    else:
        print(f"{path}: {message}", file=sys.stderr)


def _cached(ctx: dict, key: str, factory):
    """The model ``ctx[key]``, made by ``factory()`` on first use (models load once per run)."""
    if key not in ctx:
        ctx[key] = factory()
    return ctx[key]


def _image(path: Path, timeline: Timeline, ctx: dict) -> None:
    from .face import FaceEmotionAnalyzer
    from .images import decode_image

    if not path.is_file():
        raise EmotionError(f"no such file: {path}")
    analyzer = _cached(ctx, "faces", FaceEmotionAnalyzer)
    faces = analyzer.analyze_photo(decode_image(path.read_bytes(), analyzer.settings.max_image_pixels))
    for i, face in enumerate(faces, start=1):
        row = face_row(face, 0.0, path.name)
        row["face_id"] = i
        timeline.add(row)
    if not faces:
        _note(ctx, path, "no face found")


def _audio(path: Path, timeline: Timeline, ctx: dict) -> None:
    from .speech.analyzer import SpeechEmotionAnalyzer

    analyzer = _cached(ctx, "speech", SpeechEmotionAnalyzer.from_settings)
    n = 0
    for u in analyzer.analyze_file(path, on_note=lambda note: _note(ctx, path, note)):
        timeline.add(utterance_row(u, path.name))
        n += 1
    if not n:
        _note(ctx, path, "no speech found")


def _video(path: Path, timeline: Timeline, ctx: dict) -> None:
    from .face import FaceEmotionAnalyzer
    from .speech.analyzer import SpeechEmotionAnalyzer
    from .video import VideoEmotionAnalyzer

    analyzer = _cached(
        ctx,
        "video",
        lambda: VideoEmotionAnalyzer(
            _cached(ctx, "faces", FaceEmotionAnalyzer), _cached(ctx, "speech", SpeechEmotionAnalyzer.from_settings)
        ),
    )
    result = analyzer.analyze(path, sample_fps=ctx.get("sample_fps", 2.0))
    for row in result.timeline(path.name).rows():
        timeline.add(row)
    for note in result.notes:
        _note(ctx, path, note)


def _text(path: Path, timeline: Timeline, ctx: dict) -> None:
    from .speech.analyzer import Utterance
    from .text.semantic import TextEmotionClassifier

    if not path.is_file():
        raise EmotionError(f"no such file: {path}")
    try:
        lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    except UnicodeDecodeError:
        raise EmotionError(f"{path.name} is not UTF-8 text") from None
    classifier = _cached(ctx, "text", TextEmotionClassifier)
    for line_no, line in enumerate(lines, start=1):
        if line:  # one row per line; the line number stands for the time, no audio so no acoustic emotion
            timeline.add(utterance_row(Utterance(line_no, line_no, line, classifier.predict(line), None), path.name))


HANDLERS = {"image": _image, "video": _video, "audio": _audio, "text": _text}


def _table(timeline: Timeline) -> str:
    out = []
    for r in timeline.rows():
        if r["kind"] == "face":
            out.append(
                f"{r['source']}\t{r['start_s']:.2f} s\tface #{r['face_id']}\t({r['x']}, {r['y']}, {r['w']}, {r['h']})\t{r['label']}"
            )
        elif r["kind"] == "fused":
            out.append(f"{r['source']}\t{r['start_s']:.2f}-{r['end_s']:.2f} s\tfused\t{r['label']}")
        else:
            time = f"{r['start_s']:.2f}-{r['end_s']:.2f} s" if r["source"].lower().split(".")[-1] not in TEXT_EXTENSIONS else ""
            text = repr(r["text"])
            if r.get("transcript_unreliable"):
                text += " (not English?)"
            elif r.get("translation"):
                text += f" [{r['language']}] -> {r['translation']!r}"
            out.append(
                f"{r['source']}\t{time}\t{text}\twords: {r['semantic_label'] or '-'}\tvoice: {'uncertain' if r.get('acoustic_uncertain') else (r['acoustic_label'] or '-')}"
            )
    return "\n".join(out) + ("\n" if out else "")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["batch"]:  # archives into Parquet, in one process or on Ray Data
        from .batch import main as batch_main

        return batch_main(argv[1:])
    ap = argparse.ArgumentParser(
        prog="python -m emotion",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Archives into Parquet, in one process or on Ray: python -m emotion batch --help",
    )
    ap.add_argument("kind", choices=list(KINDS), help="what the files hold")
    ap.add_argument("paths", nargs="+", metavar="PATH", help="files or folders")
    fmt = ap.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print the timeline as JSON")
    fmt.add_argument("--csv", action="store_true", help="print the timeline as CSV")
    ap.add_argument("--out", type=Path, help="write the output to this file instead of stdout")
    ap.add_argument("--fps", type=float, default=2.0, help="video: frames analysed per second (default 2)")
    args = ap.parse_args(argv)

    files = list(expand(args.paths, KINDS[args.kind]))
    if not files:
        print(f"error: no {args.kind} files found in {', '.join(args.paths)}", file=sys.stderr)
        return 1
    if args.fps <= 0:
        ap.error("--fps must be positive")
    timeline, ctx, failed = Timeline(), {"sample_fps": args.fps}, 0
    for path in files:
        try:
            HANDLERS[args.kind](path, timeline, ctx)
        except EmotionError as exc:  # InputError, ModelError: a message, not a traceback
            print(f"error: {path}: {exc}", file=sys.stderr)
            failed += 1
    text = timeline.to_json() + "\n" if args.json else timeline.to_csv() if args.csv else _table(timeline)
    if args.out:
        args.out.write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 1 if failed else 0
