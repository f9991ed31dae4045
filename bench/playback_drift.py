"""Audio-master playback: does ``AudioPlayer.position()`` stay on the audio actually played?

Plays a click train (one click every 0.5 s) for 60 s through PortAudio into a private PulseAudio null
sink (tests/audio/pulse.py), records the sink's monitor, and compares, click by click, the moment
``position()`` said the click was being heard with the moment the sink played it. Prints JSON:
error and drift in 30 fps frames, xruns, the measured output latency, the cost of a position() call.
``--gil-load`` adds a thread that holds the GIL for that many ms out of every 16 ms, like a busy
GUI thread. Needs pulseaudio, pulseaudio-utils and libasound2-plugins (apt). Budget: drift <= 1 frame.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.audio.pulse import PulseServer, missing_tools  # noqa: E402

RATE = 48_000
FPS = 30.0


def _busy(stop: threading.Event, hold_ms: float) -> None:
    while not stop.is_set():
        end = time.perf_counter() + hold_ms / 1000
        while time.perf_counter() < end:  # pure Python: holds the GIL like layout/painting code
            pass
        time.sleep(max(0.016 - hold_ms / 1000, 0.001))


def run(seconds: float, gil_load_ms: float, latency_s: float) -> dict[str, object]:
    from mmface_studio.audio.player import AudioPlayer

    every = int(0.5 * RATE)
    src = np.zeros(int((seconds + 0.5) * RATE), np.float32)
    clicks = np.arange(every, src.size - every // 2, every)
    src[clicks] = 0.9
    with tempfile.TemporaryDirectory(prefix="mmface-pulse-") as tmp:
        server = PulseServer(Path(tmp))
        server.start()
        try:
            with server.activated(), AudioPlayer("pulse", latency_s=latency_s) as player:
                player.load(src, RATE)
                recorder = server.record()
                stop = threading.Event()
                busy = threading.Thread(target=_busy, args=(stop, gil_load_ms), daemon=True)
                if gil_load_ms > 0:
                    busy.start()
                rows, cost = [], []
                player.play(0.0)
                end = time.monotonic() + seconds + 0.4
                while (now := time.monotonic()) < end:
                    pos = player.position()
                    cost.append(time.monotonic() - now)
                    rows.append((now, pos))
                    time.sleep(0.005)
                stats = player.stats()
                player.pause()
                stop.set()
                time.sleep(0.1)
                recording = recorder.stop()
        finally:
            server.stop()
    table = np.asarray(rows)
    hits = np.flatnonzero(recording.samples[:, 0] > 0.5)
    if hits.size != clicks.size:
        return {"error": f"recorded {hits.size} clicks, played {clicks.size}", **stats}
    heard_by_position = np.interp(clicks / RATE, table[:, 1], table[:, 0])
    error = heard_by_position - recording.time_of(hits)
    slope = float(np.polyfit(clicks / RATE, error, 1)[0])
    return {
        "seconds": seconds,
        "gil_load_ms_per_16ms": gil_load_ms,
        "device": stats["device"],
        "rate": stats["rate"],
        "latency_s": round(float(stats["latency_s"]), 4),
        "callbacks": stats["callbacks"],
        "xruns": stats["xruns"],
        "timing_reanchors": stats["reanchors"],
        "clicks": int(clicks.size),
        "offset_ms_mean": round(float(error.mean() * 1000), 2),
        "error_ms_max_abs": round(float(np.abs(error).max() * 1000), 2),
        "drift_frames_spread": round(float((error.max() - error.min()) * FPS), 3),
        "drift_frames_per_60s_fit": round(slope * 60 * FPS, 4),
        "max_error_frames": round(float(np.abs(error).max() * FPS), 3),
        "position_monotonic": bool(np.all(np.diff(table[:, 1]) >= 0)),
        "position_call_us_median": round(float(np.median(cost) * 1e6), 1),
        "reference_note": "recorded monitor of a PulseAudio null sink; its clock is the monotonic clock, "
                          "its start time is known to a few ms (the sink's block)",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--gil-load", type=float, default=0.0, help="ms of every 16 ms a Python thread holds the GIL")
    parser.add_argument("--latency", type=float, default=0.1, help="requested output latency in seconds")
    args = parser.parse_args()
    reason = missing_tools()
    if reason:
        print(json.dumps({"skipped": reason}))
        return
    print(json.dumps(run(args.seconds, args.gil_load, args.latency), indent=2))


if __name__ == "__main__":
    main()
