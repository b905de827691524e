"""Text modality: the semantic emotion of words (transcripts or typed text)."""
