"""The text emotion data sets in ``../shared/data/text`` as rows on the app's 7 labels, each
with the utterance before it in its conversation (see that folder's README).

- MELD (Friends dialogue; Poria et al. 2019, GPL-3.0): train/dev/test, 7 labels, context = the
  previous utterance of the same ``Dialogue_ID`` (by ``Utterance_ID``).
- DailyDialog (everyday conversations; Li et al. 2017, CC BY-NC-SA 4.0): train/validation/test,
  our 7 labels (0 no emotion -> neutral), context = the previous turn. Its text is tokenised with
  spaces around punctuation ("I ’ ll go ."); :func:`detokenize` puts it back ("I'll go.").
  The train dialogue whose label count differs from its utterance count is skipped.
- GoEmotions-Ekman (Reddit; Demszky et al. 2020, Apache-2.0): train/dev/test, multi-label gold
  (``golds``), no context.
- CARER (tweets; Saravia et al. 2018): train/val/test, 6 labels; love -> happy (it is a
  positive, happy-family state in Ekman's scheme), no neutral and no disgust; no context.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from pathlib import Path

from emotion.labels import EMOTIONS, from_ekman
from emotion.text.semantic import normalize_text

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "text"

DATASETS = ("meld", "dailydialog", "goemotions_ekman", "carer")
SPLITS = {
    "meld": {"train": "train", "dev": "dev", "test": "test"},
    "dailydialog": {"train": "train", "dev": "validation", "test": "test"},
    "goemotions_ekman": {"train": "train", "dev": "dev", "test": "test"},
    "carer": {"train": "train", "dev": "val", "test": "test"},
}
LABELS = {
    "meld": list(EMOTIONS),
    "dailydialog": list(EMOTIONS),
    "goemotions_ekman": list(EMOTIONS),
    "carer": ["angry", "fear", "happy", "sad", "surprise"],
}
"""The labels each data set has (CARER: love is mapped to happy, and it has no neutral/disgust)."""
CARER_TO_EMOTION = {"anger": "angry", "fear": "fear", "joy": "happy", "love": "happy", "sadness": "sad", "surprise": "surprise"}
DAILYDIALOG_CODES = ("neutral", "angry", "disgust", "fear", "happy", "sad", "surprise")
"""DailyDialog's codes 0..6: 0 no emotion, 1 anger, 2 disgust, 3 fear, 4 happiness, 5 sadness, 6 surprise."""
LICENCES = {
    "meld": "MELD, Poria et al. 2019 (declare-lab/MELD, GPL-3.0)",
    "dailydialog": "DailyDialog, Li et al. 2017 (CC BY-NC-SA 4.0 per the authors)",
    "goemotions_ekman": "GoEmotions, Demszky et al. 2020 (google-research, Apache-2.0), Ekman mapping",
    "carer": "CARER, Saravia et al. 2018 (MIT repo copy; research use)",
}


@dataclass(frozen=True)
class TextRow:
    """One labelled text.

    Attributes:
        text: the utterance, normalised (:func:`emotion.text.semantic.normalize_text`).
        context: the utterance before it in its conversation, normalised ("" for the first one,
            and for data sets without conversations).
        label: gold label index (EMOTIONS order); for multi-label rows the first gold label.
        golds: every gold label index (one for single-label data sets).
        dataset: one of :data:`DATASETS`.
    """

    text: str
    context: str
    label: int
    golds: tuple[int, ...]
    dataset: str


_DETOK = [
    (re.compile(r"\s*[’']\s*"), "'"),  # "I ’ ll" -> "I'll"
    (re.compile(r"\s+([,.!?;:%)])"), r"\1"),  # "go ." -> "go."
    (re.compile(r"([($])\s+"), r"\1"),
]


def detokenize(text: str) -> str:
    """DailyDialog's space-tokenised text back to written form (apostrophes and punctuation joined)."""
    for pattern, repl in _DETOK:
        text = pattern.sub(repl, text)
    return text


def load_meld(data: Path, split: str) -> list[TextRow]:
    rows, by_dialogue = [], {}
    with open(data / "meld" / f"{SPLITS['meld'][split]}.csv", newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            by_dialogue.setdefault(row["Dialogue_ID"], []).append(row)
    for dialogue in by_dialogue.values():
        dialogue.sort(key=lambda r: int(r["Utterance_ID"]))
        previous = ""
        for row in dialogue:
            text = normalize_text(row["Utterance"])
            label = EMOTIONS.index(from_ekman(row["Emotion"]))
            rows.append(TextRow(text, previous, label, (label,), "meld"))
            previous = text
    return rows


def load_dailydialog(data: Path, split: str) -> list[TextRow]:
    name = SPLITS["dailydialog"][split]
    folder = data / "dailydialog"
    texts = (folder / f"dialogues_{name}.txt").read_text(encoding="utf-8").splitlines()
    codes = (folder / f"dialogues_emotion_{name}.txt").read_text(encoding="utf-8").splitlines()
    rows = []
    for line, code_line in zip(texts, codes, strict=True):
        turns = [normalize_text(detokenize(t)) for t in line.split("__eou__")]
        turns = [t for t in turns if t]
        labels = [int(c) for c in code_line.split()]
        if len(turns) != len(labels):
            continue  # the README's one malformed train dialogue
        previous = ""
        for text, code in zip(turns, labels, strict=True):
            label = EMOTIONS.index(DAILYDIALOG_CODES[code])
            rows.append(TextRow(text, previous, label, (label,), "dailydialog"))
            previous = text
    return rows


def load_goemotions(data: Path, split: str) -> list[TextRow]:
    folder = data / "goemotions_ekman"
    names = [n.strip() for n in (folder / "labels.txt").read_text().splitlines() if n.strip()]
    rows = []
    with open(folder / f"{SPLITS['goemotions_ekman'][split]}.tsv", newline="", encoding="utf-8") as f:
        for row in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE):
            golds = tuple(dict.fromkeys(EMOTIONS.index(from_ekman(names[int(i)])) for i in row[1].split(",")))
            rows.append(TextRow(normalize_text(row[0]), "", golds[0], golds, "goemotions_ekman"))
    return rows


def load_carer(data: Path, split: str) -> list[TextRow]:
    rows = []
    with open(data / "carer" / f"{SPLITS['carer'][split]}.txt", encoding="utf-8") as f:
        next(f)  # header: text;label_name
        for line in f:
            text, _, name = line.rstrip("\n").rpartition(";")
            label = EMOTIONS.index(CARER_TO_EMOTION[name.strip()])
            rows.append(TextRow(normalize_text(text), "", label, (label,), "carer"))
    return rows


LOADERS = {"meld": load_meld, "dailydialog": load_dailydialog, "goemotions_ekman": load_goemotions, "carer": load_carer}


def load(data: Path, dataset: str, split: str) -> list[TextRow]:
    """Rows of ``dataset`` (:data:`DATASETS`), ``split`` in train/dev/test (each data set's own
    names are mapped: DailyDialog validation, CARER val)."""
    return LOADERS[dataset](Path(data), split)
