"""The installable package: ``pyproject.toml`` and the requirements files say the same; a wheel
built from the clone holds the ``emotion`` package, every model with its card and the Haar
cascade, and nothing else; installed into a fresh virtual environment it works from a folder
outside the repository (the ``emotion`` console script on a real photo, and the Python API)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import cv2
import pytest
from packaging.requirements import Requirement

import emotion
from devkit.data import ROOT

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    tomllib = pytest.importorskip("tomli")

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())


def _requirements(name: str) -> set[str]:
    """The requirements of ``ROOT/name`` as normalised strings: comments, ``-r``/``-e`` lines
    and ``--hash`` options left out, continuation lines joined."""
    text = (ROOT / name).read_text().replace("\\\n", " ")
    out = set()
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if not line or line.startswith("-"):
            continue
        line = re.sub(r"\s--hash=\S+", "", line).strip()
        out.add(_normal(line))
    return out


def _normal(spec: str) -> str:
    r = Requirement(spec)
    extras = f"[{','.join(sorted(r.extras))}]" if r.extras else ""
    return f"{r.name.lower().replace('_', '-')}{extras}{','.join(sorted(str(s) for s in r.specifier))}"


def _declared(specs: list[str]) -> set[str]:
    return {_normal(s) for s in specs if not s.startswith("emotion-app")}


@pytest.mark.parametrize(
    "requirements, extra",
    [
        ("requirements.txt", None),
        ("requirements-batch.txt", "batch"),
        ("requirements-serve.txt", "serve"),
        ("requirements-train.txt", "train"),
        ("requirements-multilingual.txt", "multilingual"),
        ("requirements-dev.txt", "dev"),
    ],
)
def test_requirements_files_and_pyproject_agree(requirements, extra):
    project = PYPROJECT["project"]
    declared = project["dependencies"] if extra is None else project["optional-dependencies"][extra]
    assert _requirements(requirements) == _declared(declared), (
        f"{requirements} and pyproject.toml ({extra or 'dependencies'}) differ"
    )


def test_version_is_one_string():
    assert re.fullmatch(r"\d+\.\d+\.\d+", emotion.__version__)
    assert PYPROJECT["project"]["dynamic"] == ["version"]  # read from emotion/__init__.py by hatchling
    assert PYPROJECT["project"]["scripts"]["emotion"] == "emotion.cli:main"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """A wheel built from a copy of the tracked files (what a clone has)."""
    out = tmp_path_factory.mktemp("wheel")
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(out), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert build.returncode == 0, build.stderr[-3000:]
    (found,) = out.glob("emotion_app-*.whl")
    return found


def test_wheel_holds_the_package_the_models_and_the_cascade(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {p.name for p in (ROOT / "models_onnx").iterdir() if p.is_file()}
    assert any(n.endswith(".onnx") for n in shipped) and any(n.endswith(".md") for n in shipped)
    assert {f"emotion/models_onnx/{n}" for n in shipped} <= names  # every model with its card
    assert "emotion/haarcascade_frontalface_default.xml" in names
    assert {"emotion/__init__.py", "emotion/analysis.py", "emotion/cli.py", "emotion/py.typed"} <= names
    tops = {n.split("/", 1)[0] for n in names}
    assert tops == {"emotion", f"emotion_app-{emotion.__version__}.dist-info"}, tops  # no tests, pages, ui, training
    entry = next(n for n in names if n.endswith("entry_points.txt"))
    assert "emotion = emotion.cli:main" in zipfile.ZipFile(wheel).read(entry).decode()


def test_installed_wheel_works_outside_the_repository(wheel, fresh_python, astronaut_bgr, tmp_path):
    """The wheel in a fresh venv (requirements.txt's packages only, no checkout on the path):
    the console script analyses a real photo, the API a real photo's bytes, from /tmp."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    install = subprocess.run(
        [str(fresh_python), "-m", "pip", "install", "-q", "--force-reinstall", "--no-deps", str(wheel)],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    check = subprocess.run([str(fresh_python), "-m", "pip", "check"], capture_output=True, text=True, env=env)
    assert check.returncode == 0, check.stdout  # the wheel's dependencies are what requirements.txt installed
    away = tmp_path / "elsewhere"
    away.mkdir()
    photo = away / "astronaut.png"
    cv2.imwrite(str(photo), astronaut_bgr)
    script = fresh_python.parent / "emotion"
    run = subprocess.run(
        [str(script), "image", str(photo), "--json"], capture_output=True, text=True, cwd=away, env=env, timeout=300
    )
    assert run.returncode == 0, run.stderr[-3000:]
    rows = json.loads(run.stdout)["rows"]
    assert [r["kind"] for r in rows] == ["face"] and rows[0]["label"] == "happy", rows
    api = (
        "import json, pathlib, emotion; "
        "r = emotion.analyze(pathlib.Path('astronaut.png').read_bytes(), name='astronaut.png'); "
        "print(json.dumps({'file': emotion.__file__, 'version': emotion.__version__, 'kind': r.kind, "
        "'labels': [x['label'] for x in r.rows()], 'models': str(emotion.Settings.from_env().models_dir)}))"
    )
    run = subprocess.run([str(fresh_python), "-c", api], capture_output=True, text=True, cwd=away, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    out = json.loads(run.stdout)
    site = str(fresh_python.parent.parent)
    assert out["file"].startswith(site) and out["models"].startswith(site), out  # the installed copy, its own models
    assert out == {**out, "version": emotion.__version__, "kind": "image", "labels": ["happy"]}
