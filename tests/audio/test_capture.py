"""Microphone capture: the lock-free ring, block-wise resampling, the level meter, and the real device path.

The device tests capture through sounddevice -> PortAudio -> ALSA ``pulse`` -> a private PulseAudio
server whose null sink's monitor is the microphone (``virtual_mic``): what ``pacat`` plays into the
sink is what the capture must deliver. Only a refused microphone permission cannot be produced
here; it is simulated at the smallest seam, the ``PortAudioError`` that sounddevice raises.
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
from scipy.signal import correlate, resample_poly

from mmface_studio.audio.capture import (
    DeviceLostError,
    MicCapture,
    MicPermissionError,
    NoInputError,
    UnsupportedRateError,
    list_input_devices,
    negotiate_input_rate,
)
from mmface_studio.audio.ring_buffer import SampleRing
from mmface_studio.audio.stream_dsp import LevelMeter, StreamResampler
from tests.audio.pulse import PulseServer
from tests.audio.virtual_mic import play_into_mic, speech

REPO = Path(__file__).resolve().parents[2]


# ---------------------------------------------------------------------------------------- ring buffer


def test_ring_returns_exactly_what_was_written_across_the_wrap() -> None:
    ring = SampleRing(100)
    source = np.arange(1000, dtype=np.float32)
    out, i = [], 0
    for size in [7, 60, 33, 99, 1, 45] * 10:
        block = source[i:i + size]
        assert ring.write(block)
        i += block.size
        out.append(ring.read(max_frames=size + 3)[:, 0])
    out.append(ring.read()[:, 0])
    assert np.array_equal(np.concatenate(out), source[:i])
    assert ring.overflows == 0 and ring.available == 0


def test_overflow_drops_whole_blocks_and_keeps_the_timeline_with_silence() -> None:
    ring = SampleRing(100)
    assert ring.write(np.ones(80, np.float32))
    assert not ring.write(np.full(30, 2.0, np.float32))  # does not fit: dropped whole, counted
    assert (ring.overflows, ring.dropped) == (1, 30)
    first = ring.read()[:, 0]
    assert ring.write(np.full(10, 3.0, np.float32))  # the 30 lost frames come back as silence first
    after = ring.read()[:, 0]
    assert np.array_equal(first, np.ones(80))
    assert np.array_equal(after, np.r_[np.zeros(30), np.full(10, 3.0)])
    assert ring.written == 120  # 80 + 30 lost + 10: a recording keeps its length


def test_threaded_producer_and_consumer_lose_nothing_and_never_tear() -> None:
    """A producer thread writing blocks as a sound card would, a consumer reading at its own pace."""
    ring = SampleRing(4096)
    total = 300_000
    source = np.arange(total, dtype=np.float32)
    got: list[np.ndarray] = []
    done = threading.Event()

    def produce() -> None:
        rng = np.random.default_rng(1)
        i = 0
        while i < total:
            n = min(int(rng.integers(1, 512)), total - i)
            while ring.free < n:  # a paced producer (a sound card never outruns a consumer that keeps up)
                time.sleep(0)
            assert ring.write(source[i:i + n])
            i += n
        done.set()

    def consume() -> None:
        while not (done.is_set() and ring.available == 0):
            block = ring.read()
            if block.size:
                got.append(block[:, 0])
            else:
                time.sleep(0)

    threads = [threading.Thread(target=produce), threading.Thread(target=consume)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert ring.overflows == 0
    assert np.array_equal(np.concatenate(got), source)


def test_threaded_overflow_drops_whole_blocks_and_accounts_for_them() -> None:
    """A consumer that stalls: what it reads is the source in order, with whole blocks missing and silence
    standing in for them; nothing torn, nothing duplicated, every lost frame counted."""
    ring = SampleRing(1000)
    block, total = 100, 60_000
    source = 1.0 + np.arange(total, dtype=np.float32)  # value - 1 = source index; 0 = silence
    got: list[np.ndarray] = []
    done = threading.Event()

    def produce() -> None:
        for i in range(0, total, block):
            ring.write(source[i:i + block])
            time.sleep(0.0001)
        done.set()

    def consume() -> None:
        while not (done.is_set() and ring.available == 0):
            got.append(ring.read()[:, 0])
            time.sleep(0.004 if len(got) % 7 else 0.02)

    threads = [threading.Thread(target=produce), threading.Thread(target=consume)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    out = np.concatenate(got)
    assert ring.overflows > 0, "the consumer was meant to fall behind"
    assert out.size == ring.written
    index = out[out != 0] - 1
    assert np.all(np.diff(index) > 0), "order kept, nothing read twice"
    jumps = np.flatnonzero(np.diff(index) > 1)
    assert np.all(index[jumps + 1] % block == 0) and np.all((index[jumps] + 1) % block == 0), "whole blocks only"
    assert index.size + ring.dropped == total
    assert (out == 0).sum() <= ring.dropped  # silence stands in for lost audio, never for more


# ---------------------------------------------------------------------------------------- dsp


@pytest.mark.parametrize("rate", [48_000, 44_100, 8_000])
def test_block_resampling_equals_whole_signal_resampling(rate: int) -> None:
    x = np.random.default_rng(2).standard_normal(rate).astype(np.float32)
    g = np.gcd(rate, 16_000)
    whole = resample_poly(x, 16_000 // g, rate // g)
    r = StreamResampler(rate, 16_000)
    rng = np.random.default_rng(3)
    cuts = np.cumsum(rng.integers(1, 900, 200))
    parts = [r.process(p) for p in np.split(x, cuts[cuts < x.size])]
    blocks = np.concatenate(parts)
    assert blocks.size >= whole.size - int(r.delay_s * 16_000) - 1
    assert np.allclose(blocks, whole[: blocks.size], atol=2e-6)


def test_level_meter_reads_dbfs_and_holds_the_peak() -> None:
    meter = LevelMeter(16_000)
    t = np.arange(1600) / 16_000
    for _ in range(20):  # 2 s of a -6 dBFS sine
        meter.update(0.5 * np.sin(2 * np.pi * 440 * t))
    assert meter.rms_db == pytest.approx(-9.03, abs=0.2)  # sine RMS is 3 dB under its peak
    assert meter.peak_db == pytest.approx(-6.02, abs=0.1)
    meter.update(np.zeros(1600))
    assert meter.peak_db == pytest.approx(-6.02, abs=0.1)  # held
    for _ in range(30):
        meter.update(np.zeros(1600))
    assert meter.peak_db < -40 and meter.rms_db < -60


def test_rate_negotiation_prefers_no_conversion_and_explains_refusal() -> None:
    assert negotiate_input_rate(44_100, lambda r: True) == 48_000
    assert negotiate_input_rate(44_100, lambda r: r in (44_100, 16_000)) == 44_100
    assert negotiate_input_rate(8_000, lambda r: r == 16_000) == 16_000  # a headset that only does 16 kHz
    assert negotiate_input_rate(48_000, lambda r: True, preferred=32_000) == 32_000
    with pytest.raises(UnsupportedRateError, match="none of the sample rates"):
        negotiate_input_rate(4_000, lambda r: r == 4_000)


# ---------------------------------------------------------------------------------------- real device


def _capture_while(capture: MicCapture, player, after_s: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """Read until ``after_s`` after the player is done; (16 kHz audio, level meter RMS dBFS every 20 ms)."""
    audio, levels = [], []
    end = time.monotonic() + player.duration + 10.0
    while time.monotonic() < end:
        if player.done:
            end = min(end, time.monotonic() + after_s)
        audio.append(capture.read().audio)
        levels.append(capture.meter.rms_db)
        time.sleep(0.02)
    audio.append(capture.read().audio)
    return np.concatenate(audio), np.asarray(levels)


def test_captures_what_is_spoken_into_the_virtual_microphone(pulse_server: PulseServer) -> None:
    assert "pulse" in [d.name for d in list_input_devices()]
    said = speech("Testing the microphone, one two three.", lead_s=0.3, tail_s=0.3)
    with MicCapture("pulse") as capture:
        capture.start()
        assert capture.rate == 48_000  # no conversion in the sound server (lower latency than asking 16 kHz)
        time.sleep(0.2)
        capture.read()
        player = play_into_mic(pulse_server, said, 16_000)
        audio, levels = _capture_while(capture, player)
        player.wait()
        assert capture.overflows == 0
    c = correlate(audio, said, mode="valid", method="fft")
    at = int(np.argmax(c))
    piece = audio[at:at + said.size]
    assert np.corrcoef(piece, said)[0, 1] > 0.95  # the same speech, intact (after 16 -> 48 -> 16 kHz)
    assert levels.max() > -35 and levels.min() < -80  # the meter shows the speech and the silence around it


def test_device_lost_mid_take_keeps_what_arrived(spare_pulse_server: PulseServer,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PULSE_SERVER", spare_pulse_server.server)  # the 'pulse' device now reads the spare
    capture = MicCapture("pulse")
    capture.start()
    time.sleep(0.4)
    spare_pulse_server.kill()
    got, error = [], None
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline and error is None:
        try:
            got.append(capture.read().audio)
        except DeviceLostError as exc:
            error = str(exc)
        time.sleep(0.01)
    assert error is not None and "stopped delivering audio" in error and "kept" in error
    assert sum(a.size for a in got) >= 0.3 * 16_000  # the audio from before the loss was all readable
    assert not capture.running
    assert capture.read().audio.size == 0  # later reads are quiet, not errors
    capture.stop()


def test_ring_overflow_is_counted_and_the_timeline_kept(pulse_server: PulseServer) -> None:
    """A consumer that stalls longer than the ring holds: blocks are dropped and counted, and the lost time
    comes back as silence (up to a ring's length), so the stream keeps pace with the clock."""
    with MicCapture("pulse", ring_s=0.5) as capture:
        capture.start()
        time.sleep(0.8)  # stalled: the 500 ms ring overflows by ~300 ms
        first = capture.read()
        for _ in range(10):  # then it keeps up again
            time.sleep(0.02)
            capture.read()
        capture.stop()
        assert capture.overflows > 0
        assert first.raw.size <= 0.5 * 48_000  # at most a ring's worth was kept...
        assert capture.ring.written == capture.delivered  # ...but every frame given is there or stands as silence


def test_unknown_device_and_refused_rate_have_clear_messages(pulse_server: PulseServer) -> None:
    with pytest.raises(NoInputError, match='Microphone "Studio Mic 9000" not found'):
        MicCapture("Studio Mic 9000").start()
    with pytest.raises(UnsupportedRateError, match="does not give 500000 Hz"):
        MicCapture("pulse", rate=500_000).start()


def test_refused_permission_is_explained(pulse_server: PulseServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Simulated: PortAudio raising the error a refused ALSA open gives (EACCES, -13)."""
    import sounddevice as sd

    def refuse(*args, **kwargs):
        raise sd.PortAudioError("Error opening InputStream: Unanticipated host error [PaErrorCode -9999]: "
                                "'Permission denied' [ALSA error -13]")

    monkeypatch.setattr(sd, "InputStream", refuse)
    with pytest.raises(MicPermissionError, match="refused by the system") as info:
        MicCapture("pulse").start()
    assert "privacy settings" in str(info.value)


def test_no_input_device_at_all(tmp_path: Path) -> None:
    """PortAudio with nothing behind it (see test_player's twin): a clear message, not a crash."""
    card = 'type hw card "mmface_no_such_card"'
    (tmp_path / "empty.conf").write_text(f"pcm.!default {{ {card} }}\nctl.!default {{ {card} }}\n")
    (tmp_path / "client.conf").write_text("autospawn = no\n")
    env = dict(os.environ, ALSA_CONFIG_PATH=str(tmp_path / "empty.conf"), PULSE_SERVER="unix:/nonexistent",
               PULSE_CLIENTCONFIG=str(tmp_path / "client.conf"), JACK_NO_START_SERVER="1", PYTHONPATH=str(REPO))
    script = (
        "import json\n"
        "from mmface_studio.audio.capture import MicCapture, NoInputError, list_input_devices\n"
        "try:\n    MicCapture().start(); message = None\n"
        "except NoInputError as exc:\n    message = str(exc)\n"
        "print(json.dumps({'devices': len(list_input_devices()), 'message': message}))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["devices"] == 0 and result["message"].startswith("No microphone found")
