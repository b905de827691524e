"""MkDocs hook (mkdocs.yml ``hooks:``): the model cards' relative links, on the site.

The cards live in ``models_onnx/`` (the wheel ships them beside the models) and their pages in
``docs/models/`` include them whole with pymdownx.snippets (``--8<-- "models_onnx/NAME.md"``),
so there is one source. A card's links are relative to ``models_onnx/`` (e.g. its training
curves, ``../docs/fernet_training.png``); on a card's page they are rewritten, after the
snippet is included and before MkDocs checks the links, to point at the same file from
``docs/models/``: a file under ``docs/`` is that page of the site, another card is its page.
Any other target is left as it is, so ``mkdocs build --strict`` reports it.
"""

from __future__ import annotations

import posixpath
import re

from markdown import Extension
from markdown.preprocessors import Preprocessor

CARDS_DIR = "models_onnx"  # where the cards are, in the repository
PAGES_DIR = "models"  # where their pages are, in docs/

_LINK = re.compile(r"(\]\()([^)\s]+)")
_page_src: str | None = None  # the page being rendered (MkDocs renders one page at a time)


def _site_target(target: str, page_dir: str) -> str:
    """``target``, written relative to ``models_onnx/``, relative to ``page_dir`` of the site."""
    if re.match(r"^[a-z][a-z0-9+.-]*:|^[#/]", target, re.IGNORECASE):
        return target  # a URL, an anchor on the page, an absolute path
    path, hash_, anchor = target.partition("#")
    repo_path = posixpath.normpath(posixpath.join(CARDS_DIR, path))
    if repo_path.startswith("docs/"):
        site_path = repo_path.removeprefix("docs/")
    elif repo_path.startswith(f"{CARDS_DIR}/") and repo_path.endswith(".md"):
        site_path = f"{PAGES_DIR}/{repo_path.removeprefix(f'{CARDS_DIR}/')}"
    else:
        return target
    return posixpath.relpath(site_path, page_dir) + hash_ + anchor


class _CardLinks(Preprocessor):
    def run(self, lines: list[str]) -> list[str]:
        if _page_src is None or posixpath.dirname(_page_src) != PAGES_DIR:
            return lines
        page_dir = posixpath.dirname(_page_src)
        return [_LINK.sub(lambda m: m.group(1) + _site_target(m.group(2), page_dir), line) for line in lines]


class _CardLinksExtension(Extension):
    def extendMarkdown(self, md):  # noqa: N802 - Markdown's name
        # After pymdownx.snippets (priority 32) has included the card, before everything else.
        md.preprocessors.register(_CardLinks(md), "card_links", 31)


def on_config(config, **kwargs):
    config.markdown_extensions.append(_CardLinksExtension())
    return config


def on_page_markdown(markdown, page, **kwargs):
    global _page_src
    _page_src = page.file.src_uri
    return markdown
