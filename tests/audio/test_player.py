"""AudioPlayer through real PortAudio into a PulseAudio null sink, checked against what the sink played.

The recording of the sink's monitor is the independent reference: its content says what was heard,
its sample index (the null sink plays by the monotonic clock) says when. ``position()`` must match it
within one 30 fps frame; pause, seek and loops must show up in the recording as promised.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from scipy.signal import correlate

from mmface_studio.audio.player import AudioPlayer, choose_channels, negotiate_rate, prepare_output
from mmface_studio.core.playback import PlaybackClock
from tests.audio.pulse import PulseServer, Recording

R = 48_000
FRAME = 1 / 30  # one animation frame: the tolerance the animator sees
REPO = Path(__file__).resolve().parents[2]
# A stream that starts while the null sink has already rendered ahead loses its first block (the
# sink's latency, ~1.5 ms here, ~4 ms at the keep-alive's 5 ms) in the monitor: the sink rewinds to
# mix it in, the monitor cannot. Measured: the loss scales with the sink block, not with the player.
START_LOSS = int(0.01 * R)


# ---------------------------------------------------------------------------------------- signals


def noise(seconds: float, seed: int = 0) -> np.ndarray:
    """Unique content everywhere, so any piece of the recording can be located in the source."""
    return (0.25 * np.random.default_rng(seed).standard_normal(int(seconds * R))).astype(np.float32)


def click_train(seconds: float, every: float) -> tuple[np.ndarray, np.ndarray]:
    """Single-sample clicks: their recorded index is exact, so timing can be read to one sample."""
    x = np.zeros(int(seconds * R), np.float32)
    at = np.arange(int(every * R), x.size - int(every * R) // 2, int(every * R))
    x[at] = 0.9
    return x, at


def ncc(signal: np.ndarray, template: np.ndarray) -> np.ndarray:
    """Normalised cross-correlation of ``template`` at every offset of ``signal`` (1.0: identical)."""
    c = correlate(signal.astype(np.float64), template.astype(np.float64), mode="valid", method="fft")
    sq = np.concatenate([[0.0], np.cumsum(signal.astype(np.float64) ** 2)])
    window = np.sqrt(np.maximum(sq[template.size:] - sq[: -template.size], 1e-20))
    return c / (window * np.linalg.norm(template))


def locate(signal: np.ndarray, template: np.ndarray) -> tuple[int, float]:
    score = ncc(signal, template)
    best = int(np.argmax(score))
    return best, float(score[best])


class PositionSampler:
    """Samples ``(monotonic, position())`` on a thread, about as often as the transport's timer.

    Not much more often: a thread waking every 2 ms to take the GIL starves the audio callback
    into underruns once the CPU is contended (seen with two busy processes on two cores).
    """

    def __init__(self, player: AudioPlayer, every: float = 0.005) -> None:
        self.rows: list[tuple[float, float]] = []
        self._player, self._every = player, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            self.rows.append((time.monotonic(), self._player.position()))
            time.sleep(self._every)

    def stop(self) -> np.ndarray:
        self._stop.set()
        self._thread.join()
        return np.asarray(self.rows)


def play_and_record(server: PulseServer, player: AudioPlayer, seconds: float,
                    from_s: float = 0.0) -> tuple[Recording, np.ndarray]:
    """Play ``seconds`` from ``from_s`` while recording the sink and sampling ``position()``."""
    recorder = server.record()
    player.play(from_s)
    sampler = PositionSampler(player)
    time.sleep(seconds)
    rows = sampler.stop()
    player.pause()
    time.sleep(0.15)
    return recorder.stop(), rows


def heard_time(rows: np.ndarray, clip_seconds: np.ndarray | float) -> np.ndarray:
    """Monotonic time at which ``position()`` said clip time ``clip_seconds`` was being heard."""
    return np.interp(clip_seconds, rows[:, 1], rows[:, 0])


def click_errors(rec: Recording, rows: np.ndarray, clicks: np.ndarray,
                 settle: float = 0.5) -> tuple[np.ndarray, np.ndarray, int]:
    """For each click the sink played: when ``position()`` said it was heard minus when it was played.

    Recorded clicks are matched to the source click ``position()`` put nearest to them, so a click
    lost to an underrun on a busy machine does not shift the rest; most must arrive. Returns
    the errors, which of them count, and how many glitches the recording shows: where the sound
    server itself underran it plays silence (or PortAudio drops a buffer) and the recorded timeline
    jumps; nobody tells the player, which sees it in the callback times a quarter second later, so
    the clicks of the ``settle`` seconds after a glitch do not count. An idle machine has none.
    """
    played = rec.time_of(np.flatnonzero(rec.samples[:, 0] > 0.5))
    heard = heard_time(rows, clicks / R)
    nearest = np.abs(heard[None, :] - played[:, None]).argmin(axis=1)
    assert played.size >= 0.75 * clicks.size, f"only {played.size} of {clicks.size} clicks reached the sink"
    assert np.unique(nearest).size == nearest.size, "two recorded clicks matched the same source click"
    lag = played - clicks[nearest] / R
    glitches = played[1:][np.abs(np.diff(lag)) > 0.002]
    counts = np.ones(played.size, bool)
    for t in glitches:
        counts &= ~((played >= t) & (played < t + settle))
    assert counts.sum() >= 0.7 * played.size, f"{glitches.size} audio glitches: the machine is too busy to judge"
    return heard[nearest] - played, counts, int(glitches.size)


@pytest.fixture
def player(pulse_server: PulseServer):
    p = AudioPlayer("pulse")
    yield p
    p.close()


# ---------------------------------------------------------------------------------------- real device


def test_audio_arrives_intact_and_stops_at_the_end(pulse_server: PulseServer, player: AudioPlayer) -> None:
    src = noise(1.5)
    player.load(src, R)
    assert player.status == "" and not player.silent and player.device_name == "pulse"
    assert player.rate == R and 0 < player.latency_s < 0.5
    recorder = pulse_server.record()
    player.play(0.0)
    deadline = time.monotonic() + 3.0
    while player.playing and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not player.playing and player.position() == pytest.approx(1.5)
    time.sleep(0.2)
    rec = recorder.stop().samples
    np.testing.assert_array_equal(rec[:, 0], rec[:, 1])  # mono went out on both channels
    at, score = locate(rec[:, 0], src)
    assert score > 0.999
    # bit-exact from START_LOSS on: the null sink itself drops a stream's first block (see START_LOSS)
    np.testing.assert_allclose(rec[at + START_LOSS : at + src.size, 0], src[START_LOSS:], atol=1e-4)
    assert np.abs(rec[at + src.size :, 0]).max(initial=0.0) < 1e-6  # silence after the end, no repeat


def test_position_follows_the_heard_audio(pulse_server: PulseServer, player: AudioPlayer) -> None:
    src, clicks = click_train(5.0, every=0.25)
    player.load(src, R)
    rec, rows = play_and_record(pulse_server, player, 4.9)
    error, counts, glitches = click_errors(rec, rows, clicks)
    assert np.abs(error[counts]).max() <= FRAME, f"position - audio (ms): {np.round(error * 1000, 1)}, {glitches=}"
    assert np.all(np.diff(rows[:, 1]) >= 0), "position went backwards"
    steady = rows[rows[:, 1] > 0.1]
    # it advances with the clock between callbacks instead of in buffer-sized steps
    assert np.abs(np.diff(steady[:, 1]) - np.diff(steady[:, 0])).max() < 0.005


def test_pause_stops_at_the_heard_sample_and_holds(pulse_server: PulseServer, player: AudioPlayer) -> None:
    src = noise(4.0, seed=1)
    player.load(src, R)
    recorder = pulse_server.record()
    player.play(0.5)
    time.sleep(1.0)
    player.pause()
    paused_at = player.position()
    held = []
    for _ in range(20):
        time.sleep(0.01)
        held.append(player.position())
    rec = recorder.stop().samples[:, 0]
    assert not player.playing and held == [paused_at] * 20
    loud = np.flatnonzero(np.abs(rec) > 1e-6)
    tail = rec[loud[-1] - 2400 : loud[-1] + 1]  # the last 50 ms that reached the sink
    at, score = locate(src, tail)
    assert score > 0.999
    last_heard = (at + tail.size) / R
    assert abs(last_heard - paused_at) <= FRAME, (last_heard, paused_at)
    player.play()  # resumes where it paused
    assert player.position() == pytest.approx(paused_at, abs=1e-3)


def test_seek_while_playing_flushes_and_lands(pulse_server: PulseServer, player: AudioPlayer) -> None:
    src = noise(6.0, seed=2)
    player.load(src, R)
    recorder = pulse_server.record()
    player.play(0.0)
    time.sleep(0.4)
    heard_at_seek = player.position()
    player.seek(4.0)
    sampler = PositionSampler(player)
    time.sleep(0.6)
    rows = sampler.stop()
    player.pause()
    rec = recorder.stop()
    x = rec.samples[:, 0]
    assert 4.0 <= rows[0, 1] <= 4.0 + FRAME and np.all(np.diff(rows[:, 1]) >= 0)
    at, score = locate(x, src[int(4.2 * R) : int(4.3 * R)])
    assert score > 0.999
    assert abs(heard_time(rows, 4.2) - rec.time_of(at)) <= FRAME
    # the old stretch still buffered at the seek is dropped, not played before the new one
    new_start = at - int(0.2 * R)
    old = np.flatnonzero(np.abs(x[:new_start]) > 1e-6)
    old_at, old_score = locate(src[: 2 * R], x[old[-1] - 1199 : old[-1] + 1])
    assert old_score > 0.999 and (old_at + 1200) / R <= heard_at_seek + FRAME


def test_loop_repeats_seamlessly(pulse_server: PulseServer, player: AudioPlayer) -> None:
    src = noise(3.0, seed=3)
    player.load(src, R)
    player.set_loop(1.0, 1.5)
    rec, rows = play_and_record(pulse_server, player, 2.4, from_s=0.9)
    x = rec.samples[:, 0]
    score = ncc(x, src[R : R + 2400])  # the first 50 ms of the loop
    starts = np.flatnonzero(score > 0.99)
    assert starts.size >= 4
    period = np.diff(starts)
    assert np.all(np.abs(period - R // 2) <= R // 1000), f"gap at the wrap (samples): {period - R // 2}"
    for s in starts[:-1]:  # every pass is the loop, sample for sample, into the next pass
        np.testing.assert_allclose(x[s : s + R // 2], src[R : R + R // 2], atol=1e-4)
    lead_in = starts[0] - R // 10 + START_LOSS
    np.testing.assert_allclose(x[lead_in : starts[0]], src[int(0.9 * R) + START_LOSS : R], atol=1e-4)
    wraps = np.flatnonzero(np.diff(rows[:, 1]) < 0) + 1
    assert wraps.size >= 3
    assert rows[wraps[0]:, 1].min() >= 1.0 and rows[:, 1].max() < 1.5
    # position() wraps when the wrap is heard, not when the callback computed it
    wrap_heard = rows[wraps[0], 0] - (rows[wraps[0], 1] - 1.0)
    assert abs(wrap_heard - rec.time_of(starts[1])) <= FRAME


def test_device_rate_forced_resamples_once_at_load(pulse_server: PulseServer) -> None:
    rate = 44_100
    t = np.arange(rate) / rate
    tone = (0.5 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    with AudioPlayer("pulse") as native:
        native.load(tone, rate)
        assert native.rate == rate  # the sound server takes 44.1 kHz: nothing to do here
    with AudioPlayer("pulse", rate=R) as forced:
        forced.load(tone, rate)
        assert forced.rate == R and forced.duration == pytest.approx(1.0, abs=1e-3)
        rec, _ = play_and_record(pulse_server, forced, 1.3)
    x = rec.samples[:, 0]
    loud = np.flatnonzero(np.abs(x) > 0.05)
    assert (loud[-1] - loud[0]) / R == pytest.approx(1.0, abs=0.005)
    body = x[loud[0] + 2400 : loud[0] + 2400 + R // 2]
    spectrum = np.abs(np.fft.rfft(body * np.hanning(body.size), n=8 * body.size))
    assert np.argmax(spectrum) * R / (8 * body.size) == pytest.approx(1000, abs=2)


def test_lost_device_mid_play_continues_on_the_wall_clock(
        spare_pulse_server: PulseServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULSE_SERVER", spare_pulse_server.server)  # the 'pulse' device connects here
    messages: list[str] = []
    with AudioPlayer("pulse") as p:
        p.on_status.append(messages.append)
        p.load(noise(5.0, seed=4), R)
        assert p.status == ""
        p.play(0.0)
        time.sleep(0.5)
        spare_pulse_server.kill()
        killed, at_kill = time.monotonic(), p.position()
        rows = []
        while time.monotonic() - killed < 0.6:
            rows.append((time.monotonic(), p.position()))
            time.sleep(0.005)
        rows_a = np.asarray(rows)
        assert p.silent and p.playing
        assert messages == [p.status] and "playing silently" in p.status and "pulse" in p.status
        assert np.all(np.diff(rows_a[:, 1]) >= 0)
        advanced = rows_a[-1, 1] - at_kill
        assert advanced == pytest.approx(rows_a[-1, 0] - killed, abs=0.15)
        p.pause()
        p.play()  # tries the device again: still gone, still no exception, still keeping time
        assert p.silent and p.playing and "playing silently" in p.status
        assert p.position() >= rows_a[-1, 1]


@pytest.mark.slow
def test_no_drift_against_the_recorded_audio_over_25_s(pulse_server: PulseServer, player: AudioPlayer) -> None:
    src, clicks = click_train(26.0, every=0.5)
    player.load(src, R)
    rec, rows = play_and_record(pulse_server, player, 25.9)
    error, counts, glitches = click_errors(rec, rows, clicks)
    message = f"position - audio (ms): {np.round(error * 1000, 1)}, {glitches=}"
    assert np.abs(error[counts]).max() <= FRAME, message
    assert np.ptp(error[counts]) <= FRAME, message


# ---------------------------------------------------------------------------------------- no device


class FakeClock:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def silent_player(clock: FakeClock) -> AudioPlayer:
    p = AudioPlayer("no such device, anywhere", clock=clock)
    p.load(np.zeros((3 * R, 2), np.float32), R)
    return p


def test_unknown_device_plays_silently_on_the_wall_clock() -> None:
    clock = FakeClock()
    messages: list[str] = []
    p = AudioPlayer("no such device, anywhere", clock=clock)
    p.on_status.append(messages.append)
    p.load(np.zeros((3 * R, 2), np.float32), R)
    assert p.silent and messages == [p.status] and "playing silently" in p.status
    p.play(1.0)
    clock.t += 0.5
    assert p.position() == pytest.approx(1.5)
    p.pause()
    clock.t += 1.0
    assert p.position() == pytest.approx(1.5)
    p.set_loop(1.0, 2.0)
    p.play()
    clock.t += 1.25  # 1.5 -> 2.0, wrap, 1.0 -> 1.75
    assert p.position() == pytest.approx(1.75)
    p.set_loop(0.0, None)
    clock.t += 2.0
    assert p.position() == pytest.approx(3.0) and not p.playing


def test_portaudio_missing_is_a_status_not_an_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", None)  # import sounddevice -> ImportError
    clock = FakeClock()
    p = AudioPlayer(clock=clock)
    p.load(np.zeros(R, np.float32), R)
    assert p.silent and p.status.startswith("Audio output unavailable") and "playing silently" in p.status
    p.play(0.0)
    clock.t += 0.25
    assert p.position() == pytest.approx(0.25)


def test_no_output_device_at_all(tmp_path: Path) -> None:
    """PortAudio with nothing behind it: ALSA knows one device on a card that does not exist, no server.

    (An ALSA configuration without any ``pcm`` definition makes PortAudio 19.6 abort() at start-up,
    so "nothing" is spelled as a default device that cannot open.)
    """
    card = 'type hw card "mmface_no_such_card"'
    (tmp_path / "empty.conf").write_text(f"pcm.!default {{ {card} }}\nctl.!default {{ {card} }}\n")
    (tmp_path / "client.conf").write_text("autospawn = no\n")
    env = dict(os.environ, ALSA_CONFIG_PATH=str(tmp_path / "empty.conf"), PULSE_SERVER="unix:/nonexistent",
               PULSE_CLIENTCONFIG=str(tmp_path / "client.conf"), JACK_NO_START_SERVER="1",
               PYTHONPATH=str(REPO))
    script = (
        "import json, time, numpy as np\n"
        "from mmface_studio.audio.player import AudioPlayer\n"
        "p = AudioPlayer(); p.load(np.zeros(48000 * 2, np.float32), 48000); p.play(0.0); time.sleep(0.3)\n"
        "print(json.dumps({'status': p.status, 'silent': p.silent, 'position': p.position()}))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["status"] == "No audio output device: playing silently." and result["silent"]
    assert 0.28 <= result["position"] <= 0.6


def test_playback_clock_follows_its_time_source() -> None:
    clock = FakeClock()
    p = silent_player(clock)
    pc = PlaybackClock(fps=30, frame_count=60, time_source=p)  # a 2 s timeline over a 3 s clip
    assert p.length == pytest.approx(2.0)
    pc.play()
    clock.t += 0.5
    assert pc.current_frame() == 15 and p.playing
    clock.t += 2.0  # loops over the timeline, in the audio too
    assert pc.current_frame() == 15 and p.position() == pytest.approx(0.5)
    pc.loop = False
    pc.seek(50)
    assert p.position() == pytest.approx(50 / 30)
    clock.t += 1.0
    assert pc.current_frame() == 59 and not pc.playing and not p.playing
    pc.step(-5)
    assert pc.current_frame() == 54 and p.position() == pytest.approx(54 / 30)
    pc.set_time_source(None)  # back to its own clock, same frame
    assert pc.current_frame() == 54
    p.load(np.zeros(5 * R, np.float32), R)  # another clip: the timeline length stays the clock's
    assert p.length == pytest.approx(2.0) and p.duration == pytest.approx(5.0)


# ---------------------------------------------------------------------------------------- formats


def test_rate_negotiation_prefers_no_resampling() -> None:
    assert negotiate_rate(44_100, 48_000, lambda r: True) == 44_100
    assert negotiate_rate(22_050, 48_000, lambda r: r == 48_000) == 48_000
    assert negotiate_rate(22_050, 96_000, lambda r: r == 44_100) == 44_100
    assert negotiate_rate(44_100, 48_000, lambda r: True, preferred=96_000) == 96_000
    assert negotiate_rate(44_100, 48_000, lambda r: False) is None


def test_channel_choice_and_conversion() -> None:
    assert choose_channels(1, 2, lambda c: True) == 2
    assert choose_channels(6, 2, lambda c: True) == 2
    assert choose_channels(2, 1, lambda c: True) == 1
    assert choose_channels(1, 8, lambda c: c == 1) == 1
    mono = np.linspace(-1, 1, 4410, dtype=np.float32)
    out = prepare_output(mono, 44_100, 44_100, 2)
    assert out.dtype == np.float32 and out.flags.c_contiguous and np.array_equal(out[:, 0], out[:, 1])
    six = np.tile(np.arange(6, dtype=np.float32), (100, 1))
    np.testing.assert_allclose(prepare_output(six, R, R, 2), 2.5)  # centre dialogue survives the downmix
    resampled = prepare_output(np.zeros((44_100, 2), np.float32), 44_100, R, 2)
    assert resampled.shape == (R, 2) and resampled.dtype == np.float32
