"""Live lip-sync latency: a plosive into the (virtual) microphone -> the mouth opening in the streamed frames.

Runs the real capture path -- sounddevice -> PortAudio -> ALSA ``pulse`` plugin -> a private
PulseAudio server whose null sink's monitor is the microphone (tests/audio/virtual_mic.py) -- and
the live worker (``engine.live.LiveRunner``) exactly as the GUI does. ``pacat`` plays a train of
synthetic /ba/ syllables into the sink (a 5 ms burst then a vowel, one every 0.5 s with a random
offset so that bursts land anywhere within a capture block); a second, independent low-latency
recorder of the monitor says when the sink played each burst. For each trial the mouth-opening
onset is the first streamed frame whose jawOpen exceeds ``--threshold`` near the burst, and

    latency = the monotonic time that frame was made - the time the sink played the burst.

It is broken into *buffer* (PortAudio's ADC time of the block holding the last sample the onset
frame needed -> the callback delivering it), *lookahead* (audio after the burst that the onset
frame's window needed: half the 32 ms window, plus however long the mouth took to cross the
threshold) and *compute* (callback -> frame made), which sum to the latency measured from the ADC
time; ``capture_clock_error`` is how far that ADC time is from the independent reference.
Display adds at most one refresh (16.7 ms at 60 Hz) in the GUI; it is not part of this figure.

Prints JSON. Budget (DESIGN 5): median <= 80 ms, p95 <= 120 ms over >= 50 trials.
Needs pulseaudio, pulseaudio-utils and libasound2-plugins (apt) and a free ~40 s.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.audio.pulse import PulseServer, missing_tools  # noqa: E402
from tests.audio.virtual_mic import play_into_mic, plosive  # noqa: E402

RATE = 48_000
SPACING_S = 0.5


def _onsets(x: np.ndarray, rate: int, threshold: float = 0.05, quiet_s: float = 0.2) -> np.ndarray:
    """Sample indices where sound starts after at least ``quiet_s`` of silence."""
    loud = np.flatnonzero(np.abs(x) > threshold)
    if loud.size == 0:
        return loud
    keep = np.concatenate([[True], np.diff(loud) > quiet_s * rate])
    return loud[keep]


def _stats(values: list[float]) -> dict[str, float]:
    a = np.asarray(values) * 1000
    return {"median_ms": round(float(np.median(a)), 2), "p95_ms": round(float(np.percentile(a, 95)), 2),
            "min_ms": round(float(a.min()), 2), "max_ms": round(float(a.max()), 2)}


def run(trials: int, block_ms: float, lookahead_ms: float, threshold: float, rate: int | None) -> dict[str, object]:
    from mmface_studio.audio.capture import ANALYSIS_RATE, MicCapture
    from mmface_studio.engine.live import LiveRunner
    from mmface_studio.engine.stream import StreamSession
    from mmface_studio.engine.stream_features import HOP

    rng = np.random.default_rng(5)
    syllable = plosive(RATE)
    starts = (np.arange(trials) * SPACING_S + 0.4 + rng.uniform(0, 0.01, trials)) * RATE
    signal = np.zeros(int(starts[-1] + SPACING_S * RATE), np.float32)
    for s in starts.astype(int):
        signal[s:s + syllable.size] = syllable
    frames: list[tuple[int, np.ndarray, float]] = []
    with tempfile.TemporaryDirectory(prefix="mmface-pulse-") as tmp:
        server = PulseServer(Path(tmp))
        server.start()
        try:
            with server.activated():
                capture = MicCapture("pulse", rate=rate, block_s=block_ms / 1000)
                session = StreamSession(lookahead_s=lookahead_ms / 1000)
                need_times: dict[int, tuple[float, float]] = {}

                def listen(batch, made: float) -> None:  # worker thread: note the times while they are known
                    frames.append((batch.start, batch.channel("jawOpen").copy(), made))
                    for i in range(batch.start, batch.start + len(batch)):
                        hit = capture.captured_at(session.ready_sample(i) - 1)
                        if hit is not None:
                            need_times[i] = hit

                runner = LiveRunner(capture, session, listener=listen)
                runner.start()
                time.sleep(0.5)
                runner.start_recording()
                reference = server.record()
                player = play_into_mic(server, signal, RATE)
                player.wait()
                time.sleep(0.3)
                take = runner.stop_recording(wait=2.0)
                stats = runner.stats()
                runner.stop()
                rec = reference.stop()
        finally:
            server.stop()
    assert take is not None and take.audio.size, "nothing was captured"
    played = rec.time_of(_onsets(rec.samples[:, 0], rec.rate))
    clicks = take.start + np.round(_onsets(take.audio, take.rate) * ANALYSIS_RATE / take.rate).astype(int)
    index = np.concatenate([np.arange(s, s + v.size) for s, v, _ in frames])
    jaw_open = np.concatenate([v for _, v, _ in frames])
    made_at = np.concatenate([np.full(v.size, m) for _, v, m in frames])
    rows = []
    for c in clicks:
        hit = capture.captured_at(int(c))
        if hit is None or played.size == 0:
            continue
        t_play = played[np.argmin(np.abs(played - hit[1]))]
        lo = int(np.searchsorted(index, c // HOP - 5))
        hi = int(np.searchsorted(index, c // HOP + 20))
        above = np.flatnonzero(jaw_open[lo:hi] > threshold)
        if above.size == 0 or abs(hit[1] - t_play) > 0.05 or (lo > 0 and jaw_open[lo - 1] > threshold):
            continue  # no opening, a burst the reference did not see, or the mouth was already open
        o = lo + int(above[0])
        frame = int(index[o])
        if frame not in need_times:
            continue
        need = session.ready_sample(frame) - 1
        arrival, cap_need = need_times[frame]
        cap_click = cap_need - (need - c) / ANALYSIS_RATE
        rows.append({"latency": made_at[o] - t_play, "buffer": arrival - cap_need,
                     "lookahead": (need - c) / ANALYSIS_RATE, "compute": made_at[o] - arrival,
                     "clock_error": cap_click - t_play,
                     "onset_frame_vs_burst": (frame * HOP - c) / ANALYSIS_RATE})
    if not rows:
        raise SystemExit("no trial produced a mouth opening: check the threshold and the input")
    latency = _stats([r["latency"] for r in rows])
    return {
        "trials": len(rows), "trials_played": trials, "device": stats.device, "device_rate": stats.rate,
        "block_ms": block_ms, "session_lookahead_ms": round(session.lookahead_s * 1000, 2),
        "onset_threshold_jawOpen": threshold,
        "latency": latency,
        "breakdown_median": {key: round(float(np.median([r[key] for r in rows])) * 1000, 2)
                             for key in ("buffer", "lookahead", "compute")},
        "breakdown_p95": {key: round(float(np.percentile([r[key] for r in rows], 95)) * 1000, 2)
                          for key in ("buffer", "lookahead", "compute")},
        "capture_clock_error_ms": _stats([r["clock_error"] for r in rows]),
        "onset_frame_minus_burst_ms": _stats([r["onset_frame_vs_burst"] for r in rows]),
        "live_readout": {"latency_ms": stats.latency_ms, "p95_ms": stats.latency_p95_ms, "dropped": stats.dropped,
                         "late": stats.late},
        "budget": {"median_ms": 80, "p95_ms": 120},
        "within_budget": latency["median_ms"] <= 80 and latency["p95_ms"] <= 120,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=60)
    parser.add_argument("--block-ms", type=float, default=10.0)
    parser.add_argument("--lookahead-ms", type=float, default=16.0)
    parser.add_argument("--threshold", type=float, default=0.1, help="jawOpen above which the mouth counts as open")
    parser.add_argument("--rate", type=int, default=None, help="device rate to ask for (default: negotiated)")
    args = parser.parse_args()
    reason = missing_tools()
    if reason:
        print(json.dumps({"skipped": reason}))
        return 1
    print(json.dumps(run(args.trials, args.block_ms, args.lookahead_ms, args.threshold, args.rate), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
