"""Material looks per rig part: base colour and Phong terms for the head shader."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Material:
    color: tuple[float, float, float, float]
    shininess: float
    specular: float


MATERIALS: dict[str, Material] = {
    "skin": Material((0.80, 0.57, 0.47, 1.0), 16.0, 0.10),
    "eye": Material((0.95, 0.94, 0.92, 1.0), 80.0, 0.55),
    "teeth": Material((0.93, 0.91, 0.84, 1.0), 40.0, 0.25),
    "tongue": Material((0.78, 0.38, 0.40, 1.0), 30.0, 0.20),
    "lash": Material((0.12, 0.10, 0.09, 1.0), 5.0, 0.02),
}


def material_for(name: str) -> Material:
    """Material by name; unknown materials fall back to skin rather than failing to draw."""
    return MATERIALS.get(name, MATERIALS["skin"])
