"""The head as vispy visuals: one Mesh per rig part, updated from deformed vertices.

Kept free of Qt so that the interactive viewport and the headless ``render``
command draw exactly the same scene.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from vispy import scene
from vispy.geometry import MeshData
from vispy.visuals.filters import WireframeFilter

from mmface_studio.rig.base import Rig
from mmface_studio.rig.skinning import vertex_normals
from mmface_studio.ui.viewport.materials import material_for

VIEWS: dict[str, tuple[float, float]] = {
    # name: (azimuth, elevation) in degrees for vispy's TurntableCamera (Y-up scene).
    # With up="+y", azimuth 90 puts the camera on +Z, in front of a +Z-facing head.
    "front": (90.0, 0.0),
    "three-quarter": (55.0, 8.0),
    "side": (0.0, 0.0),
    "back": (-90.0, 0.0),
}


@dataclass
class _PartMesh:
    visual: scene.visuals.Mesh
    vertex_ids: np.ndarray  # rig vertex indices used by this part
    faces: np.ndarray  # faces re-indexed into vertex_ids
    colors: np.ndarray | None
    wireframe: WireframeFilter


#: Key light direction in camera space (from above, left and in front of the viewer).
KEY_LIGHT = np.array([0.3, -0.4, -1.0, 0.0])


class HeadScene:
    """Owns the mesh visuals of one rig inside a vispy ViewBox.

    The light is attached to the camera (a "headlight" from the upper left),
    so the face stays lit from the front however the user orbits.
    """

    def __init__(self, view: scene.widgets.ViewBox) -> None:
        self.view = view
        view.canvas.events.draw.connect(self._follow_camera)
        self.rig: Rig | None = None
        self._parts: list[_PartMesh] = []
        self._faces_all: np.ndarray | None = None
        self._wireframe = False
        self.last_vertices: np.ndarray | None = None

    def set_rig(self, rig: Rig) -> None:
        """Replace the visuals with ``rig``'s parts, drawn at its rest pose."""
        for part in self._parts:
            part.visual.parent = None
        self._parts = []
        self.rig = rig
        self._faces_all = rig.faces
        colors = rig.vertex_colors()
        rest = rig.rest_vertices()
        normals = vertex_normals(rest, rig.faces)
        for part in rig.parts:
            if part.faces.size == 0:
                continue
            ids, local = np.unique(part.faces, return_inverse=True)
            local = local.reshape(-1, 3).astype(np.uint32)
            mat = material_for(part.material)
            part_colors = colors[ids].astype(np.float32) if colors is not None else None
            mesh = scene.visuals.Mesh(meshdata=_mesh_data(rest, normals, ids, local, part_colors),
                                      shading="smooth", color=mat.color, parent=self.view.scene)
            mesh.shading_filter.shininess = mat.shininess
            mesh.shading_filter.specular_light = (1, 1, 1, 1)
            mesh.shading_filter.specular_coefficient = mat.specular
            mesh.shading_filter.ambient_coefficient = mat.ambient
            mesh.shading_filter.diffuse_coefficient = (1, 1, 1, 1)
            wire = WireframeFilter(width=0.8, color=(0.1, 0.1, 0.12, 0.9), enabled=self._wireframe)
            mesh.attach(wire)
            self._parts.append(_PartMesh(mesh, ids, local, part_colors, wire))
        self.last_vertices = rest

    def update_vertices(self, vertices: np.ndarray) -> None:
        """Upload new vertex positions; normals are computed once for the whole mesh."""
        if self._faces_all is None:
            return
        self.last_vertices = vertices
        normals = vertex_normals(vertices, self._faces_all)
        for part in self._parts:
            part.visual.set_data(meshdata=_mesh_data(vertices, normals, part.vertex_ids, part.faces, part.colors))

    def _follow_camera(self, event=None) -> None:
        if not self._parts or self.view.camera is None:
            return
        direction = self.view.camera.transform.map(KEY_LIGHT)[:3]
        direction = tuple(float(x) for x in direction / max(np.linalg.norm(direction), 1e-9))
        for part in self._parts:
            if part.visual.shading_filter.light_dir != direction:
                part.visual.shading_filter.light_dir = direction

    def set_wireframe(self, enabled: bool) -> None:
        self._wireframe = enabled
        for part in self._parts:
            part.wireframe.enabled = enabled
            part.visual.update()

    @property
    def wireframe(self) -> bool:
        return self._wireframe

    def head_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Bounds of what to frame: the face/head, not the neck stump below it."""
        if self.rig is None:
            return np.zeros(3), np.ones(3)
        verts = self.last_vertices if self.last_vertices is not None else self.rig.rest_vertices()
        lo, hi = verts.min(axis=0), verts.max(axis=0)
        return lo, hi


def _mesh_data(vertices: np.ndarray, normals: np.ndarray, ids: np.ndarray, faces: np.ndarray,
               colors: np.ndarray | None) -> MeshData:
    md = MeshData(vertices=vertices[ids], faces=faces, vertex_colors=colors)
    # Hand vispy our normals (computed once for the whole head) so it does not recompute them per part.
    md._vertex_normals = normals[ids]
    return md


def setup_camera(view: scene.widgets.ViewBox) -> scene.cameras.TurntableCamera:
    """Turntable camera with the scene's Y axis up, as both rigs are Y-up."""
    cam = scene.cameras.TurntableCamera(fov=30.0, azimuth=0.0, elevation=0.0, up="+y")
    # vispy's default near/far ratio (1e7) assumes a 24-bit depth buffer; offscreen FBOs and some
    # software GL contexts give 16 bits, which made back faces bleed through. Near = d/~32, far = d*~32.
    cam.depth_value = 100.0
    view.camera = cam
    return cam


def frame_bounds(cam: scene.cameras.TurntableCamera, lo: np.ndarray, hi: np.ndarray, margin: float = 1.15) -> None:
    """Centre the camera on a box and pull back so it fills the view."""
    centre = (lo + hi) / 2.0
    radius = float(np.linalg.norm(hi - lo)) / 2.0
    cam.center = tuple(float(c) for c in centre)
    fov = np.radians(cam.fov if cam.fov else 30.0)
    cam.distance = margin * radius / np.tan(fov / 2.0)
    cam.scale_factor = 2.0 * radius * margin


def apply_view(cam: scene.cameras.TurntableCamera, name: str) -> None:
    try:
        azimuth, elevation = VIEWS[name]
    except KeyError:
        raise ValueError(f"Unknown view '{name}'; choose one of {', '.join(VIEWS)}.") from None
    cam.azimuth, cam.elevation = azimuth, elevation
