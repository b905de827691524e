"""Command line: ``python -m emotion image|video|audio|text PATH... [--json|--csv] [--out FILE]``,
``python -m emotion batch INPUT... --out DIR [--engine local|ray]`` (:mod:`emotion.batch`),
and ``python -m emotion serve [--host H] [--port P]`` (the HTTP/WebSocket service, :mod:`emotion.serve`).

Every file goes through the one analysis core the pages use (:func:`emotion.analysis.analyze`). A folder is
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

from . import display
from .config import MAX_SAMPLE_FPS as MAX_FPS
from .errors import EmotionError
from .formats import EXTENSIONS as KINDS
from .formats import IMAGE_EXTENSIONS, TEXT_EXTENSIONS, extension
from .sanitize import terminal
from .schema import TranscriptStatus
from .timeline import Timeline

log = logging.getLogger(__name__)


def expand(paths: list[str], extensions: tuple[str, ...]) -> Iterator[Path]:
    """Files named, and files with one of ``extensions`` inside folders named (sorted)."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            yield from sorted(p for p in path.rglob("*") if p.is_file() and p.suffix.lower().lstrip(".") in extensions)
        else:
            yield path


def _table(timeline: Timeline) -> str:
    """The timeline as readable lines for a terminal (control characters escaped)."""
    out = []
    for r in timeline.rows():
        r = {k: terminal(v) if isinstance(v, str) and k not in ("text", "translation") else v for k, v in r.items()}
        if r["kind"] == "face":
            label = display.face_label(r.get("label"), r.get("face_status"))
            if r.get("label"):
                label += f" {r['face_' + r['label']]:.0%}"
            # a photo has no time; a video's face carries its frame's
            when = "" if extension(r["source"]) in IMAGE_EXTENSIONS else f"{r['start_s']:.2f} s\t"
            face = "face" if r.get("face_id") is None else f"face #{r['face_id']}"
            out.append(f"{r['source']}\t{when}{face}\tbox x={r['x']} y={r['y']} w={r['w']} h={r['h']} px\t{label}")
        elif r["kind"] == "fused":
            out.append(f"{r['source']}\t{r['start_s']:.2f}-{r['end_s']:.2f} s\tfused\t{r['label']}")
        else:
            time = f"{r['start_s']:.2f}-{r['end_s']:.2f} s" if extension(r["source"]) not in TEXT_EXTENSIONS else ""
            text = terminal(repr(r["text"]))
            if r.get("transcript_status") == TranscriptStatus.UNRELIABLE:
                text += f" ({display.NOT_ENGLISH})"
            elif r.get("translation"):
                text += f" [{r['language']}] -> {terminal(repr(r['translation']))}"
            words = display.semantic_label(r.get("semantic_label"))
            voice = display.acoustic_label(r.get("acoustic_label"), r.get("acoustic_status"))
            out.append(f"{r['source']}\t{time}\t{text}\twords: {words}\tvoice: {voice}")
    return "\n".join(out) + ("\n" if out else "")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["batch"]:  # archives into Parquet, in one process or on Ray Data
        from .batch import main as batch_main

        return batch_main(argv[1:])
    if argv[:1] == ["serve"]:  # the HTTP/WebSocket service (the serve extra)
        from .serve import main as serve_main

        return serve_main(argv[1:])
    ap = argparse.ArgumentParser(
        prog="python -m emotion",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="Archives into Parquet, in one process or on Ray: emotion batch --help. "
        "The HTTP/WebSocket service: emotion serve --help.",
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
    from .analysis import Analyzers, analyze

    timeline, analyzers, failed = Timeline(), Analyzers(), 0
    for path in files:
        try:
            result = analyze(path, kind=args.kind, analyzers=analyzers, sample_fps=args.fps)
            for row in result.rows():
                timeline.add(row)
            for note in result.all_notes():
                print(terminal(f"{path}: {note}"), file=sys.stderr)
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
