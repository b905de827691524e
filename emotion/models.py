"""One way to open an ONNX model and read its card, shared by every modality.

Each ``models_onnx/NAME.onnx`` has a machine-readable card ``NAME.json`` beside
it (labels, input and output spec, preprocessing, source, licence, measured
scores) and a human-readable ``NAME.md`` rendered from it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import onnxruntime as ort

from .errors import ModelError
from .labels import EMOTIONS


def read_card(onnx_path: Path) -> dict:
    """The JSON card beside ``onnx_path`` (same stem, ``.json``).

    Raises:
        ModelError: the card is missing or not valid JSON.
    """
    card_path = Path(onnx_path).with_suffix(".json")
    try:
        return json.loads(card_path.read_text())
    except FileNotFoundError:
        raise ModelError(f"model card not found: {card_path}") from None
    except (OSError, ValueError) as exc:
        raise ModelError(f"model card {card_path} is unreadable: {exc}") from None


class OnnxModel:
    """An onnxruntime CPU session over one model file, with its card.

    Args:
        path: the ``.onnx`` file.
        threads: onnxruntime intra-op threads (1 keeps several live sessions from
            fighting over cores).
        expect_labels: when given, the card's ``labels`` must equal it.
        output: name of the output :meth:`run` returns (default: the first).

    Raises:
        ModelError: the model or its card is missing or corrupt, or the labels differ.

    ``run`` is safe to call from several threads at once (onnxruntime sessions are).
    """

    def __init__(
        self,
        path: Path,
        threads: int = 1,
        expect_labels: tuple[str, ...] | None = EMOTIONS,
        output: str | None = None,
    ):
        self.path = Path(path)
        if not self.path.is_file():
            raise ModelError(f"model file not found: {self.path}")
        self.card = read_card(self.path)
        if expect_labels is not None and tuple(self.card.get("labels", ())) != tuple(expect_labels):
            raise ModelError(
                f"model card of {self.path.name} lists labels {self.card.get('labels')}, expected {list(expect_labels)}"
            )
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = threads
        opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        try:
            self.session = ort.InferenceSession(str(self.path), sess_options=opts, providers=["CPUExecutionProvider"])
        except Exception as exc:  # onnxruntime raises its own exception types for corrupt files
            raise ModelError(f"model file {self.path} could not be loaded: {exc}") from None
        self.input_name = self.session.get_inputs()[0].name
        outputs = [o.name for o in self.session.get_outputs()]
        if output is not None and output not in outputs:
            raise ModelError(f"model file {self.path} has no output {output!r} (outputs: {outputs})")
        self.output_name = output or outputs[0]

    @property
    def name(self) -> str:
        return self.card.get("name", self.path.stem)

    def run(self, x: np.ndarray | dict[str, np.ndarray]) -> np.ndarray:
        """Run the model and return the selected output.

        ``x`` is the only input's array, or a dict of input name -> array for models
        with several inputs (e.g. ``input_ids`` and ``attention_mask``).
        """
        feeds = x if isinstance(x, dict) else {self.input_name: x}
        return self.session.run([self.output_name], feeds)[0]
