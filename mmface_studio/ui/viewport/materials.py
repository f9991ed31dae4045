"""Material looks per rig part: base colour and Phong terms for vispy's ShadingFilter."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Material:
    color: tuple[float, float, float, float]
    shininess: float
    specular: tuple[float, float, float, float]
    ambient: tuple[float, float, float, float] = (0.42, 0.42, 0.44, 1.0)


MATERIALS: dict[str, Material] = {
    "skin": Material((0.86, 0.67, 0.58, 1.0), 18.0, (0.16, 0.14, 0.13, 1.0)),
    "eye": Material((0.95, 0.94, 0.92, 1.0), 90.0, (0.9, 0.9, 0.9, 1.0)),
    "teeth": Material((0.93, 0.91, 0.84, 1.0), 40.0, (0.35, 0.35, 0.33, 1.0)),
    "tongue": Material((0.78, 0.38, 0.40, 1.0), 30.0, (0.3, 0.2, 0.2, 1.0)),
    "lash": Material((0.12, 0.10, 0.09, 1.0), 5.0, (0.05, 0.05, 0.05, 1.0)),
}


def material_for(name: str) -> Material:
    """Material by name; unknown materials fall back to skin rather than failing to draw."""
    return MATERIALS.get(name, MATERIALS["skin"])
