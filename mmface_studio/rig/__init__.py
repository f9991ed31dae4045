"""Deformable heads: channels -> vertices (numpy on the hot path)."""

from mmface_studio.rig.base import IdentityControl, Joint, MeshPart, Rig, RigError

__all__ = ["IdentityControl", "Joint", "MeshPart", "Rig", "RigError"]
