"""``mmface-studio report``: every family and the classic engine get a row, numbers are finite, cards get one section.

A ~20 s espeak-ng corpus (seed picked so that it has held-out speech and train clips) and tiny
untrained checkpoints; the yardsticks train for a few steps. What is tested is the plumbing the
model cards rely on, not the quality of untrained weights.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from mmface_studio.audio.phonetic_espeak import espeak_available
from mmface_studio.engine.checkpoints import load_checkpoint, save_checkpoint
from mmface_studio.engine.models.base import families
from mmface_studio.training import report_cards
from mmface_studio.training.report import CLASSIC, TARGETS, ReportConfig, run_report
from mmface_studio.training.report_models import YardstickSteps

pytestmark = pytest.mark.skipif(not espeak_available(), reason="the espeak-ng library is not available")

FAMILIES = ("audio2flame", "resnet1d", "mm2face", "pose")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from mmface_studio.training.synth import CorpusConfig, build_corpus, plan_corpus, voices

    speakers = voices.available_voices(("espeak",))
    for seed in range(200):  # the first seed whose plan holds out >= 2 speech clips and trains on >= 2
        config = CorpusConfig(hours=20 / 3600, seed=seed, backends=("espeak",), text_only_share=0.1)
        plans = plan_corpus(config, speakers)
        if (sum(p.split == "test" and p.kind == "speech" for p in plans) >= 2
                and sum(p.split == "train" for p in plans) >= 2):
            break
    out = tmp_path_factory.mktemp("corpus")
    build_corpus(out, config)
    return out


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> Path:
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("models")
    for family in FAMILIES:
        cls = families()[family]
        extra = {"text_dim": 384} if family == "mm2face" else {}
        save_checkpoint(cls(cls.config_class.tiny(audio_dim=80, space="arkit52", **extra)), folder / f"t-{family}",
                        metadata={"fps": 30.0, "feature_type": "logmel80", "training_data": "untrained (test)"})
    (folder / "t-resnet1d.md").write_text("# t-resnet1d\n\n## Training\n\nuntrained\n", encoding="utf-8")
    return folder


def _one_dev_clip(shared_dir: Path, folder: Path) -> Path | None:
    """A dev folder listing only the shortest real clip (1 s: pocketsphinx alignment stays quick)."""
    dev = shared_dir / "speech" / "dev"
    if not (dev / "clips.tsv").is_file():
        return None
    rows = list(csv.DictReader((dev / "clips.tsv").open(encoding="utf-8"), delimiter="\t"))
    row = min(rows, key=lambda r: float(r["duration_s"]))
    (folder / "clips.tsv").write_text(f"id\ttranscript\twav16k\n{row['id']}\t{row['transcript']}\t"
                                      f"{dev / row['wav16k']}\n", encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def report(corpus: Path, models: Path, shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict:
    dev = _one_dev_clip(shared_dir, tmp_path_factory.mktemp("dev"))
    config = ReportConfig(data=corpus, models=models, dev=dev, max_clips=2, pose_seeds=2, classic_modes=("truth",),
                          cache=tmp_path_factory.mktemp("yardsticks"), steps=YardstickSteps(3, 3, 3), rp_repeats=2)
    return run_report(config)


def _finite(row: dict, *keys: str) -> None:
    for key in keys:
        assert isinstance(row[key], float) and math.isfinite(row[key]), (key, row)


def test_every_family_and_classic_has_finite_numbers(report: dict) -> None:
    lip = report["lipsync"]
    assert {TARGETS, CLASSIC["truth"], "t-audio2flame", "t-resnet1d", "t-mm2face"} <= set(lip)
    for label, row in lip.items():
        _finite(row, "lve_mm", "fve_mm", "lip_gap_jitter_mm", "jaw_jitter", "emotion_accuracy",
                "emotion_frame_accuracy")
        assert row["clips"] == 2
        assert row["bilabials"] == 0 or 0.0 <= row["closure_rate"] <= 1.0, label
    assert lip[CLASSIC["truth"]]["lve_mm"] < lip["t-resnet1d"]["lve_mm"]  # the teacher is near its own output
    pose = report["pose"]
    assert {"classic head motion", "t-pose"} <= set(pose)
    for label in ("classic head motion", "t-pose"):
        _finite(pose[label], "fid", "diversity", "spread_deg")
    assert pose["classic head motion"]["spread_deg"] > 0.0  # other seeds, other takes
    rp = report["r_precision"]
    assert {"targets (ceiling)", "t-mm2face with text", "t-mm2face without text"} <= set(rp)
    for row in rp.values():
        _finite(row, "top1", "top3")
        assert 0.0 <= row["top1"] <= row["top3"] <= 1.0
    if "dev" in report:
        assert {"classic (aligned transcript)", "t-audio2flame", "t-resnet1d", "t-mm2face"} <= set(report["dev"])
    assert report["yardsticks"]["retrieval"]["path"]  # cached
    text = report_cards.tables(report)
    for name in ("t-audio2flame", "t-resnet1d", "t-mm2face", "t-pose", "classic"):
        assert name in text


def test_cards_get_the_section_once_and_json_keeps_the_rest(report: dict, models: Path) -> None:
    before = json.loads((models / "t-resnet1d.json").read_text())
    for _ in range(2):
        report_cards.update_cards(report)
    for family in FAMILIES:
        card = (models / f"t-{family}.md").read_text()
        assert card.count(report_cards.SECTION) == 1, family
        assert f"**t-{family}**" in card
        doc = json.loads((models / f"t-{family}.json").read_text())
        assert doc["metrics"]["held_out"]["test_clips"] == 2
    card = (models / "t-resnet1d.md").read_text()
    assert card.index("## Training") < card.index(report_cards.SECTION)  # appended after the existing card
    after = json.loads((models / "t-resnet1d.json").read_text())
    assert {k: v for k, v in after.items() if k != "metrics"} == {k: v for k, v in before.items() if k != "metrics"}
    assert np.isfinite(after["metrics"]["held_out"]["lipsync"]["lve_mm"])
    model, info = load_checkpoint(models / "t-resnet1d")  # still loads: weights and checksum untouched
    assert info.metrics["held_out"]["lipsync"]["clips"] == 2


def test_section_is_replaced_in_place_keeping_later_sections() -> None:
    card = "# x\n\n## Held-out metrics\n\nold\n\n### Old table\n\n## Licence\n\nCC0\n"
    new = report_cards.replace_section(card, "## Held-out metrics\n\nnew\n")
    assert new.count("## Held-out metrics") == 1 and "old" not in new and "new" in new
    assert new.index("new") < new.index("## Licence") and new.endswith("CC0\n")
    assert report_cards.replace_section(new, "## Held-out metrics\n\nnew\n") == new


def test_cli_refuses_a_folder_that_is_not_a_corpus(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    from mmface_studio.cli_report import main

    assert main(["report", "--data", str(tmp_path), "--models", str(tmp_path)]) == 2
    assert "not a synthetic corpus" in capsys.readouterr().err
