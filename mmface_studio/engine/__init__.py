"""Generation engines: request -> Performance, in stages with caches (DESIGN 2 and 3).

``Pipeline().run(GenerationRequest(...))`` is the entry point; the classic phonetic engine is
always available, neural engines register themselves with :func:`register_engine`.
No Qt: the GUI runs the pipeline on a worker thread with progress and a ``CancelToken``.
"""

from mmface_studio.engine.pipeline import (
    STAGES,
    CancelToken,
    EngineUnavailable,
    GenerationCancelled,
    Pipeline,
    ProgressCallback,
    StageContext,
    StageEngine,
    analyse_audio,
    engine_names,
    generate,
    register_engine,
)
from mmface_studio.engine.request import (
    EMOTIONS,
    INTERPOLATIONS,
    POSE_STYLES,
    Analysis,
    EmotionKey,
    EmotionTrack,
    GenerationRequest,
    PhoneSpan,
    PoseLock,
    RequestError,
    synthetic_analysis,
)

__all__ = [
    "EMOTIONS",
    "INTERPOLATIONS",
    "POSE_STYLES",
    "STAGES",
    "Analysis",
    "CancelToken",
    "EmotionKey",
    "EmotionTrack",
    "EngineUnavailable",
    "GenerationCancelled",
    "GenerationRequest",
    "PhoneSpan",
    "Pipeline",
    "PoseLock",
    "ProgressCallback",
    "RequestError",
    "StageContext",
    "StageEngine",
    "analyse_audio",
    "engine_names",
    "generate",
    "register_engine",
    "synthetic_analysis",
]
