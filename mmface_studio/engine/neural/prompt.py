"""Free-text prompt -> MMHead's five text levels, so MM2Face sees text shaped like its training data.

MM2Face is trained on hierarchical annotations (seed 001: action, emotion, expression, head pose,
scenario). An animator types one sentence ("a nervous man, glancing down, nodding when he
agrees"); each clause goes to the level whose vocabulary it uses, and clauses that match no level
go to the action level. The whole prompt is also the scenario, which in MMHead describes the
situation in a full sentence.
"""

from __future__ import annotations

import re

from mmface_studio.engine.encoders.text import TEXT_LEVELS

_KEYWORDS: dict[str, tuple[str, ...]] = {
    "emotion": ("happy", "happiness", "joy", "sad", "sadness", "angry", "anger", "furious", "fear", "afraid",
                "scared", "nervous", "anxious", "surprise", "surprised", "disgust", "disgusted", "calm", "neutral",
                "excited", "upset", "worried", "cheerful", "content", "annoyed", "irritated", "tense"),
    "head_pose": ("nod", "nods", "nodding", "shake", "shakes", "shaking", "tilt", "tilts", "tilting", "turn",
                  "turns", "turning", "head", "glance", "glancing", "look", "looks", "looking", "lean", "leaning"),
    "expression": ("smile", "smiles", "smiling", "frown", "frowns", "frowning", "brow", "brows", "eyebrow",
                   "eyebrows", "grin", "grins", "sneer", "pout", "squint", "squints", "wide-eyed", "blink",
                   "blinks", "blinking", "lips", "mouth", "yawn", "yawns", "yawning", "jaw"),
}


def prompt_levels(prompt: str) -> dict[str, str]:
    """Split ``prompt`` into the text levels the MM2Face text encoder expects (empty levels omitted)."""
    clauses = [c.strip() for c in re.split(r"[,;.]|\band then\b|\bthen\b", prompt) if c.strip()]
    levels: dict[str, list[str]] = {level: [] for level in TEXT_LEVELS}
    for clause in clauses:
        words = set(re.findall(r"[a-z-]+", clause.lower()))
        placed = False
        for level, keys in _KEYWORDS.items():
            if words & set(keys):
                levels[level].append(clause)
                placed = True
        if not placed:
            levels["action"].append(clause)
    levels["scenario"] = [prompt.strip()] if prompt.strip() else []
    return {level: ", ".join(parts) for level, parts in levels.items() if parts}
