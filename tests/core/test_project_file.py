"""``.mmfs`` files: exact round trips, atomic saves, migration, and a corpus of damaged or hostile files."""

from __future__ import annotations

import errno
import io
import json
import os
import pickle
import zipfile
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from mmface_studio.core import project_file
from mmface_studio.core.document import (
    Curve,
    CurveKey,
    EmotionTrack,
    LockRange,
    Marker,
    Project,
    ProjectFileError,
    load_project,
    read_from_file,
    save_project,
    write_to_file,
)
from mmface_studio.core.spaces import ARKIT52
from tests.core import make_clip, random_base, snapshot


def _full_project(clip=None) -> Project:
    return Project(
        audio=clip if clip is not None else make_clip(1.5, rate=44_100, channels=2, seed=3),
        transcript="hello there", prompt="smiles, then yawns", fps=30.0,
        emotion=EmotionTrack.parse("happiness:0.8@0,sadness:0.6@0.9~linear"),
        base=random_base(45, seed=5),
        layers={"jawOpen": Curve((CurveKey(0.1, 0.2, "smooth", 1.5, None), CurveKey(0.8, -0.1, "step"))),
                "HeadYaw": Curve((CurveKey(0.0, 0.05, "linear"),))},
        locks=[LockRange(0.2, 0.6)], markers=[Marker(0.5, "beat"), Marker(1.0, "")],
        rig="/models/flame2023_Open.pkl", identity={"shape00": 0.25, "shape01": -1.0},
        pose_seed=17, pose_style="nodding", engine="classic", emotion_prior_weight=0.35)


def _entries(path: Path) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in archive.namelist()}


def _write_zip(path: Path, entries: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return path


def _npy(values: np.ndarray, **kwargs) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, values, **kwargs)
    return buffer.getvalue()


# --- round trips ---------------------------------------------------------------------------------------


def test_round_trip_keeps_every_field_and_the_audio_samples_exactly(tmp_path: Path) -> None:
    project = _full_project()
    path = save_project(project, tmp_path / "scene.mmfs")
    loaded = load_project(path)
    assert snapshot(loaded)[:2] == snapshot(project)[:2]
    np.testing.assert_array_equal(loaded.evaluate().values, project.evaluate().values)
    a, b = project.audio, loaded.audio
    assert (b.original_rate, b.channels, b.name, b.format) == (44_100, 2, "take.wav", a.format)
    np.testing.assert_array_equal(b.original, a.original)  # 16-bit source: bit exact through 24-bit FLAC
    assert b.analysis.shape == a.analysis.shape
    assert loaded.identity == {"shape00": 0.25, "shape01": -1.0} and loaded.locks == (LockRange(0.2, 0.6),)
    assert loaded.layer("jawOpen").keys[0].in_tangent == 1.5
    assert loaded.emotion_prior_weight == 0.35
    assert set(_entries(path)) == {"manifest.json", "arrays/base.npy", "audio/original.flac"}
    assert read_from_file is load_project and write_to_file is save_project


def test_float_audio_is_within_24_bit_precision_and_wide_audio_falls_back_to_float_wav(tmp_path: Path) -> None:
    clip = make_clip(0.5, rate=48_000, sixteen_bit=False, seed=9)
    loaded = load_project(save_project(Project(audio=clip), tmp_path / "f.mmfs"))
    np.testing.assert_allclose(loaded.audio.original, clip.original, atol=2.0**-24)
    wide = make_clip(0.3, rate=16_000, channels=10, sixteen_bit=False)
    path = save_project(Project(audio=wide), tmp_path / "w.mmfs")
    assert "audio/original.wav" in _entries(path)
    np.testing.assert_array_equal(load_project(path).audio.original, wide.original)


def test_an_empty_project_round_trips_and_saving_is_deterministic(tmp_path: Path) -> None:
    project = Project()
    first = save_project(project, tmp_path / "a.mmfs").read_bytes()
    second = save_project(project, tmp_path / "b.mmfs").read_bytes()
    assert first == second
    assert snapshot(load_project(tmp_path / "a.mmfs")) == snapshot(project)


# --- atomic saving -------------------------------------------------------------------------------------


def test_a_full_disk_leaves_the_previous_file_intact(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = save_project(_full_project(), tmp_path / "scene.mmfs")
    before = path.read_bytes()

    def full_disk(fd: int) -> None:  # a physical full disk cannot be made here: the OS error is simulated
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fsync", full_disk)
    with pytest.raises(ProjectFileError, match=r"scene\.mmfs.*disk is full.*unchanged"):
        save_project(Project(prompt="new"), path)
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["scene.mmfs"]  # no temp file left behind


def test_an_unwritable_folder_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    with pytest.raises(ProjectFileError, match=r"Could not save scene\.mmfs"):
        save_project(Project(), blocker / "scene.mmfs")

    def denied(*args, **kwargs):
        raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path / "x"))

    monkeypatch.setattr(project_file, "atomic_write", denied)
    with pytest.raises(ProjectFileError, match="no permission to write"):
        save_project(Project(), tmp_path / "scene.mmfs")


# --- migration -----------------------------------------------------------------------------------------


def test_a_version_0_project_is_upgraded(tmp_path: Path) -> None:
    base = random_base(30, fps=25.0)
    flac = io.BytesIO()
    sf.write(flac, make_clip(1.2).original, 16_000, format="FLAC", subtype="PCM_16")
    manifest = {"schema": "mmface.project", "schema_version": 0, "fps": 25, "engine": "classic",
                "prompt": "nods", "transcript": None, "emotion": "happy:0.7@0,anger:0.2@1~step",
                "pose_seed": 4, "pose_style": "nodding", "locks": [{"start": 0.1, "end": 0.4}],
                "curves": {"jawOpen": [[0.0, 0.1], [1.0, 0.3]]}, "base": "base.npy", "base_fps": 25,
                "audio": "audio.flac"}
    path = _write_zip(tmp_path / "old.mmfs", {"manifest.json": json.dumps(manifest).encode(),
                                              "base.npy": _npy(base.values), "audio.flac": flac.getvalue()})
    project = load_project(path)
    assert project.fps == 25.0 and project.prompt == "nods" and project.transcript == ""
    assert project.emotion == EmotionTrack.parse("happy:0.7@0,anger:0.2@1~step")
    assert project.locks == (LockRange(0.1, 0.4),) and project.markers == ()
    assert [k.interpolation for k in project.layer("jawOpen").keys] == ["linear", "linear"]
    np.testing.assert_array_equal(project.base.values, base.values)
    assert project.audio.duration == pytest.approx(1.2)
    assert project.emotion_prior_weight == 0.1, "files from before the follow-voice weight get the default"
    # saved again, it is a current-version file
    again = save_project(project, tmp_path / "new.mmfs")
    assert json.loads(_entries(again)["manifest.json"])["schema_version"] == project_file_version()


def project_file_version() -> int:
    from mmface_studio.core.project_schema import SCHEMA_VERSION

    return SCHEMA_VERSION


# --- damaged and hostile files -------------------------------------------------------------------------


@pytest.fixture
def good(tmp_path: Path) -> dict[str, bytes]:
    return _entries(save_project(_full_project(make_clip(1.0)), tmp_path / "good.mmfs"))


def _manifest_edit(good: dict[str, bytes], edit) -> dict[str, bytes]:
    manifest = json.loads(good["manifest.json"])
    edit(manifest)
    return {**good, "manifest.json": json.dumps(manifest).encode()}


def _set(path: str, value):
    def edit(manifest: dict) -> None:
        *parents, last = path.split(".")
        target = manifest
        for key in parents:
            target = target[key]
        target[last] = value
    return edit


_OBJECT_NPY = _npy(np.array([{"a": 1}, None], dtype=object), allow_pickle=True)


def _header_only(shape: tuple[int, int]) -> bytes:
    """An .npy header promising ``shape`` float32, followed by almost no data."""
    buffer = io.BytesIO()
    np.lib.format.write_array_header_1_0(buffer, {"descr": "<f4", "fortran_order": False, "shape": shape})
    return buffer.getvalue() + b"\0" * 64


CORPUS = {
    "wrong schema label": (lambda g: _manifest_edit(g, _set("schema", "OTIO.Timeline")), "not an MMFace Studio"),
    "newer version": (lambda g: _manifest_edit(g, _set("schema_version", 2)), "newer MMFace Studio"),
    "version as text": (lambda g: _manifest_edit(g, _set("schema_version", "1")), "not a whole number"),
    "no manifest": (lambda g: {k: v for k, v in g.items() if k != "manifest.json"}, "manifest entry .* missing"),
    "manifest not json": (lambda g: {**g, "manifest.json": b"{not json"}, "not valid JSON"),
    "manifest with NaN": (lambda g: {**g, "manifest.json": g["manifest.json"].replace(b'"fps": 30.0', b'"fps": NaN')},
                          "NaN"),
    "missing npy": (lambda g: {k: v for k, v in g.items() if k != "arrays/base.npy"}, "array entry .* missing"),
    "object npy": (lambda g: {**g, "arrays/base.npy": _OBJECT_NPY}, "object"),
    "pickle as npy": (lambda g: {**g, "arrays/base.npy": pickle.dumps({"x": 1})}, "not a valid .npy"),
    "npy with NaN": (lambda g: {**g, "arrays/base.npy": _npy(np.full((61, 45), np.nan, np.float32))}, "NaN"),
    "npy int data": (lambda g: {**g, "arrays/base.npy": _npy(np.zeros((61, 30), np.int64))}, "int64"),
    "npy wrong shape": (lambda g: {**g, "arrays/base.npy": _npy(np.zeros((52, 30), np.float32))}, "shape"),
    "npy header promises a huge array": (lambda g: {**g, "arrays/base.npy": _header_only((61, 10**10))}, "shape"),
    "npy data missing": (lambda g: {**g, "arrays/base.npy": _header_only((61, 45))}, "truncated"),
    "path traversal": (lambda g: {**g, "../../etc/evil": b"x"}, "unsafe entry name"),
    "absolute path": (lambda g: {**g, "/tmp/evil": b"x"}, "unsafe entry name"),
    "drive letter": (lambda g: {**g, "C:\\evil": b"x"}, "unsafe entry name"),
    "manifest names traversal": (lambda g: _manifest_edit(g, _set("base.entry", "../base.npy")), "unsafe array entry"),
    "fps as text": (lambda g: _manifest_edit(g, _set("settings.fps", "fast")), "fps has the wrong type"),
    "seed as bool": (lambda g: _manifest_edit(g, _set("settings.pose_seed", True)), "integer"),
    "emotion not a list": (lambda g: _manifest_edit(g, _set("emotion", "happy")), "wrong type"),
    "intensity out of range": (lambda g: _manifest_edit(g, _set("emotion", [{"time": 0, "gammas": [2] * 7}])),
                               "between 0 and 1"),
    "layer on unknown channel": (lambda g: _manifest_edit(g, _set("layers", {"jaw": [{"time": 0, "value": 1}]})),
                                 "not a channel"),
    "lock reversed": (lambda g: _manifest_edit(g, _set("locks", [[2, 1]])), "start < end"),
    "settings missing": (lambda g: _manifest_edit(g, lambda m: m.pop("settings")), "field 'settings' is missing"),
    "audio garbage": (lambda g: {**g, "audio/original.flac": os.urandom(4000)},
                      r"audio .* cannot be decoded \(Format not recognised\)"),
    "audio rate mismatch": (lambda g: _manifest_edit(g, _set("audio.rate", 8000)), "does not match the manifest"),
}


@pytest.mark.parametrize("case", sorted(CORPUS))
def test_damaged_projects_are_refused_clearly(tmp_path: Path, good: dict[str, bytes], case: str) -> None:
    make, message = CORPUS[case]
    path = _write_zip(tmp_path / "bad.mmfs", make(good))
    with pytest.raises(ProjectFileError, match=message) as info:
        load_project(path)
    assert "bad.mmfs" in str(info.value)


@pytest.mark.parametrize("content", [b"", os.urandom(5000), b"PK\x03\x04" + os.urandom(300)])
def test_files_that_are_not_zips_are_refused(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "junk.mmfs"
    path.write_bytes(content)
    with pytest.raises(ProjectFileError, match=r"junk\.mmfs is damaged or is not an MMFace Studio project"):
        load_project(path)


def test_a_truncated_project_is_refused(tmp_path: Path) -> None:
    data = save_project(_full_project(), tmp_path / "whole.mmfs").read_bytes()
    for cut in (len(data) // 3, len(data) - 30):
        path = tmp_path / "cut.mmfs"
        path.write_bytes(data[:cut])
        with pytest.raises(ProjectFileError, match=r"cut\.mmfs"):
            load_project(path)


def test_missing_paths_duplicates_and_oversized_entries(tmp_path: Path, good: dict[str, bytes],
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ProjectFileError, match="no such file"):
        load_project(tmp_path / "nope.mmfs")
    with pytest.raises(ProjectFileError, match="not a file"):
        load_project(tmp_path)
    dup = tmp_path / "dup.mmfs"
    with zipfile.ZipFile(dup, "w") as archive, pytest.warns(UserWarning, match="Duplicate name"):
        for name, data in good.items():
            archive.writestr(name, data)
        archive.writestr("manifest.json", b"{}")
    with pytest.raises(ProjectFileError, match="twice"):
        load_project(dup)
    # a zip bomb: a small compressed entry that declares more than a manifest may be; refused before reading
    bomb = _write_zip(tmp_path / "bomb.mmfs", {**good, "manifest.json": b" " * (3 * 2**20)})
    assert bomb.stat().st_size < 100_000
    monkeypatch.setattr(project_file, "MAX_MANIFEST_BYTES", 2**20)
    with pytest.raises(ProjectFileError, match="declares 3145728 bytes"):
        load_project(bomb)
    monkeypatch.setattr(project_file, "MAX_TOTAL_BYTES", 2**20)
    with pytest.raises(ProjectFileError, match="GiB of content"):
        load_project(bomb)


def test_a_base_at_another_layout_or_frame_count_is_refused(tmp_path: Path, good: dict[str, bytes]) -> None:
    manifest = json.loads(good["manifest.json"])
    manifest["base"]["channels"] = list(reversed(ARKIT52.names))
    path = _write_zip(tmp_path / "order.mmfs", {**good, "manifest.json": json.dumps(manifest).encode()})
    with pytest.raises(ProjectFileError, match="channel layout"):
        load_project(path)
    manifest = json.loads(good["manifest.json"])
    manifest["base"]["frames"] = 44
    path = _write_zip(tmp_path / "frames.mmfs", {**good, "manifest.json": json.dumps(manifest).encode()})
    with pytest.raises(ProjectFileError, match="shape|declares"):
        load_project(path)
