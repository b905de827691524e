"""Exceptions the library raises for bad input or missing models.

Every message is written for the person using the app: pages show
``str(error)`` as it is.
"""


class EmotionError(Exception):
    """Base class of the library's own errors."""


class InputError(EmotionError, ValueError):
    """The input (a file, an array, bytes) cannot be used; the message says why."""


class ModelError(EmotionError, RuntimeError):
    """A model file is missing, corrupt or does not match its card."""


class BatchError(EmotionError):
    """The batch run cannot start or go on (bad output folder, Ray missing or failing); the
    message says why. Problems with one file never raise: they are that file's error row."""
