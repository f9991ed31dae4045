"""Parameter spaces and the Performance type."""

from __future__ import annotations

import numpy as np
import pytest

from mmface_studio.core.performance import Performance
from mmface_studio.core.playback import PlaybackClock
from mmface_studio.core.spaces import ARKIT52, ARKIT_BLENDSHAPES, FLAME56, SpaceError, space_by_name
from mmface_studio.core.tour import expression_tour


def test_arkit_space_has_apples_52_names_then_pose() -> None:
    assert len(ARKIT_BLENDSHAPES) == 52 == len(set(ARKIT_BLENDSHAPES))
    assert ARKIT52.names[:52] == ARKIT_BLENDSHAPES
    assert ARKIT52.names[52:55] == ("HeadYaw", "HeadPitch", "HeadRoll")
    assert ARKIT52.channel("jawOpen").maximum == 1.0 and ARKIT52.channel("jawOpen").group == "jaw"


def test_flame56_core_layout_matches_mmhead() -> None:
    names = FLAME56.names
    assert names[:50] == tuple(f"expr{i:02d}" for i in range(50))
    assert names[50:56] == ("global_x", "global_y", "global_z", "jaw_x", "jaw_y", "jaw_z")


def test_unknown_channel_names_get_a_suggestion() -> None:
    with pytest.raises(SpaceError, match="Did you mean jawOpen"):
        ARKIT52.vector({"jawopen": 1.0})
    with pytest.raises(SpaceError, match="Unknown parameter space"):
        space_by_name("blend99")


def test_vector_clips_to_range_and_rejects_nan() -> None:
    vec = ARKIT52.vector({"jawOpen": 3.0, "HeadYaw": -9.0})
    assert vec[ARKIT52.index["jawOpen"]] == 1.0
    assert vec[ARKIT52.index["HeadYaw"]] == pytest.approx(-1.2)
    with pytest.raises(SpaceError, match="non-finite"):
        ARKIT52.vector({"jawOpen": float("nan")})


def test_performance_validates_shape_fps_and_values() -> None:
    perf = Performance(30.0, ARKIT52, np.zeros((len(ARKIT52), 90)))
    assert perf.duration == pytest.approx(3.0) and perf.frame_at_time(1.0) == 30
    assert perf.frame(10_000).shape == (len(ARKIT52),)
    with pytest.raises(SpaceError, match="needs 61 x frames"):
        Performance(30.0, ARKIT52, np.zeros((10, 5)))
    with pytest.raises(SpaceError, match="Frame rate"):
        Performance(0.0, ARKIT52, np.zeros((len(ARKIT52), 5)))
    bad = np.zeros((len(ARKIT52), 5))
    bad[3, 2] = np.inf
    with pytest.raises(SpaceError, match="NaN or infinity"):
        Performance(30.0, ARKIT52, bad)


@pytest.mark.parametrize("space", [ARKIT52, FLAME56])
def test_expression_tour_visits_every_expression_channel(space) -> None:
    tour = expression_tour(space)
    assert tour.space is space
    if space is ARKIT52:
        peaks = tour.values[:52].max(axis=1)
        assert np.all(peaks > 0.95), "every ARKit shape reaches full weight once"
        assert tour.curve("HeadYaw").max() > 0.4 and tour.curve("HeadYaw").min() < -0.4
    assert np.all(tour.values >= space.minimums[:, None]) and np.all(tour.values <= space.maximums[:, None])


def test_playback_clock_uses_elapsed_time_and_loops() -> None:
    now = [0.0]
    clock = PlaybackClock(fps=30, frame_count=60, now=lambda: now[0])
    clock.play()
    now[0] = 1.0
    assert clock.current_frame() == 30
    now[0] = 2.5  # 75 frames -> wraps to 15 when looping
    assert clock.current_frame() == 15
    clock.loop = False
    clock.seek(50)
    clock.play()
    now[0] += 1.0
    assert clock.current_frame() == 59 and not clock.playing
    clock.step(-5)
    assert clock.current_frame() == 54
