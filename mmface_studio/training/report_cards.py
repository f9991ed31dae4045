"""The report's tables in Markdown, its notes, and the model cards and JSON metadata it updates.

A checkpoint's card (``NAME.md``) gets one "Held-out metrics" section with every table of the
report, its own rows in bold, so a reader sees it beside the classic engine and its siblings;
running the report again replaces the section instead of adding another. Its ``NAME.json`` gets
its own numbers under ``metrics.held_out`` (the rest of the file is kept; written atomically).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

SECTION = "## Held-out metrics"
_SECTION_RE = re.compile(r"^## Held-out metrics[ \t]*\n.*?(?=^## |\Z)", re.S | re.M)

#: (report key, title, columns as (field, header, format)).
TABLES: tuple[tuple[str, str, tuple[tuple[str, str, str], ...]], ...] = (
    ("lipsync", "Lip sync on held-out synthetic speech", (
        ("lve_mm", "LVE (mm)", ".2f"), ("fve_mm", "FVE (mm)", ".2f"), ("closure_rate", "/p b m/ closure", ".3f"),
        ("lip_gap_jitter_mm", "lip-gap jitter (mm/frame)", ".3f"), ("jaw_jitter", "jaw jitter", ".4f"),
        ("emotion_accuracy", "emotion acc. (clips)", ".3f"), ("emotion_frame_accuracy", "emotion acc. (frames)",
                                                               ".3f"))),
    ("pose", "Head pose on held-out synthetic speech", (
        ("fid", "pose FID", ".3f"), ("diversity", "diversity (features)", ".3f"), ("spread_deg", "spread (deg)",
                                                                                   ".2f"))),
    ("r_precision", "Text faithfulness: R-precision (batch 32)", (
        ("top1", "top-1", ".3f"), ("top2", "top-2", ".3f"), ("top3", "top-3", ".3f"))),
    ("dev", "Real voices (dev clips, no ground truth)", (
        ("closure_rate", "/p b m/ closure", ".3f"), ("bilabials", "bilabials", "d"),
        ("r_median", "r opening-energy (median)", ".3f"), ("r_min", "r (min)", ".3f"),
        ("lip_gap_jitter_mm", "lip-gap jitter (mm/frame)", ".3f"), ("jaw_jitter", "jaw jitter", ".4f"))),
)


def finite(value: Any) -> Any:
    """JSON has no NaN: numbers that do not apply become null (recursively)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    if hasattr(value, "item") and getattr(value, "ndim", 1) == 0:
        return finite(value.item())
    return value


def _cell(value: Any, fmt: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "n/a"
    return format(int(value) if fmt == "d" else float(value), fmt)


def _mine(label: str, name: str | None) -> bool:
    return name is not None and (label == name or label.startswith(name + " "))


def tables(report: dict[str, Any], highlight: str | None = None) -> str:
    """Every table of the report as Markdown; rows of checkpoint ``highlight`` in bold."""
    parts = []
    for key, title, columns in TABLES:
        rows = report.get(key)
        if not rows:
            continue
        head = "| engine | " + " | ".join(h for _, h, _ in columns) + " |"
        lines = [f"### {title}", "", head, "|" + "---|" * (len(columns) + 1)]
        for label, row in rows.items():
            cells = [_cell(row.get(f), fmt) for f, _, fmt in columns]
            name = f"**{label}**" if _mine(label, highlight) else label
            lines.append(f"| {name} | " + " | ".join(cells) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n"


def section(report: dict[str, Any], highlight: str | None = None) -> str:
    """The card section: where the numbers come from, the tables, and what they mean."""
    head = (f"{SECTION}\n\nMeasured by `mmface-studio report` on {report['created'][:10]} against "
            f"`{report['corpus']}` ({report['test_clips']} held-out speech clips"
            + (f", {next(iter(report['dev'].values()))['clips']} real dev clips" if report.get("dev") else "")
            + f"), {report['seconds']:.0f} s on the CPU.\n\n")
    return head + tables(report, highlight) + "\n" + "\n".join(f"- {n}" for n in report.get("notes", ())) + "\n"


def replace_section(card: str, new: str) -> str:
    """``card`` with its Held-out metrics section replaced by ``new`` (appended when it has none)."""
    if _SECTION_RE.search(card):
        return _SECTION_RE.sub(lambda _m: new.rstrip("\n") + "\n\n", card, count=1).rstrip("\n") + "\n"
    return card.rstrip("\n") + "\n\n" + new


def own_metrics(report: dict[str, Any], name: str) -> dict[str, Any]:
    """A checkpoint's own numbers, and the classic engine's and the targets' beside them, for its JSON ``metrics``."""
    out: dict[str, Any] = {"evaluated": report["created"], "corpus": report["corpus"],
                           "test_clips": report["test_clips"]}
    for key, _, _ in TABLES:
        mine = {label: row for label, row in (report.get(key) or {}).items() if _mine(label, name)}
        if mine:
            out[key] = mine[name] if list(mine) == [name] else mine
            reference = {label: row for label, row in report[key].items() if label.startswith(("classic", "targets"))}
            if reference:
                out[f"{key}_reference"] = reference
    return finite(out)


def update_cards(report: dict[str, Any]) -> list[Path]:
    """Write the section into each evaluated checkpoint's card and its numbers into its JSON (beside its weights)."""
    from mmface_studio.core.atomic import atomic_write

    written = []
    for entry in report["checkpoints"]:
        stem = Path(entry["stem"])
        card_path, meta_path = stem.parent / f"{stem.name}.md", stem.parent / f"{stem.name}.json"
        card = card_path.read_text(encoding="utf-8") if card_path.is_file() else f"# {entry['name']}\n"
        text = replace_section(card, section(report, entry["name"]))
        atomic_write(card_path, lambda h, t=text: h.write(t.encode("utf-8")))
        doc = json.loads(meta_path.read_text(encoding="utf-8"))
        doc["metrics"] = {**(doc.get("metrics") or {}), "held_out": own_metrics(report, entry["name"])}
        blob = (json.dumps(doc, indent=2, allow_nan=False) + "\n").encode("utf-8")
        atomic_write(meta_path, lambda h, b=blob: h.write(b))
        written += [card_path, meta_path]
    return written


def notes(report: dict[str, Any]) -> list[str]:
    """What the numbers mean and what they cannot say (printed under the tables and in the cards)."""
    out = [
        f"Held-out synthetic speech: {report['test_clips']} test clips ({report['test_seconds']} s) whose voices and "
        "sentences never occur in training. The targets are synthetic: the classic engine (the teacher) under a "
        "random emotion program, blink seed and head-motion seed. Every engine gets that same emotion program "
        "(rebuilt from the clip's keys), blink seed, pose seed and style; neural engines hear only the audio.",
        "LVE (max lip-vertex error per frame) and FVE (mean face-vertex error) in mm on the built-in head, head pose "
        "zeroed. The classic engine on the true phones is the teacher itself: its error comes only from prosody "
        "measured on the augmented audio. /p b m/ closure is pooled over the synthesiser's true bilabials; a mouth "
        "that never opens would score 1 there, so read it with LVE and, on the dev clips, with r.",
        "Emotion accuracy: a small classifier trained on train-split target faces (per frame, labels = the "
        "requested dominant emotion) votes per clip; the share of clips whose vote is the requested dominant "
        "emotion. The targets row is its ceiling. ResNet1D and MM2Face get their emotion from the engine's classic "
        "FACS overlay on the same gamma_t; Audio2FLAME from its own emotion-augment network.",
        "Head pose: FID between 64-frame windows of generated and test-target head pose, in the 16 features of "
        "the seed-002 autoencoder trained on the train split; 'targets (train vs test)' is the FID of real vs "
        "real, the floor at this sample size. Diversity: mean feature distance between takes of different seeds "
        "for the same audio and style; spread: their RMS angle difference in degrees.",
    ]
    if "r_precision" in report:
        out.append("R-precision (top-k text->motion retrieval in batches of 32, chance 1/32 and 3/32, mean of "
                   "shuffles) uses MM2Face's raw samples (face + its own head pose, same audio and seed) with the "
                   "clip's five text levels vs with no text, scored by a retrieval model trained on the train split.")
    if "dev" in report:
        out.append("Dev clips: real recordings no model heard. Closure is measured against pocketsphinx's alignment "
                   "of the transcript (the classic engine is driven by those same phones; neural engines never "
                   "see them); r is the Pearson correlation of lip gap and 500-4000 Hz energy outside closures.")
    out.append(f"Yardsticks cached in {report['yardsticks'].get('cache')}.")
    return out
