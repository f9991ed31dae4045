"""FLAME head rig: safe loading of FLAME model files and FLAME's deformation on the flame56 space."""

from mmface_studio.rig.flame.model import FlameModel, FlameModelError, load_flame_model
from mmface_studio.rig.flame.rig import FlameRig, load_flame_rig

__all__ = ["FlameModel", "FlameModelError", "FlameRig", "load_flame_model", "load_flame_rig"]
