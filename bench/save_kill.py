"""SIGKILL in the middle of saving a project: the previous file must stay intact and open every time.

Each run starts a subprocess that saves a 60 s project (48 kHz stereo audio + generated take) over
the same path again and again, kills it with SIGKILL after a random delay, then opens the file.
A kill mid-write leaves the save's hidden temp file; opening the project must sweep it (the bench
never deletes anything itself, so a sweep that misses one shows in ``temp_files_after_open``).
Prints JSON. ``--runs 100`` is the acceptance run; the test suite runs a few.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD = r"""
import sys, numpy as np
from mmface_studio.audio import clip_from_array
from mmface_studio.core.document import Project, save_project
from mmface_studio.engine import GenerationRequest, Pipeline, synthetic_analysis
path, seed = sys.argv[1], int(sys.argv[2])
rng = np.random.default_rng(seed)
audio = (0.1 * rng.standard_normal((48000 * 60, 2))).astype(np.float32)
clip = clip_from_array(audio, 48000, name="take")
base = Pipeline().run(GenerationRequest(audio=clip.analysis), analysis=synthetic_analysis(60.0, seed=seed))
project = Project(audio=clip, base=base, prompt=f"run {seed}")
print("ready", flush=True)
while True:
    save_project(project, path)
"""


def run(runs: int, seed: int = 0) -> dict:
    from mmface_studio.core.document import Project, load_project, save_project

    rng = random.Random(seed)
    folder = Path(tempfile.mkdtemp(prefix="mmface-kill-"))
    path = folder / "take.mmfs"
    save_project(Project(prompt="initial"), path)
    intact, opened_prompts, leftovers, after_open = 0, set(), 0, 0
    started = time.perf_counter()
    for i in range(runs):
        child = subprocess.Popen([sys.executable, "-c", CHILD, str(path), str(i)], stdout=subprocess.PIPE, text=True)
        assert child.stdout is not None
        child.stdout.readline()  # "ready": the project is built; from here on it only saves
        time.sleep(rng.uniform(0.0, 0.6))
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        leftovers += len([p for p in folder.iterdir() if p.name != path.name])
        project = load_project(path)  # raises if the file under the final name is damaged; sweeps stale parts
        opened_prompts.add(project.prompt)
        intact += 1
        after_open += len([p for p in folder.iterdir() if p.name != path.name])
    return {"runs": runs, "opened_intact": intact, "distinct_versions_seen": len(opened_prompts),
            "temp_files_left_by_killed_saves": leftovers, "temp_files_after_open": after_open,
            "seconds": round(time.perf_counter() - started, 1)}


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=100)
    print(json.dumps(run(parser.parse_args().runs), indent=2))
