"""Helpers shared by the tests, the benchmarks, the training evaluations and the docs' gallery:
real test media (:mod:`devkit.media`, :mod:`devkit.photos`), where the research data lies
(:mod:`devkit.data`), and a real ``streamlit run`` server (:mod:`devkit.server`).

Not part of the installed package (the wheel holds ``emotion`` only); nothing in ``emotion/``
imports it. ``tests/`` may import it; it never imports ``tests/``.
"""
