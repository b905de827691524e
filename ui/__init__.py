"""Streamlit helpers shared by the pages: cached model loading and common widgets.

The library (``emotion/``) never imports this package; pages never import each other.
"""
