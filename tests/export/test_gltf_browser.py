"""An exported GLB plays its morph animation in a real browser: three.js's GLTFLoader + AnimationMixer
in headless Chromium, served from 127.0.0.1 (web/play_glb.html)."""

from __future__ import annotations

import functools
import html
import json
import re
import shutil
import subprocess
import threading
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from mmface_studio.core.spaces import ARKIT52
from mmface_studio.core.tour import expression_tour
from mmface_studio.export import gltf
from tests.export.test_gltf import npm_package

PAGE = Path(__file__).parent / "web" / "play_glb.html"
CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (apt-get install chromium)")


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the stdlib's name
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A folder with the page, node_modules (three from npm) and the GLBs, served on 127.0.0.1."""
    three = npm_package("three")
    root = tmp_path_factory.mktemp("site")
    shutil.copy(PAGE, root / PAGE.name)
    (root / "node_modules").symlink_to(three.parent, target_is_directory=True)
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}/{PAGE.name}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def chromium(url: str, profile: Path, *extra: str) -> subprocess.CompletedProcess:
    args = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--no-first-run", "--enable-unsafe-swiftshader", "--hide-scrollbars",
            f"--user-data-dir={profile}", "--virtual-time-budget=30000", *extra, url]
    return subprocess.run(args, capture_output=True, text=True, timeout=180, check=False)


def page_report(url: str, profile: Path) -> dict:
    done = chromium(url, profile, "--dump-dom")
    match = re.search(r'<pre id="result">(.*?)</pre>', done.stdout, re.S)
    assert match and match.group(1), f"the page reported nothing; chromium said: {done.stderr[-2000:]}"
    report = json.loads(html.unescape(match.group(1)))
    assert "error" not in report, report["error"]
    return report


@pytest.fixture(scope="module")
def tour():
    return expression_tour(ARKIT52, fps=30.0, seconds_per_shape=0.3)


def test_three_js_plays_the_morph_weights_the_performance_says(site, tour, tmp_path) -> None:
    root, url = site
    gltf.write_to_file(tour, _rig(), root / "tour.glb")
    jaw, smile = ARKIT52.index["jawOpen"], ARKIT52.index["mouthSmileLeft"]
    f_jaw, f_smile = int(np.argmax(tour.values[jaw])), int(np.argmax(tour.values[smile]))
    times = [f_jaw / tour.fps, f_smile / tour.fps]
    report = page_report(f"{url}?glb=tour.glb&times={times[0]:.6f},{times[1]:.6f}", tmp_path / "profile")
    assert report["duration"] == pytest.approx((tour.frame_count - 1) / tour.fps, abs=1e-3)
    at_jaw, at_smile = (report["times"][f"{t:.6f}"] for t in times)
    assert at_jaw["jawOpen"] == pytest.approx(tour.values[jaw, f_jaw], abs=1e-3) and at_jaw["jawOpen"] > 0.9
    assert at_smile["jawOpen"] == pytest.approx(0.0, abs=1e-3)
    assert at_smile["mouthSmileLeft"] > 0.9 and at_jaw["mouthSmileLeft"] == pytest.approx(0.0, abs=1e-3)
    for frame, seen in ((f_jaw, at_jaw), (f_smile, at_smile)):  # every one of the 52 influences, by name
        expected = dict(zip(ARKIT52.names, tour.values[:, frame].tolist(), strict=False))
        assert set(seen) == set(_rig().blendshape_names)
        assert all(abs(seen[name] - expected[name]) < 1e-3 for name in seen)


def test_screenshot_shows_the_head_moving(site, tour, tmp_path) -> None:
    image = pytest.importorskip("PIL.Image")
    root, url = site
    gltf.write_to_file(tour, _rig(), root / "shot.glb")
    f_jaw = int(np.argmax(tour.values[ARKIT52.index["jawOpen"]]))
    report = page_report(f"{url}?glb=shot.glb&shot=0", tmp_path / "profile")
    if report.get("rendered") != "ok":
        pytest.skip(f"no WebGL in this headless Chromium: {report.get('rendered')}")
    shots = {}
    for name, t in (("neutral", 0.0), ("jaw_open", f_jaw / tour.fps)):
        target = tmp_path / f"glb_{name}.png"
        done = chromium(f"{url}?glb=shot.glb&shot={t:.6f}", tmp_path / "profile", "--window-size=800,800",
                        f"--screenshot={target}")
        assert target.is_file(), done.stderr[-2000:]
        shots[name] = np.asarray(image.open(target).convert("RGB"), dtype=np.float32)
    background = shots["neutral"][2, 2]
    head = np.abs(shots["neutral"] - background).sum(axis=2) > 30
    assert 0.08 < head.mean() < 0.7, "the head fills a sensible part of the frame"
    skin = shots["neutral"][head].mean(axis=0)
    assert skin[0] > skin[2], "lit skin tone (red over blue), not a flat or missing material"
    moved = np.abs(shots["jaw_open"] - shots["neutral"]).sum(axis=2) > 30
    assert moved.mean() > 0.003, "opening the jaw changes the picture"
    print(f"screenshots: {tmp_path / 'glb_neutral.png'}, {tmp_path / 'glb_jaw_open.png'}")


@functools.lru_cache(maxsize=1)
def _rig():
    from mmface_studio.rig.default_head import load_default_head

    return load_default_head()
