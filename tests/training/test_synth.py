"""The synthetic corpus: determinism, held-out splits, true bilabial closures, augmentation, text, shards.

A ~25 s corpus is built twice per module (once through the CLI, once through the API) with
whatever synthesisers this machine has (espeak-ng always; festival and Piper when installed).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from mmface_studio.audio.phonetic_espeak import espeak_available
from mmface_studio.core.spaces import ARKIT52
from mmface_studio.engine import metrics as m
from mmface_studio.engine.request import SILENCE
from mmface_studio.training.synth import (
    CorpusConfig,
    build_corpus,
    open_shard,
    phonemap,
    plan_corpus,
    programs,
    read_index,
    voices,
)
from mmface_studio.training.synth import augment as A
from mmface_studio.training.synth.sentences import sentence_pool

pytestmark = pytest.mark.skipif(not espeak_available(), reason="the espeak-ng library is not available")

HOURS = 25 / 3600
SEED = 11


def _cli(argv: list[str]) -> int:
    from mmface_studio import cli_data

    parser = argparse.ArgumentParser()
    cli_data.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    return int(args.func(args))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("corpus")
    assert _cli(["data", "synth", "--hours", str(HOURS), "--out", str(out), "--seed", str(SEED),
                 "--shard-minutes", "0.2", "--text-only-share", "0.25", "--mel"]) == 0
    return out


def _examples(folder: Path) -> list[dict]:
    index = read_index(folder)
    out = []
    for entry in index["shards"]:
        shard = open_shard(folder, entry)
        out += [shard.example(i) for i in range(len(shard))]
    return out


def test_same_seed_gives_the_same_bytes_and_another_seed_does_not(corpus: Path, tmp_path: Path) -> None:
    config = CorpusConfig(hours=HOURS, seed=SEED, text_only_share=0.25, shard_seconds=12.0, with_mel=True)
    result = build_corpus(tmp_path / "again", config)
    names = sorted(p.name for p in corpus.iterdir())
    assert names == sorted(p.name for p in (tmp_path / "again").iterdir())
    assert len([n for n in names if n.endswith(".npz")]) >= 2
    for name in names:
        assert (corpus / name).read_bytes() == (tmp_path / "again" / name).read_bytes(), name
    assert result["build"]["corpus_minutes_per_wall_minute"] > 0
    other = plan_corpus(CorpusConfig(hours=HOURS, seed=SEED + 1), voices.available_voices())
    assert [p.seed for p in other] != [p.seed for p in plan_corpus(config, voices.available_voices())]


def test_held_out_split_has_no_voice_or_sentence_from_train() -> None:
    plans = plan_corpus(CorpusConfig(hours=3.0, seed=3), voices.available_voices())
    seen = {s: (set(), set()) for s in ("train", "val", "test")}
    for plan in plans:
        if plan.kind == "speech":
            seen[plan.split][0].add(plan.voice)
            seen[plan.split][1].add(plan.sentence)
    for held_out in ("val", "test"):
        assert seen[held_out][0] and seen[held_out][1]
        assert not seen[held_out][0] & seen["train"][0]
        assert not seen[held_out][1] & seen["train"][1]
    assert not seen["val"][0] & seen["test"][0]
    assert {p.kind for p in plans} == {"speech", "actions"}
    pool = {s.id: s for s in sentence_pool()}
    assert len(pool) >= 300
    assert all(pool[s].split == "test" for s in seen["test"][1])


def test_corpus_index_shards_and_arrays(corpus: Path) -> None:
    index = read_index(corpus)
    assert index["channels"] == list(ARKIT52.names) and index["fps"] == 30.0
    examples = _examples(corpus)
    assert len(examples) == index["totals"]["examples"] > 3
    assert {ex["meta"]["kind"] for ex in examples} == {"speech", "actions"}
    for entry in index["shards"]:
        with np.load(corpus / entry["file"], allow_pickle=False) as data:
            assert data["audio"].dtype == np.int16 and data["arkit"].shape[0] == 61
    for ex in examples:
        meta = ex["meta"]
        assert ex["arkit"].shape[1] == int(np.ceil(len(ex["audio"]) / 16000 * 30 - 1e-6)) == meta["n_frames"]
        assert ex["emotion"].shape == (7, meta["n_frames"])
        assert np.all((ex["emotion"] >= 0) & (ex["emotion"] <= 1))
        assert 0 <= ex["pose_style"] < len(index["pose_styles"])
        assert set(meta["text"]) == {"action", "emotion", "expression", "head_pose", "scenario"}
        assert all(isinstance(v, str) and len(v) > 10 for v in meta["text"].values())
        if meta["kind"] == "actions":
            assert meta["voice"] is None and meta["sentence"] is None
            level = 20 * np.log10(np.sqrt(np.mean((ex["audio"] / 32767.0) ** 2)) + 1e-9)
            assert level < -40.0  # silent apart from an optional quiet room tone


def test_targets_close_the_lips_at_bilabials(corpus: Path) -> None:
    from mmface_studio.rig.default_head import load_default_head

    rig = load_default_head()
    intervals, rates = 0, []
    for ex in _examples(corpus):
        if ex["meta"]["kind"] != "speech":
            continue
        gaps = m.lip_gap(rig, ex["arkit"])
        phones = [(p[0], p[1], p[2]) for p in ex["meta"]["phones"]]
        bilabial = [p for p in phones if p[0] in m.BILABIALS]
        intervals += len(bilabial)
        if bilabial:
            rates.append(m.closure_rate(gaps, bilabial, 30.0))
        vowels = [p for p in phones if p[0] in ("AA", "AE", "AH", "AO", "AY", "EH") and p[2] - p[1] > 0.08]
        if vowels:  # and the mouth opens on open vowels: closures are not just a closed mouth
            assert max(gaps[m.frames_in(s, e, 30.0, gaps.size)].max() for _, s, e in vowels) > 3 * m.CLOSURE_THRESHOLD_M
    assert intervals >= 5
    assert np.mean(rates) >= m.CLOSURE_RATE_MIN


def test_espeak_bilabial_spans_sit_on_the_measured_closure() -> None:
    voice = voices.Voice("espeak", "en-us", "train")
    speech = voices.synthesize(voice, "a pa, a ba, a ma.", 1.0)
    spans = {p.label: p for p in speech.phones if p.label in ("P", "B", "M")}
    from mmface_studio.audio.phonetic_espeak import synthesize

    raw = synthesize("a pa, a ba, a ma.", "en-us", 170)
    truth = m.espeak_bilabial_intervals(raw.phones, raw.audio16k)
    for label, start, end in truth:
        span = spans[label]
        assert span.start == pytest.approx(start, abs=0.011) and span.end >= end - 0.011, (label, span, start, end)
    assert speech.phones[0].start == 0.0 and speech.phones[-1].end == pytest.approx(speech.duration)


def test_piper_ipa_tokens_become_arpabet_spans() -> None:
    tokens = [("^", 512), ("b", 1024), ("ˈ", 512), ("a", 1024), ("ɪ", 512), (" ", 1024), ("m", 1024), ("ˈ", 256),
              ("i", 1024), ("ː", 512), (".", 2048), ("$", 256)]
    spans = phonemap.ipa_spans(tokens, 22050, sum(n for _, n in tokens) / 22050)
    labels = [p.label for p in spans]
    assert labels == [SILENCE, "B", "AY", "M", "IY", SILENCE]
    assert spans[2].start == pytest.approx(1536 / 22050)  # the stress mark's time goes to the vowel
    assert spans[3].start == pytest.approx((1536 + 512 + 1024 + 512 + 512) / 22050)  # half of the word space
    assert all(a.end == pytest.approx(b.start) for a, b in zip(spans, spans[1:], strict=False))


def test_festival_segments_and_espeak_symbols_map_to_arpabet(tmp_path: Path) -> None:
    segs = tmp_path / "x.segs"
    segs.write_text("EST_File Segment\nDataType ascii\n#\n0.2 100 pau\n0.3 100 b\n0.45 100 ax\n0.5 100 m\n")
    spans = phonemap.festival_spans(voices._read_segs(segs), 0.6)
    assert [(p.label, round(p.start, 2), round(p.end, 2)) for p in spans] == [
        (SILENCE, 0.0, 0.2), ("B", 0.2, 0.3), ("AH", 0.3, 0.45), ("M", 0.45, 0.5), (SILENCE, 0.5, 0.6)]
    assert [phonemap.espeak_label(s) for s in ("p", "m-", "aI@", "O:", "_:", "3:", "tS")] == [
        "P", "M", "AY", "AO", SILENCE, "ER", "CH"]


def _speechlike(seconds: float = 1.5) -> np.ndarray:
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * 16000)) / 16000
    voiced = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 12))
    return (0.3 * voiced * (0.6 + 0.4 * np.sin(2 * np.pi * 4 * t)) + 0.01 * rng.standard_normal(t.size)) \
        .astype(np.float32)


def _lag(a: np.ndarray, b: np.ndarray) -> int:
    corr = np.fft.irfft(np.fft.rfft(b, 2 * a.size) * np.conj(np.fft.rfft(a, 2 * a.size)))
    lag = int(np.argmax(corr))
    return lag if lag < a.size else lag - 2 * a.size


def test_augmentation_changes_audio_but_keeps_length_and_timing() -> None:
    from mmface_studio.audio.features import compute_features

    x = _speechlike()
    for plan in (A.AugmentPlan(pitch_semitones=3.0, seed=1), A.AugmentPlan(eq_db=(6, -6, 3, -3, 6), seed=2),
                 A.AugmentPlan(reverb={"rt60_s": 0.5, "wet": 0.4}, seed=3),
                 A.AugmentPlan(noise={"colour": "pink", "snr_db": 10.0}, seed=4),
                 A.AugmentPlan(codec={"cutoff_hz": 3400.0, "bits": 8}, seed=5)):
        y = A.apply_after_timing(x, plan)
        assert y.shape == x.shape and y.dtype == np.float32
        assert not np.allclose(y, x, atol=1e-3)
        assert np.array_equal(y, A.apply_after_timing(x, plan))  # deterministic for its seed
        if plan.pitch_semitones is None:
            assert abs(_lag(x, y)) <= 16, plan  # no shift against the targets (1 ms)
    f0 = compute_features(x).f0_hz
    shifted = compute_features(A.apply_after_timing(x, A.AugmentPlan(pitch_semitones=3.0))).f0_hz
    both = (f0 > 0) & (shifted > 0)
    assert np.median(shifted[both] / f0[both]) == pytest.approx(2 ** (3 / 12), rel=0.03)
    noisy = A.add_noise(x.astype(np.float64), "white", 20.0, np.random.default_rng(0)) - x
    assert 10 * np.log10(np.mean(x.astype(np.float64) ** 2) / np.mean(noisy ** 2)) == pytest.approx(20.0, abs=1.0)
    faster = A.apply_speed(x, 1.1)
    assert len(faster) == pytest.approx(len(x) / 1.1, abs=2)


def test_action_programs_move_their_channels() -> None:
    program = programs.ActionProgram((programs.ActionEvent("yawn", 0.5, 2.5, 1.0),
                                      programs.ActionEvent("smile", 3.0, 4.5, 1.0)), 5.0)
    base = np.zeros((len(ARKIT52), 150), np.float32)
    out = programs.apply_actions(base, program, 30.0, np.random.default_rng(0))
    jaw, smile = out[ARKIT52.index["jawOpen"]], out[ARKIT52.index["mouthSmileLeft"]]
    assert jaw[45] > 0.8 and jaw[0] == 0 and jaw[100] < 0.05
    assert smile[112] > 0.75 and smile[45] == 0
    track = programs.action_emotion(program)
    assert track.sample([3.75])[1, 0] > 0.6  # happiness during the smile
    assert np.all(out <= ARKIT52.maximums[:, None]) and np.all(out >= ARKIT52.minimums[:, None])


def test_text_levels_vary_in_wording_and_name_the_actions(corpus: Path) -> None:
    metas = [ex["meta"] for ex in _examples(corpus)]
    actions = [m_ for m_ in metas if m_["kind"] == "actions"]
    assert actions
    from mmface_studio.training.synth.text import _ACTION_TEXT

    for meta in actions:
        for name, *_ in meta["actions"]:
            assert any(p in meta["text"]["action"] for p in _ACTION_TEXT[name]), (name, meta["text"]["action"])
    from mmface_studio.training.synth.text import describe

    program = programs.EmotionProgram("constant", programs.EmotionTrack.constant(anger=0.7), (("anger", 0.7),))
    values = np.zeros((len(ARKIT52), 90), np.float32)
    texts = [describe(np.random.default_rng(i), values, 30.0, program) for i in range(12)]
    assert len({t["emotion"] for t in texts}) >= 4  # the same labels, worded differently
    assert all(any(w in t["emotion"] for w in ("angry", "annoyed", "furious", "irritated")) for t in texts)
    assert all("still" in t["head_pose"] or "steady" in t["head_pose"] for t in texts)


def test_synthetic_dataset_loads_and_collates_and_check_passes(corpus: Path, capsys: pytest.CaptureFixture) -> None:
    from torch.utils.data import DataLoader

    from mmface_studio.training.datasets import SyntheticDataset, collate

    data = SyntheticDataset(corpus)
    batch = next(iter(DataLoader(data, batch_size=4, collate_fn=collate)))
    assert batch["motion"].shape[0] == 4 and batch["motion"].shape[2] == 61
    assert batch["emotion"].shape[:2] == batch["motion"].shape[:2]
    assert batch["motion_mask"].sum(1).tolist() == batch["motion_lengths"].tolist()
    assert batch["audio"].shape[1] == int(batch["audio_lengths"].max())
    assert set(batch["text"]) == {"action", "emotion", "expression", "head_pose", "scenario"}
    assert batch["mel"].shape[2] == 80 and batch["mel_lengths"].tolist() == [
        int(np.ceil(n / 160)) for n in batch["audio_lengths"].tolist()]
    assert len(SyntheticDataset(corpus, split="train")) <= len(data)
    assert _cli(["data", "check", str(corpus)]) == 0
    assert "no problems" in capsys.readouterr().out
    index = json.loads((corpus / "index.json").read_text())
    assert index["totals"]["seconds"] > 15
