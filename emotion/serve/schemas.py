"""The service's request and response models. The timeline row model is generated from the one
declaration of the columns (:data:`emotion.schema.TIMELINE`): its fields, types, enum values and
descriptions are the schema's, never written twice, and OpenAPI (``/docs``) shows them."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, create_model

from ..labels import EMOTIONS
from ..schema import MODALITIES, TIMELINE, Schema, SpeechStatus


def fusion_weights(weights: object) -> dict[str, float]:
    """Late-fusion weights as a client sends them (a JSON object) -> ``{modality: weight}``.

    Raises:
        ValueError: not an object mapping names of :data:`emotion.schema.MODALITIES` to numbers in 0..10.
    """
    if not isinstance(weights, dict) or any(
        k not in MODALITIES or not isinstance(v, (int, float)) or isinstance(v, bool) or not 0 <= v <= 10
        for k, v in weights.items()
    ):
        raise ValueError(f"weights must map {', '.join(MODALITIES)} to numbers in 0..10")
    return {k: float(v) for k, v in weights.items()}


_TYPES = {"string": str, "int64": int, "float64": float, "bool": bool, "list<string>": list[str]}


def row_model(schema: Schema, name: str) -> type[BaseModel]:
    """A pydantic model with one optional field per column of ``schema`` (its dtype, or its enum),
    described by the column's meaning, unit and the rows that fill it."""
    fields = {}
    for c in schema.columns:
        kind = c.values or _TYPES[c.dtype]
        unit = f" [{c.unit}]" if c.unit else ""
        fields[c.name] = (kind | None, Field(None, description=f"{c.meaning}{unit}; filled on {', '.join(c.rows)} rows"))
    return create_model(
        name, __config__=ConfigDict(extra="forbid"), __doc__=f"One row of the {schema.name} (emotion.schema).", **fields
    )


TimelineRow = row_model(TIMELINE, "TimelineRow")
"""One timeline row: a face, an utterance or a fused estimate (:data:`emotion.schema.TIMELINE`)."""


class AnalysisResult(BaseModel):
    """The analysis of one file (:class:`emotion.analysis.Analysis`): its timeline rows (only the
    columns a row fills), its notes and its statuses."""

    source: str = Field(description="the file's name")
    kind: str = Field(description="what was analysed: image, audio, video or text")
    duration_s: float | None = Field(None, description="media duration the container states [s]")
    faces: int = Field(description="distinct faces: a photo's faces, a video's tracks")
    utterances: int = Field(description="utterances transcribed")
    speech_status: SpeechStatus | None = Field(None, description="what came of the speech (audio and video)")
    nothing_found: str | None = Field(None, description='"no face found" / "no speech found", else null')
    notes: list[str] = Field(default_factory=list, description="what did not stop the analysis")
    labels: list[str] = Field(default=list(EMOTIONS), description="the seven labels, in the order of every probability")
    rows: list[TimelineRow] = Field(description="faces, utterances and fused estimates, by start time")  # type: ignore[valid-type]


class TextRequest(BaseModel):
    """Text to classify, with the sentence before it as context (optional)."""

    model_config = ConfigDict(extra="forbid")
    text: str = Field(description="the words", min_length=1)
    context: str | None = Field(None, description="the utterance before it, if any")


class TextResult(BaseModel):
    """The emotion of the words (the semantic model, :mod:`emotion.text.semantic`)."""

    label: str = Field(description="the most probable emotion")
    score: float = Field(description="its probability [0..1]")
    probabilities: dict[str, float] = Field(description="one probability per label")
    notes: list[str] = Field(default_factory=list, description="e.g. the text was cut at the limit")


class JobAccepted(BaseModel):
    """A file too large or too long to answer at once: analysed as a job."""

    job_id: str
    status: str = Field(description="queued, running, done or failed")
    location: str = Field(description="GET it for the progress, then the result")


class JobState(BaseModel):
    """A job's progress and, once done, its result (or its problem)."""

    job_id: str
    status: str = Field(description="queued, running, done or failed")
    stage: str | None = Field(None, description='what runs now: "faces" (a video\'s frames) or "speech"')
    done_s: float = Field(0.0, description="media seconds done [s]")
    total_s: float | None = Field(None, description="media seconds in all, when the file states it [s]")
    result: AnalysisResult | None = None
    problem: dict | None = Field(None, description="the problem details, when failed")
    expires_in_s: float | None = Field(None, description="seconds before the job and its result are forgotten")


class ModelInfo(BaseModel):
    """One model the service runs, from its card."""

    name: str
    modality: str
    labels: list[str]
    version: str | None = Field(None, description="the card's version, else sha256:<first 12 hex digits of the model file>")
    source: str | None = None
    licence: str | None = None
    figures: dict = Field(default_factory=dict, description="measured figures, as the card states them (split named)")


class ModelsResult(BaseModel):
    version: str = Field(description="the emotion package's version")
    labels: list[str]
    models: list[ModelInfo]


def analysis_json(result) -> dict:
    """An :class:`~emotion.analysis.Analysis` as the service answers it (:class:`AnalysisResult`:
    each row holds only the columns it fills)."""
    body = AnalysisResult(
        source=result.source,
        kind=result.kind,
        duration_s=result.duration_s,
        faces=result.face_count(),
        utterances=len(result.utterances),
        speech_status=result.speech_status,
        nothing_found=result.nothing_found(),
        notes=list(result.notes),
        rows=result.rows(),
    )
    return body.model_dump(mode="json", exclude_none=True)
