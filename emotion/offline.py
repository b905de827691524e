"""Nothing sent anywhere: the telemetry switches of the libraries the app loads.

Imported first by :mod:`emotion` (so before onnxruntime, faster-whisper or Ray are), it sets
each variable of :data:`OFFLINE_ENV` unless the environment already has it. Measured in a
network namespace with only loopback and a logging DNS stub (tests/test_network.py).
"""

from __future__ import annotations

import os

OFFLINE_ENV: dict[str, str] = {
    # onnxruntime >= 1.29 (official wheels) reports to mobile.events.data.microsoft.com from a
    # background thread once imported (at about 9, 15 and 23 s) and writes
    # ~/.cache/Microsoft/DeveloperTools/.onnxruntime and $TMPDIR/.ses; this variable, read at
    # the import, stops both (ort.disable_telemetry_events() stops neither)
    "ORT_DISABLE_TELEMETRY": "1",
    # huggingface_hub (faster-whisper's downloads of models picked by name): no usage reports
    "HF_HUB_DISABLE_TELEMETRY": "1",
}
"""Environment variables set, unless already set, when :mod:`emotion` is imported; Ray workers
get them too (:func:`emotion.batch.ray_init`)."""

for _name, _value in OFFLINE_ENV.items():
    os.environ.setdefault(_name, _value)
