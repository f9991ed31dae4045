"""Pick and load a rig by kind, for the GUI and the CLI alike."""

from __future__ import annotations

from pathlib import Path

from mmface_studio.rig.base import Rig


def load_rig(flame_path: str | Path | None = None) -> Rig:
    """The built-in head, or a FLAME head when a FLAME model file is given."""
    if flame_path is not None:
        from mmface_studio.rig.flame import load_flame_rig

        return load_flame_rig(Path(flame_path))
    from mmface_studio.rig.default_head import load_default_head

    return load_default_head()
