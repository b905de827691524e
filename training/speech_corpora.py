"""The speech-emotion corpora in ``../shared/data`` as one list of labelled, speaker-tagged clips.

Four corpora (see ``../shared/data/README.md``): RAVDESS (English, 24 actors), EMOVO (Italian,
6 actors), URDU (spontaneous Urdu talk-show speech, speaker = first name field) and TurEV-DB
(Turkish, 6 actors, single words). Labels are mapped to the app's 7 with the tables in
:mod:`emotion.labels`; each corpus keeps only the labels it has (URDU and TurEV: angry, happy,
sad, neutral).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from emotion.labels import EMOTIONS, EMOVO_TO_EMOTION, TUREV_TO_EMOTION, URDU_TO_EMOTION, from_ravdess

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"
CORPORA: tuple[str, ...] = ("ravdess", "emovo", "urdu", "turev")
"""Corpus names, in the order of the model card's tables."""

LICENCES: dict[str, str] = {
    "ravdess": "RAVDESS (Livingstone & Russo 2018, zenodo 1188976): CC BY-NC-SA 4.0",
    "emovo": "EMOVO (Costantini et al. 2014, LREC): research use (copy from fp1acm8/SER, repo Apache-2.0)",
    "urdu": "URDU (Latif et al. 2018, siddiquelatif/URDU-Dataset): only for research purposes",
    "turev": "TurEV-DB (Canpolat et al. 2020, Xeonen/TurEV-DB): CC BY-NC-ND 4.0",
}


@dataclass(frozen=True)
class Clip:
    """One utterance: 16 kHz mono FLAC ``path``, ``corpus``, ``speaker`` (``corpus:id``), ``label`` index in EMOTIONS."""

    path: Path
    corpus: str
    speaker: str
    label: int

    @property
    def key(self) -> str:
        """A stable name for caching: corpus/relative path."""
        return f"{self.corpus}/{self.path.parent.name}/{self.path.name}"


def _clip(path: Path, corpus: str, speaker: str, label: str) -> Clip:
    return Clip(path, corpus, f"{corpus}:{speaker}", EMOTIONS.index(label))


def list_corpus(corpus: str, data: Path = DEFAULT_DATA) -> list[Clip]:
    """Every clip of one corpus under ``data``, sorted by path.

    Raises:
        ValueError: unknown corpus.
        FileNotFoundError: no clips found (the data is not there).
    """
    base = data / corpus
    if corpus == "ravdess":  # 03-01-EE-II-SS-RR-AA.flac
        clips = [
            _clip(p, corpus, p.stem.split("-")[6], from_ravdess(int(p.stem.split("-")[2])))
            for p in sorted(base.glob("Actor_*/*.flac"))
        ]
    elif corpus == "emovo":  # EMO-SPK-SENT.flac under the speaker's folder
        clips = [_clip(p, corpus, p.parent.name, EMOVO_TO_EMOTION[p.stem.split("-")[0]]) for p in sorted(base.glob("*/*.flac"))]
    elif corpus == "urdu":  # Label/SGX_FYY_EZZ.flac, speaker = SGX
        clips = [_clip(p, corpus, p.stem.split("_")[0], URDU_TO_EMOTION[p.parent.name]) for p in sorted(base.glob("*/*.flac"))]
    elif corpus == "turev":  # Label/SPEAKER_word.flac
        clips = [_clip(p, corpus, p.stem.split("_")[0], TUREV_TO_EMOTION[p.parent.name]) for p in sorted(base.glob("*/*.flac"))]
    else:
        raise ValueError(f"unknown corpus {corpus!r}; expected one of {CORPORA}")
    if not clips:
        raise FileNotFoundError(f"no {corpus} clips under {base} (see ../shared/data/README.md)")
    return clips


def list_clips(corpora: tuple[str, ...] = CORPORA, data: Path = DEFAULT_DATA) -> list[Clip]:
    """The clips of several corpora, corpus by corpus."""
    return [c for name in corpora for c in list_corpus(name, data)]


def corpus_labels(clips: list[Clip], corpus: str) -> list[int]:
    """Sorted label indices that ``corpus`` has among ``clips``."""
    return sorted({c.label for c in clips if c.corpus == corpus})
