"""Command line: ``python -m emotion image|video|audio|text PATH... [--json|--csv] [--out FILE]``,
and ``python -m emotion batch INPUT... --out DIR [--engine local|ray]`` (:mod:`emotion.batch`).

Batch analysis of files and folders with the same library calls the pages use. A folder is
searched recursively for files of the command's kind. Output is a readable table, or the
timeline as JSON or CSV (columns: :data:`emotion.timeline.TIMELINE_COLUMNS`). A file that
cannot be analysed gets a clear message on stderr and the exit code is 1; the other files
are still analysed, whatever went wrong with it. Every line written to the terminal has its
control and bidirectional-control characters escaped (:func:`emotion.sanitize.terminal`); CSV
cells are made safe for spreadsheets; JSON keeps the exact text.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import sys
from collections.abc import Iterator
from pathlib import Path

from .config import Settings
from .errors import EmotionError, InputError
from .images import IMAGE_EXTENSIONS
from .sanitize import terminal
from .speech.audio import AUDIO_EXTENSIONS
from .timeline import Timeline, face_row, utterance_row
from .video import MAX_SAMPLE_FPS as MAX_FPS
from .video import VIDEO_EXTENSIONS

log = logging.getLogger(__name__)

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
        print(terminal(f"{path}: {message}"), file=sys.stderr)


def _cached(ctx: dict, key: str, factory):
    """The model ``ctx[key]``, made by ``factory()`` on first use (models load once per run)."""
    if key not in ctx:
        ctx[key] = factory()
    return ctx[key]


def _image(path: Path, timeline: Timeline, ctx: dict) -> None:
    from .face import FaceEmotionAnalyzer
    from .images import MAX_IMAGE_BYTES, decode_image

    if not path.is_file():
        raise EmotionError(f"no such file: {path}")
    size = path.stat().st_size
    if size > MAX_IMAGE_BYTES:
        raise InputError(f"{path.name} is {size / 2**20:.0f} MB, more than {MAX_IMAGE_BYTES // 2**20} MB for a photo")
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


def _text_lines(path: Path, max_chars: int) -> Iterator[tuple[int, str, bool]]:
    """(line number, its text cut to ``max_chars`` characters, whether it was cut) of each line
    of a UTF-8 text file, read a bounded piece at a time (a 1 GB line is never held whole)."""
    with open(path, encoding="utf-8", errors="strict", newline=None) as f:
        line_no = 0
        while True:
            piece = f.readline(max_chars + 1)
            if not piece:
                return
            line_no += 1
            cut = False
            if not piece.endswith("\n") and len(piece) > max_chars:  # the rest of an overlong line: skip it
                cut = True
                while True:
                    rest = f.readline(1 << 20)
                    if not rest or rest.endswith("\n"):
                        break
            yield line_no, piece[:max_chars].strip(), cut


def _text(path: Path, timeline: Timeline, ctx: dict) -> None:
    from .speech.analyzer import Utterance
    from .text.semantic import TextEmotionClassifier

    if not path.is_file():
        raise EmotionError(f"no such file: {path}")
    classifier = _cached(ctx, "text", TextEmotionClassifier)
    max_bytes = Settings.from_env().max_text_file_bytes
    size = path.stat().st_size
    if size > max_bytes:
        raise InputError(
            f"{path.name} is {size:,} bytes, more than the limit of {max_bytes:,} bytes for a text file "
            "(EMOTION_MAX_TEXT_FILE_BYTES)"
        )
    cut_lines: list[int] = []
    try:
        for line_no, line, cut in _text_lines(path, classifier.max_chars):
            if cut:
                cut_lines.append(line_no)
            if line:  # one row per line; the line number stands for the time, no audio so no acoustic emotion
                timeline.add(utterance_row(Utterance(line_no, line_no, line, classifier.predict(line), None), path.name))
    except UnicodeDecodeError:
        raise EmotionError(f"{path.name} is not UTF-8 text") from None
    if cut_lines:
        shown = ", ".join(map(str, cut_lines[:5])) + (" ..." if len(cut_lines) > 5 else "")
        _note(
            ctx,
            path,
            f"{len(cut_lines)} line(s) longer than {classifier.max_chars} characters (line {shown}): the words model read "
            "the first part only (EMOTION_MAX_TEXT_CHARS)",
        )


HANDLERS = {"image": _image, "video": _video, "audio": _audio, "text": _text}


def _table(timeline: Timeline) -> str:
    """The timeline as readable lines for a terminal (control characters escaped)."""
    out = []
    for r in timeline.rows():
        r = {k: terminal(v) if isinstance(v, str) and k not in ("text", "translation") else v for k, v in r.items()}
        if r["kind"] == "face":
            out.append(
                f"{r['source']}\t{r['start_s']:.2f} s\tface #{r['face_id']}\t({r['x']}, {r['y']}, {r['w']}, {r['h']})\t{r['label']}"
            )
        elif r["kind"] == "fused":
            out.append(f"{r['source']}\t{r['start_s']:.2f}-{r['end_s']:.2f} s\tfused\t{r['label']}")
        else:
            time = f"{r['start_s']:.2f}-{r['end_s']:.2f} s" if r["source"].lower().split(".")[-1] not in TEXT_EXTENSIONS else ""
            text = terminal(repr(r["text"]))
            if r.get("transcript_unreliable"):
                text += " (not English?)"
            elif r.get("translation"):
                text += f" [{r['language']}] -> {terminal(repr(r['translation']))}"
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
    ap.add_argument("--fps", type=float, default=2.0, help=f"video: frames analysed per second (default 2, at most {MAX_FPS:g})")
    args = ap.parse_args(argv)

    if not (math.isfinite(args.fps) and 0 < args.fps <= MAX_FPS):
        ap.error(f"--fps must be a number above 0 and at most {MAX_FPS:g}, got {args.fps}")
    if args.out is not None:
        problem = out_problem(args.out)
        if problem:  # before the analysis, not after it
            ap.error(terminal(problem))
    files = list(expand(args.paths, KINDS[args.kind]))
    if not files:
        print(terminal(f"error: no {args.kind} files found in {', '.join(args.paths)}"), file=sys.stderr)
        return 1
    timeline, ctx, failed = Timeline(), {"sample_fps": args.fps}, 0
    for path in files:
        try:
            HANDLERS[args.kind](path, timeline, ctx)
        except EmotionError as exc:  # InputError, ModelError: a message, not a traceback
            print(terminal(f"error: {path}: {exc}"), file=sys.stderr)
            failed += 1
        except Exception as exc:  # noqa: BLE001 - a bug or an exotic failure: this file fails, the next is analysed
            log.debug("unexpected error on %s", path, exc_info=True)
            print(terminal(f"error: {path}: unexpected {type(exc).__name__}: {exc}"), file=sys.stderr)
            failed += 1
    text = timeline.to_json() + "\n" if args.json else timeline.to_csv() if args.csv else _table(timeline)
    if args.out:
        try:
            args.out.write_text(text, encoding="utf-8")
        except OSError as exc:  # the analysis is not lost: it goes to stdout
            print(terminal(f"error: could not write {args.out} ({exc}); the output follows on stdout"), file=sys.stderr)
            sys.stdout.write(text)
            return 1
    else:
        sys.stdout.write(text)
    return 1 if failed else 0


def out_problem(out: Path) -> str | None:
    """Why the output file ``out`` cannot be written (a folder, a missing or read-only folder
    around it), or None."""
    if out.is_dir():
        return f"--out {out} is a folder; give a file name, e.g. {out / 'timeline.json'}"
    parent = out.parent if str(out.parent) else Path(".")
    if not parent.is_dir():
        return f"--out {out}: the folder {parent} does not exist"
    if not os.access(parent, os.W_OK) or (out.exists() and not os.access(out, os.W_OK)):
        return f"--out {out} cannot be written (no permission)"
    return None
