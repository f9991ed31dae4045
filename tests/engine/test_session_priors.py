"""The engine session exposes the voice-predicted emotion priors the GUI overlays, and the project's weight."""

from __future__ import annotations

import numpy as np

from mmface_studio.core.document import EmotionTrack, Project, SetProperty, UndoStack
from mmface_studio.engine import Pipeline, synthetic_analysis
from mmface_studio.engine.session import EngineSession
from tests.core import make_clip


def _session() -> tuple[Project, EngineSession]:
    analysis = synthetic_analysis(8.0, seed=3)
    project = Project(audio=make_clip(8.0), emotion=EmotionTrack.constant(happiness=0.4))
    return project, EngineSession(project, Pipeline(analyzer=lambda request, ctx: analysis))


def test_priors_come_with_the_generated_take_at_its_frames() -> None:
    project, session = _session()
    assert session.emotion_priors() is None, "nothing before a generation"
    perf = session.generate()
    times, prior = session.emotion_priors()
    assert prior.shape == (7, perf.frame_count) and np.allclose(times, np.arange(perf.frame_count) / perf.fps)
    assert prior.std(axis=1).max() > 0.01, "the voice's arousal varies over the clip"


def test_the_follow_voice_weight_reruns_only_the_emotion_stage_and_follows_the_formula() -> None:
    project, session = _session()
    project.assign(base=session.generate())
    runs = dict(session.pipeline.stage_runs)
    priors = session.emotion_priors()
    stack = UndoStack()
    stack.push(SetProperty(project, "emotion_prior_weight", 0.8))
    assert session.request().emotion_prior_weight == 0.8
    followed = session.refresh()
    assert session.pipeline.stage_runs["emotion"] == runs["emotion"] + 1
    assert session.emotion_priors() is priors, "the same analysis: the same priors (views are not re-fed per edit)"
    assert session.pipeline.stage_runs["lipsync"] == runs["lipsync"] and session.pipeline.stage_runs["analysis"] == 1
    assert not np.allclose(followed.values, project.base.values), "following the voice changes the face"
