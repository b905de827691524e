"""The README is a front page and the documentation a site: README.md stays short, every relative
link in it reaches a file of the repository (and a heading, where it names one), and the site
(mkdocs.yml, docs/) builds with ``mkdocs build --strict``, with the API reference generated from
the docstrings and a page for every model card of ``models_onnx/``, included from there.

The build needs mkdocs, Material for MkDocs and mkdocstrings (requirements-dev.txt); without
mkdocs those tests skip and say so.
"""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
MKDOCS_YML = ROOT / "mkdocs.yml"
CARDS = sorted((ROOT / "models_onnx").glob("*.md"))
MAX_README_LINES = 200

_LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")
_FENCE = re.compile(r"^(```|~~~).*?^\1", re.MULTILINE | re.DOTALL)
_HEADING = re.compile(r"^#{1,6}\s+(.+?)\s*#*\s*$", re.MULTILINE)

needs_mkdocs = pytest.mark.skipif(
    importlib.util.find_spec("mkdocs") is None,
    reason="mkdocs is not installed (pip install -r requirements-dev.txt): the documentation site is not built",
)


def _prose(markdown: str) -> str:
    """``markdown`` without its fenced code blocks (a ``](`` in code is not a link)."""
    return _FENCE.sub("", markdown)


def _slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link's text only
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def _anchors(path: Path) -> set[str]:
    return {_slug(h) for h in _HEADING.findall(_prose(path.read_text(encoding="utf-8")))}


def test_readme_is_a_front_page():
    lines = README.read_text(encoding="utf-8").splitlines()
    assert len(lines) <= MAX_README_LINES, f"README.md has {len(lines)} lines (at most {MAX_README_LINES}): move detail to docs/"


def test_readme_keeps_the_two_set_up_commands():
    """.ci/run takes the test command from the line ending in ``# the tests``."""
    text = README.read_text(encoding="utf-8")
    assert re.search(r"^pip install -r requirements\.txt && streamlit run localapp\.py .*# the app$", text, re.MULTILINE)
    assert re.search(r"^pip install -r requirements-dev\.txt && python -m pytest\s+# the tests$", text, re.MULTILINE)


def test_every_relative_link_in_the_readme_exists():
    readme_anchors = _anchors(README)
    broken = []
    for target in _LINK.findall(_prose(README.read_text(encoding="utf-8"))):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.IGNORECASE):
            continue  # a URL
        path, _, anchor = unquote(target).partition("#")
        if not path:
            if anchor not in readme_anchors:
                broken.append(f"{target} (no such heading in README.md)")
            continue
        file = (ROOT / path).resolve()
        if not file.exists():
            broken.append(f"{target} (no such file)")
        elif anchor and file.suffix == ".md" and anchor not in _anchors(file):
            broken.append(f"{target} (no such heading in {path})")
    assert not broken, "README.md links to what is not there:\n" + "\n".join(broken)


def test_every_model_card_has_a_page_that_includes_it():
    """One source: docs/models/NAME.md includes models_onnx/NAME.md (pymdownx.snippets)."""
    assert CARDS, "no model cards in models_onnx/"
    for card in CARDS:
        page = ROOT / "docs" / "models" / card.name
        assert page.is_file(), f"{card.name} has no page: add docs/models/{card.name} and its entry in mkdocs.yml's nav"
        assert f'--8<-- "models_onnx/{card.name}"' in page.read_text(encoding="utf-8"), f"{page} does not include {card.name}"
        assert f"models/{card.name}" in MKDOCS_YML.read_text(encoding="utf-8"), (
            f"docs/models/{card.name} is not in mkdocs.yml's nav"
        )


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1"}
    build = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert build.returncode == 0, f"mkdocs build --strict failed:\n{build.stdout[-4000:]}\n{build.stderr[-8000:]}"
    return out


@needs_mkdocs
def test_the_site_builds_strictly_with_the_api_reference(site):
    reference = (site / "reference" / "index.html").read_text(encoding="utf-8")
    for name in ("emotion.analyze", "emotion.Analysis", "emotion.Settings"):
        assert f'id="{name}"' in reference, f"{name} is not in the API reference"
    for module in ("analysis", "config", "fusion", "face", "batch"):
        assert 'class="doc doc-' in (site / "reference" / module / "index.html").read_text(encoding="utf-8"), module


@needs_mkdocs
def test_the_site_has_every_model_card(site):
    for card in CARDS:
        page = site / "models" / card.stem / "index.html"
        assert page.is_file(), f"no page for {card.name} on the site"
        html = page.read_text(encoding="utf-8")
        title = card.read_text(encoding="utf-8").splitlines()[0].lstrip("# ").strip()
        assert title in html, f"{page} does not show {card.name}"
        assert "--8&lt;--" not in html and "--8<--" not in html, f"{card.name} was not included"
