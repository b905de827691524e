"""examples/quickstart.ipynb: it runs top to bottom in a real Jupyter kernel (nbclient + ipykernel)
and finds what it shows (the astronaut's face and label, the speech's utterances with transcripts,
the video's tracked faces and timeline), from the repository root and from examples/, with the
RAVDESS speech and without it; and the copy saved in the repository carries its outputs.

The notebook is executed on a copy in memory: the saved file is never rewritten by the tests.
"""

from __future__ import annotations

import base64
import json
import os
import re
import sys
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

import emotion
from devkit.data import RAVDESS

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK = ROOT / "examples" / "quickstart.ipynb"
MAX_BYTES = 1_500_000
CELL_TIMEOUT_S = 600

# Appended to the executed copy: the notebook's own variables, as JSON, for the asserts below.
PROBE = """
import json
print("PROBE " + json.dumps({
    "have_ravdess": HAVE_RAVDESS,
    "faces": [[f.label, float(f.score)] for f in faces],
    "utterances": [[u.text, u.acoustic_label, u.semantic_label] for u in utterances],
    "speech_columns": list(speech_table.columns) if utterances else [],
    "face_ids": sorted(int(i) for i in timeline.loc[timeline["kind"] == "face", "face_id"].unique()),
    "timeline_kinds": timeline["kind"].value_counts().to_dict(),
    "video_utterances": [u.text for u in video.utterances],
    "fused": [[f.label, f.face_id] for _, f in video.fused],
    "annotated_bytes": len(video.annotated_video or b""),
    "work": str(WORK),
}))
"""


def _kernel_spec(folder: Path) -> Path:
    """A Jupyter data folder whose ``python3`` kernel is this interpreter (``sys.executable``),
    so the kernel has this environment's packages whatever kernels the user has installed."""
    from ipykernel.kernelspec import write_kernel_spec

    write_kernel_spec(folder / "kernels" / "python3")
    return folder


def run_notebook(cwd: Path, tmp: Path, data_dir: Path | None = None) -> tuple[nbformat.NotebookNode, dict]:
    """Execute the notebook (plus :data:`PROBE`) in a fresh kernel started in ``cwd``, with
    ``SHARED_DATA_DIR=data_dir`` when given; temporary files go under ``tmp``. Returns the
    executed notebook and the probe's values.

    Raises:
        nbclient.exceptions.CellExecutionError: a cell raised.
    """
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nb.cells.append(nbformat.v4.new_code_cell(PROBE))
    env = {k: v for k, v in os.environ.items() if k not in ("SHARED_DATA_DIR", "MPLBACKEND")}
    env |= {"JUPYTER_PATH": str(_kernel_spec(tmp / "jupyter")), "TMPDIR": str(tmp)}
    if data_dir is not None:
        env["SHARED_DATA_DIR"] = str(data_dir)
    client = NotebookClient(nb, kernel_name="python3", timeout=CELL_TIMEOUT_S, record_timing=False)
    client.execute(cwd=str(cwd), env=env)
    return nb, _probe(nb)


def _probe(nb: nbformat.NotebookNode) -> dict:
    text = "".join(o.get("text", "") for o in nb.cells[-1].outputs if o.output_type == "stream")
    found = re.search(r"^PROBE (.*)$", text, re.M)
    assert found, f"no probe output: {text!r}"
    return json.loads(found.group(1))


def _outputs(nb: nbformat.NotebookNode) -> list[dict]:
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs]


def _stdout(nb: nbformat.NotebookNode) -> str:
    return "".join(o.get("text", "") for o in _outputs(nb) if o.output_type == "stream" and o.name == "stdout")


def _pngs(nb: nbformat.NotebookNode) -> list[bytes]:
    return [base64.b64decode(o["data"]["image/png"]) for o in _outputs(nb) if "image/png" in o.get("data", {})]


def _check_photo_and_video(nb: nbformat.NotebookNode, probe: dict) -> None:
    # the astronaut: exactly one face, happy (as tests/test_face.py finds it)
    assert len(probe["faces"]) == 1 and probe["faces"][0][0] == "happy" and probe["faces"][0][1] > 0.5, probe["faces"]
    assert "face #1: box (" in _stdout(nb)
    # the video: the astronaut and the camera operator, tracked with two stable IDs
    assert probe["face_ids"] == [1, 2], probe["face_ids"]
    assert probe["timeline_kinds"]["face"] >= 2 * 10, probe["timeline_kinds"]
    assert probe["annotated_bytes"] > 10_000
    assert len(_pngs(nb)) == 3  # the photo with its bars, the timeline chart, the annotated frames
    assert not [o for o in _outputs(nb) if o.output_type == "stream" and o.name == "stderr"], "the notebook wrote to stderr"


@pytest.fixture(scope="module")
def default_run(tmp_path_factory):
    """The notebook run from the repository root, with the data where it finds it (../shared/data)."""
    return run_notebook(ROOT, tmp_path_factory.mktemp("notebook"))


def test_notebook_photo_and_video_from_the_repository_root(default_run):
    nb, probe = default_run
    _check_photo_and_video(nb, probe)
    assert f"emotion {emotion.__version__}\n" in _stdout(nb)


def test_notebook_speech_from_the_repository_root(default_run):
    nb, probe = default_run
    if not RAVDESS.exists():
        assert not probe["have_ravdess"] and "RAVDESS not found" in _stdout(nb)
        pytest.skip(
            f"RAVDESS not found at {RAVDESS} (../shared is absent in a user's clone): the notebook skipped its speech cells"
        )
    assert probe["have_ravdess"]
    utterances = probe["utterances"]
    assert len(utterances) >= 1 and all(text.strip() for text, _, _ in utterances), utterances
    assert all(voice for _, voice, _ in utterances), utterances  # every utterance has a voice emotion
    assert sum("by the door" in text.lower() for text, _, _ in utterances) >= len(utterances) - 1, utterances
    assert probe["speech_columns"] == [
        "start_s",
        "end_s",
        "transcript",
        "words (semantic)",
        "voice (acoustic)",
        "acted (RAVDESS)",
    ]
    # the video's soundtrack is the same speech: its utterances, each fused with a face
    assert len(probe["video_utterances"]) == len(utterances), (probe["video_utterances"], utterances)
    assert len(probe["fused"]) == len(utterances) and all(face_id in (1, 2) for _, face_id in probe["fused"]), probe["fused"]
    assert probe["timeline_kinds"].get("utterance") == len(utterances)


def test_notebook_without_the_data_from_examples(tmp_path):
    """A clone without ../shared, run from examples/: the speech cells say why they skip, the
    photo and the (silent) video still run."""
    empty = tmp_path / "no-data"
    empty.mkdir()
    nb, probe = run_notebook(ROOT / "examples", tmp_path, data_dir=empty)
    _check_photo_and_video(nb, probe)
    out = _stdout(nb)
    assert f"emotion {emotion.__version__}\n" in out  # imported as an installed package: no sys.path patch
    assert "RAVDESS speech: NOT FOUND" in out and "RAVDESS not found at" in out and "skipped: no RAVDESS speech" in out
    assert not probe["have_ravdess"] and probe["utterances"] == [] and probe["video_utterances"] == [], probe
    assert "no utterances (a silent clip)" in out
    assert str(tmp_path) in probe["work"]  # its clips went to the temporary folder


def test_saved_notebook_has_its_outputs_and_is_small():
    """The copy in the repository reads on GitHub without running: every code cell executed in
    order, without an error, with its figures as PNG, from a run that had the speech, small."""
    size = NOTEBOOK.stat().st_size
    assert size < MAX_BYTES, f"{NOTEBOOK.name} is {size / 1e6:.2f} MB"
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert [c.execution_count for c in code] == list(range(1, len(code) + 1)), "save the notebook after Restart & Run All"
    assert all(c.outputs for c in code), "every code cell shows something"
    assert not [o for o in _outputs(nb) if o.output_type == "error"]
    assert nb.metadata.kernelspec.name == "python3"
    pngs = _pngs(nb)
    assert len(pngs) == 3 and all(p.startswith(b"\x89PNG") and len(p) < 250_000 for p in pngs), [len(p) for p in pngs]
    out = _stdout(nb)
    assert "RAVDESS speech: found" in out and "face #1: box" in out and "5 RAVDESS clips" in out
    html = "".join(o["data"].get("text/html", "") for o in _outputs(nb) if "data" in o)
    assert "Kids are talking by the door" in html  # the speech table
    assert len(html) < 50_000
    text = json.dumps(nb)
    for private in (str(ROOT), str(Path.home()), "/tmp/"):
        assert private not in text, f"the saved outputs show a local path ({private})"
    assert sys.executable not in text
