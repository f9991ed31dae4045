"""Praat TextGrid in and out for phonetic tracks.

Why: TextGrid is what forced aligners (Montreal Forced Aligner, Gentle exports, Praat itself)
produce and what phoneticians edit. Reading one lets an animator bring an alignment made
elsewhere (or corrected by hand) instead of ours, and lets benchmarks compare against such a
reference; writing one lets them inspect and fix ours in Praat.

Both the "long" and the "short" text formats are read; the long one is written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from mmface_studio.audio.phonetic_track import SILENCE, Phone, PhoneticTrack, Word, normalise_phone_label, tidy_phones

_TOKEN = re.compile(r'"((?:[^"]|"")*)"|([-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)')
_INDEX = re.compile(r"\[\s*\d*\s*\]")


@dataclass(frozen=True)
class Interval:
    start: float
    end: float
    text: str


@dataclass(frozen=True)
class Tier:
    name: str
    intervals: tuple[Interval, ...]  # point tiers: start == end


def read_textgrid(text: str) -> list[Tier]:
    """Tiers of a TextGrid in long or short text format; raises ValueError if it is not one."""
    tokens: list[str | float] = []
    for line in text.splitlines():
        line = _INDEX.sub("", line) if '"' not in line else line
        for quoted, number in _TOKEN.findall(line):
            tokens.append(float(number) if number else quoted.replace('""', '"'))
    if len(tokens) < 5 or tokens[0] != "ooTextFile" or tokens[1] != "TextGrid":
        raise ValueError("not a Praat TextGrid text file")
    pos = 4  # skip file type, object class, xmin, xmax
    n_tiers = int(tokens[pos])
    pos += 1
    tiers: list[Tier] = []
    try:
        for _ in range(n_tiers):
            kind, name = str(tokens[pos]), str(tokens[pos + 1])
            count = int(tokens[pos + 4])
            pos += 5
            intervals = []
            for _ in range(count):
                if kind == "IntervalTier":
                    intervals.append(Interval(float(tokens[pos]), float(tokens[pos + 1]), str(tokens[pos + 2])))
                    pos += 3
                else:
                    intervals.append(Interval(float(tokens[pos]), float(tokens[pos]), str(tokens[pos + 1])))
                    pos += 2
            tiers.append(Tier(name, tuple(intervals)))
    except (IndexError, ValueError) as exc:
        raise ValueError(f"truncated or malformed TextGrid: {exc}") from exc
    return tiers


def _find(tiers: list[Tier], name: str) -> Tier | None:
    for tier in tiers:
        if tier.name.lower() == name or tier.name.lower().endswith(f" - {name}"):
            return tier
    return None


def track_from_textgrid(text: str, duration: float | None = None) -> PhoneticTrack:
    """An "alignment" track from a TextGrid with "words" and "phones" tiers (MFA's layout).

    MFA's ARPAbet labels keep stress digits and use "" / "sil" / "spn" for silence and noise;
    they are normalised like ours. Raises ValueError when a tier is missing.
    """
    tiers = read_textgrid(text)
    word_tier, phone_tier = _find(tiers, "words"), _find(tiers, "phones")
    if word_tier is None or phone_tier is None:
        names = ", ".join(t.name for t in tiers) or "none"
        raise ValueError(f"the TextGrid needs 'words' and 'phones' tiers (it has: {names})")
    words = [
        Word(iv.text.lower(), iv.start, iv.end)
        for iv in word_tier.intervals
        if iv.text.strip() and iv.text.lower() not in {"<eps>", "sil", "sp", "<unk>"}
    ]
    total = duration if duration is not None else max((iv.end for iv in phone_tier.intervals), default=0.0)
    phones = []
    for iv in phone_tier.intervals:
        raw = iv.text.strip()
        label = SILENCE if raw.lower() in {"", "sil", "sp", "spn"} else normalise_phone_label(raw)
        index = next((i for i, w in enumerate(words) if w.start - 1e-6 <= iv.start < w.end - 1e-6), None)
        phones.append(Phone(label, iv.start, iv.end, None if label == SILENCE else index))
    return PhoneticTrack(tidy_phones(phones, total), tuple(words), "alignment", total)


def track_to_textgrid(track: PhoneticTrack) -> str:
    """The track as a long-format TextGrid with "words" and "phones" tiers (silence as "")."""

    def tier(name: str, items: list[tuple[float, float, str]]) -> list[str]:
        filled: list[tuple[float, float, str]] = []
        cursor = 0.0
        for start, end, label in items:
            if start > cursor + 1e-9:
                filled.append((cursor, start, ""))
            filled.append((start, end, label))
            cursor = end
        if track.duration > cursor + 1e-9:
            filled.append((cursor, track.duration, ""))
        lines = [
            '        class = "IntervalTier"',
            f'        name = "{name}"',
            "        xmin = 0",
            f"        xmax = {track.duration!r}",
            f"        intervals: size = {len(filled)}",
        ]
        for k, (start, end, label) in enumerate(filled, 1):
            text = label.replace('"', '""')
            lines += [
                f"        intervals [{k}]:",
                f"            xmin = {start!r}",
                f"            xmax = {end!r}",
                f'            text = "{text}"',
            ]
        return lines

    words = [(w.start, w.end, w.text) for w in track.words]
    phones = [(p.start, p.end, "" if p.label == SILENCE else p.label) for p in track.phones]
    out = [
        'File type = "ooTextFile"',
        'Object class = "TextGrid"',
        "",
        "xmin = 0",
        f"xmax = {track.duration!r}",
        "tiers? <exists>",
        "size = 2",
        "item []:",
    ]
    for k, (name, items) in enumerate((("words", words), ("phones", phones)), 1):
        out.append(f"    item [{k}]:")
        out += tier(name, items)
    return "\n".join(out) + "\n"
