"""Benchmark of the phonetic track: speed and accuracy on the dev recordings and on espeak-ng speech.

Prints one JSON document:

- ``clips``: per real dev recording (../shared/speech/dev): seconds of compute per second of
  audio for alignment, recognition (words and allphone) and `analyse_speech`; the plausibility
  verdict for the right transcript and for another clip's transcript; how well recognition
  agrees with the forced alignment (share of speech frames with the same phone / same mouth
  class, share of alignment phone boundaries with a recognition boundary within 20 ms).
- ``overall``: the same, pooled.
- ``textgrid``: word-boundary error of our alignment against the MFA TextGrid, when that file has
  a word tier.
- ``espeak``: word-start error of our alignment against espeak-ng's own word events (an
  independent timing reference), and frame agreement of alignment / recognition with espeak-ng's
  phoneme events, by mouth class.

Run: ``python bench/phonetic.py [--shared PATH]``. Not a test; nothing is asserted.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mmface_studio.audio import phonetic_decoder as decoder  # noqa: E402
from mmface_studio.audio.phonetic import (  # noqa: E402
    SILENCE,
    PhoneticTrack,
    align_transcript,
    analyse_speech,
    check_alignment,
    recognize_phones,
)
from mmface_studio.audio.phonetic_textgrid import read_textgrid  # noqa: E402

REPO = Path(__file__).resolve().parents[1]

#: Coarse mouth classes, roughly the visemes a lip-sync engine distinguishes.
MOUTH_CLASS = {
    p: c
    for c, ps in {
        "closed": "P B M",
        "lip-teeth": "F V",
        "tongue-teeth": "TH DH",
        "rounded": "W UW UH OW OY AW",
        "r": "R ER",
        "postalveolar": "CH JH SH ZH",
        "l": "L",
        "narrow": "T D N K G NG S Z Y HH",
        "open": "AA AE AH AO AY EH EY IH IY",
        "silence": "SIL",
    }.items()
    for p in ps.split()
}

#: espeak-ng en-us phoneme mnemonics to ARPAbet (approximate; enough for mouth classes).
ESPEAK_TO_ARPABET = {
    "p": "P",
    "b": "B",
    "t": "T",
    "d": "D",
    "k": "K",
    "g": "G",
    "f": "F",
    "v": "V",
    "T": "TH",
    "D": "DH",
    "s": "S",
    "z": "Z",
    "S": "SH",
    "Z": "ZH",
    "h": "HH",
    "m": "M",
    "n": "N",
    "N": "NG",
    "l": "L",
    "r": "R",
    "w": "W",
    "j": "Y",
    "tS": "CH",
    "dZ": "JH",
    "t#": "T",
    "n-": "N",
    "l-": "L",
    "m-": "M",
    "i:": "IY",
    "i": "IY",
    "I": "IH",
    "I2": "IH",
    "I#": "IH",
    "E": "EH",
    "a": "AE",
    "aa": "AE",
    "a#": "AH",
    "@": "AH",
    "@2": "AH",
    "@5": "AH",
    "V": "AH",
    "0": "AA",
    "A:": "AA",
    "A@": "AA",
    "O:": "AO",
    "O@": "AO",
    "o@": "AO",
    "O": "AO",
    "U": "UH",
    "u:": "UW",
    "3:": "ER",
    "3": "ER",
    "@L": "L",
    "aI": "AY",
    "eI": "EY",
    "OI": "OY",
    "aU": "AW",
    "oU": "OW",
    "e@": "EH",
    "i@": "IY",
    "U@": "UH",
    "aI@": "AY",
    "aU@": "AW",
    "i@3": "IY",
}

ESPEAK_SENTENCES = [
    "Peter picked a peck of pickled peppers, then he went home.",
    "My mother made a big bowl of warm soup for everybody.",
    "The quick brown fox jumps over the lazy dog.",
    "Please remember to bring the map when we meet by the bridge.",
    "She sells sea shells by the sea shore every summer.",
    "We were watching the rain from the window all afternoon.",
    "Maybe the best plan is to wait until the museum opens.",
    "Well, I think so. But, honestly, who knows?",
    "Bob bought a blue bike, and Pam paid for it.",
    "Five big problems kept the team busy for months.",
]


def frame_labels(track: PhoneticTrack, n: int) -> np.ndarray:
    return np.array(track.labels_at((np.arange(n) + 0.5) / 100.0), dtype=object)


def agreement(ref: np.ndarray, hyp: np.ndarray) -> dict[str, float]:
    """Frame and boundary agreement of ``hyp`` with ``ref`` (labels per 10 ms frame)."""
    speech = ref != SILENCE
    cls_ref = np.array([MOUTH_CLASS.get(x, "?") for x in ref])
    cls_hyp = np.array([MOUTH_CLASS.get(x, "?") for x in hyp])
    ref_b = np.nonzero(ref[1:] != ref[:-1])[0] + 1
    hyp_b = np.nonzero(hyp[1:] != hyp[:-1])[0] + 1
    near = [np.min(np.abs(hyp_b - b)) <= 2 for b in ref_b] if len(hyp_b) else [False] * len(ref_b)
    closed_ref, closed_hyp = cls_ref == "closed", cls_hyp == "closed"
    return {
        "phone_frames_same": float((ref == hyp)[speech].mean()) if speech.any() else float("nan"),
        "mouth_class_frames_same": float((cls_ref == cls_hyp)[speech].mean()) if speech.any() else float("nan"),
        "boundaries_within_20ms": float(np.mean(near)) if len(near) else float("nan"),
        "closure_frames_recall": float((closed_ref & closed_hyp).sum() / closed_ref.sum())
        if closed_ref.any()
        else float("nan"),
    }


def timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0


def mean_of(rows: list[dict], key: str) -> float:
    vals = [r[key] for r in rows if r.get(key) is not None and not np.isnan(r[key])]
    return float(np.mean(vals)) if vals else float("nan")


def bench_dev(shared: Path) -> dict:
    import soundfile as sf

    dev = shared / "speech" / "dev"
    rows = list(csv.DictReader((dev / "clips.tsv").open(), delimiter="\t"))
    clips = [(r["id"], sf.read(dev / r["wav16k"], dtype="float32")[0], r["transcript"]) for r in rows]
    out, totals = [], {"audio_s": 0.0, "align_s": 0.0, "recognize_s": 0.0, "allphone_s": 0.0, "analyse_s": 0.0}
    rec_agree, ap_agree = [], []
    for i, (cid, audio, transcript) in enumerate(clips):
        dur = len(audio) / 16000
        aligned, t_align = timed(align_transcript, audio, transcript)
        recognised, t_rec = timed(recognize_phones, audio)
        allphone, t_ap = timed(recognize_phones, audio, method="allphone")
        analysed, t_an = timed(analyse_speech, audio, transcript)
        wrong_text = clips[(i + 5) % len(clips)][2]
        wrong = analyse_speech(audio, wrong_text)
        verdict = check_alignment(audio, transcript)
        n = int(round(dur * 100))
        ref = frame_labels(aligned, n)
        ra, pa = agreement(ref, frame_labels(recognised, n)), agreement(ref, frame_labels(allphone, n))
        rec_agree.append(ra)
        ap_agree.append(pa)
        for key, val in (
            ("audio_s", dur),
            ("align_s", t_align),
            ("recognize_s", t_rec),
            ("allphone_s", t_ap),
            ("analyse_s", t_an),
        ):
            totals[key] += val
        out.append(
            {
                "id": cid,
                "duration_s": round(dur, 3),
                "align_s_per_s": round(t_align / dur, 4),
                "recognize_s_per_s": round(t_rec / dur, 4),
                "allphone_s_per_s": round(t_ap / dur, 4),
                "analyse_s_per_s": round(t_an / dur, 4),
                "analyse_mode": analysed.mode,
                "analyse_fallback_reason": analysed.fallback_reason,
                "aligned_words": " ".join(w.text for w in aligned.words),
                "recognised_words": " ".join(w.text for w in recognised.words),
                "verdict_right_transcript": verdict.as_dict() if verdict else None,
                "wrong_transcript": {
                    "transcript": wrong_text,
                    "mode": wrong.mode,
                    "fallback_reason": wrong.fallback_reason,
                },
                "recognition_vs_alignment": {k: round(v, 3) for k, v in ra.items()},
                "allphone_vs_alignment": {k: round(v, 3) for k, v in pa.items()},
            }
        )
    audio_s = totals["audio_s"]
    overall = {
        "clips": len(out),
        "audio_s": round(audio_s, 2),
        **{f"{k[:-2]}_s_per_s": round(v / audio_s, 4) for k, v in totals.items() if k != "audio_s"},
        "right_transcript_kept": sum(c["analyse_mode"] == "alignment" for c in out),
        "wrong_transcript_rejected": sum(c["wrong_transcript"]["mode"] == "recognition" for c in out),
        "recognition_vs_alignment": {k: round(mean_of(rec_agree, k), 3) for k in rec_agree[0]},
        "allphone_vs_alignment": {k: round(mean_of(ap_agree, k), 3) for k in ap_agree[0]},
    }
    return {"clips": out, "overall": overall, "textgrid": bench_textgrid(dev, dict((c[0], c[1:]) for c in clips))}


def bench_textgrid(dev: Path, clips: dict) -> list[dict]:
    results = []
    for path in sorted(dev.glob("*.TextGrid")):
        cid = path.stem
        tiers = read_textgrid(path.read_text())
        word_tier = next((t for t in tiers if "word" in t.name.lower()), None)
        if word_tier is None and len(tiers) == 1 and len(tiers[0].intervals) > 1:
            word_tier = tiers[0]
        ref = [iv for iv in (word_tier.intervals if word_tier else ()) if iv.text.strip()]
        if cid not in clips or len(ref) < 2:
            results.append(
                {
                    "textgrid": path.name,
                    "usable": False,
                    "why": (
                        f"no word-level tier: {len(tiers)} tier(s) {[t.name for t in tiers]}, "
                        f"{sum(len(t.intervals) for t in tiers)} interval(s) in all; the file holds the utterance "
                        "transcript (MFA input), not an alignment"
                    ),
                }
            )
            continue
        audio, transcript = clips[cid]
        track = align_transcript(audio, transcript)
        if len(track.words) != len(ref):
            results.append(
                {
                    "textgrid": path.name,
                    "usable": False,
                    "why": f"{len(ref)} reference words vs {len(track.words)} aligned",
                }
            )
            continue
        deltas = [
            abs(a - b)
            for w, iv in zip(track.words, ref, strict=True)
            for a, b in ((w.start, iv.start), (w.end, iv.end))
        ]
        results.append(
            {
                "textgrid": path.name,
                "usable": True,
                "boundaries": len(deltas),
                "median_abs_ms": round(1000 * float(np.median(deltas)), 1),
                "mean_abs_ms": round(1000 * float(np.mean(deltas)), 1),
                "max_abs_ms": round(1000 * float(np.max(deltas)), 1),
            }
        )
    return results


def bench_espeak() -> dict:
    from mmface_studio.audio.phonetic_espeak import espeak_available, synthesize

    if not espeak_available():
        return {"skipped": "the espeak-ng library is not available"}
    pad = 0.3
    errors, agree = [], {"alignment": [], "recognition": [], "allphone": []}
    for text in ESPEAK_SENTENCES:
        speech = synthesize(text)
        silence = np.zeros(int(pad * 16000), np.float32)
        audio = np.concatenate([silence, speech.audio16k, silence])
        track = align_transcript(audio, text)
        for word, ref in zip(track.words, speech.words, strict=True):
            if ref.start is not None:
                errors.append(1000 * (word.start - (ref.start + pad)))
        n = int(round(len(audio) / 160))
        ref_labels = np.array([SILENCE] * n, dtype=object)
        events = [(ESPEAK_TO_ARPABET.get(p.symbol, SILENCE), p.start + pad) for p in speech.phones]
        for k, (label, start) in enumerate(events):
            end = events[k + 1][1] if k + 1 < len(events) else start + 0.05
            ref_labels[int(round(start * 100)) : int(round(end * 100))] = label
        for name, hyp in (
            ("alignment", track),
            ("recognition", recognize_phones(audio)),
            ("allphone", recognize_phones(audio, method="allphone")),
        ):
            agree[name].append(agreement(ref_labels, frame_labels(hyp, n)))
    e = np.abs(errors)
    return {
        "sentences": len(ESPEAK_SENTENCES),
        "word_starts": len(errors),
        "word_start_abs_error_ms": {
            "median": round(float(np.median(e)), 1),
            "mean": round(float(e.mean()), 1),
            "p90": round(float(np.percentile(e, 90)), 1),
            "max": round(float(e.max()), 1),
        },
        "word_start_signed_mean_ms": round(float(np.mean(errors)), 1),
        "vs_espeak_phonemes": {name: {k: round(mean_of(rows, k), 3) for k in rows[0]} for name, rows in agree.items()},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=REPO.parent / "shared")
    parser.add_argument("--no-espeak", action="store_true")
    args = parser.parse_args()
    from importlib.metadata import version

    build = {}
    for kind in ("align", "words", "allphone"):
        t0 = time.perf_counter()
        with decoder.shared_decoder(kind):
            pass
        build[kind] = round(time.perf_counter() - t0, 3)
    report: dict = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "pocketsphinx": version("pocketsphinx"),
        },
        "decoder_build_s": build,
    }
    if (args.shared / "speech" / "dev" / "clips.tsv").exists():
        report.update(bench_dev(args.shared))
    else:
        report["clips"] = f"skipped: {args.shared / 'speech' / 'dev'} not found"
    report["espeak"] = {"skipped": "--no-espeak"} if args.no_espeak else bench_espeak()
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
