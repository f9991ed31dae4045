"""The head as vispy visuals, updated from deformed vertices.

Kept free of Qt so that the interactive viewport and the headless ``render``
command draw exactly the same scene.
"""

from __future__ import annotations

import numpy as np
from vispy import scene

from mmface_studio.rig.base import Rig
from mmface_studio.rig.skinning import vertex_normals
from mmface_studio.ui.viewport.head_visual import HeadMesh, HeadWire
from mmface_studio.ui.viewport.materials import material_for

VIEWS: dict[str, tuple[float, float]] = {
    # name: (azimuth, elevation) in degrees for vispy's TurntableCamera.
    # With up="+y", azimuth 90 puts the camera on +Z, in front of a +Z-facing head.
    "front": (90.0, 0.0),
    "three-quarter": (55.0, 8.0),
    "side": (0.0, 0.0),
    "back": (-90.0, 0.0),
}

#: Key light from above-left of the viewer and a soft fill from the right, in camera space.
KEY_LIGHT = np.array([0.3, -0.4, -1.0, 0.0])
FILL_LIGHT = np.array([-0.7, 0.1, -0.6, 0.0])


class HeadScene:
    """Owns the head visuals of one rig inside a vispy ViewBox.

    Lights are attached to the camera, so the face stays lit from the front
    however the user orbits.
    """

    def __init__(self, view: scene.widgets.ViewBox) -> None:
        self.view = view
        self.rig: Rig | None = None
        self.mesh = HeadMesh(parent=view.scene)
        self.wire = HeadWire(self.mesh.positions, parent=view.scene)
        self.wire.visible = False
        self.last_vertices: np.ndarray | None = None
        view.canvas.events.draw.connect(self.follow_camera)

    def set_rig(self, rig: Rig) -> None:
        """Upload ``rig``'s topology, colours and materials, and show its rest pose."""
        self.rig = rig
        count = rig.vertex_count
        colors = np.empty((count, 4), np.float32)
        materials = np.empty((count, 2), np.float32)
        for part in rig.parts:
            mat = material_for(part.material)
            ids = np.unique(part.faces)
            colors[ids] = mat.color
            materials[ids] = (mat.shininess, mat.specular)
        own = rig.vertex_colors()
        if own is not None:
            colors = own.astype(np.float32)
        self.mesh.set_topology(rig.faces, colors, materials)
        self.wire.set_faces(rig.faces)
        self.update_vertices(rig.rest_vertices())

    def update_vertices(self, vertices: np.ndarray) -> None:
        """Upload new positions and their smooth normals (two buffer writes, no re-expansion)."""
        if self.rig is None:
            return
        self.last_vertices = vertices
        self.mesh.set_vertices(vertices, vertex_normals(vertices, self.rig.faces))

    def follow_camera(self, event=None) -> None:
        """Re-aim the lights from the camera. Runs on every canvas draw event; call it before
        ``canvas.render()``, which draws without one (else the lights lag one camera move)."""
        camera = self.view.camera
        if camera is None:
            return
        transform = camera.transform
        key = transform.map(KEY_LIGHT)[:3]
        fill = transform.map(FILL_LIGHT)[:3]
        eye = transform.map(np.array([0.0, 0.0, 0.0, 1.0]))
        self.mesh.set_lights(key, fill, eye[:3] / eye[3])

    def set_wireframe(self, enabled: bool) -> None:
        self.wire.visible = enabled

    @property
    def wireframe(self) -> bool:
        return bool(self.wire.visible)

    def head_bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """Bounds of what to frame (current pose)."""
        if self.rig is None:
            return np.zeros(3), np.ones(3)
        verts = self.last_vertices if self.last_vertices is not None else self.rig.rest_vertices()
        return verts.min(axis=0), verts.max(axis=0)


class HeadCamera(scene.cameras.TurntableCamera):
    """vispy's turntable, plus panning with a middle-button drag (as in Blender and Maya).

    Shift + left drag already pans in vispy; the middle drag reuses that exact mapping from
    mouse motion to a move of the orbit centre, so both feel the same.
    """

    def viewbox_mouse_event(self, event) -> None:
        if (event.type == "mouse_move" and self.interactive and not event.handled
                and event.press_event is not None and event.buttons == [3]):
            self._pan(event)
            event.handled = True
            return
        super().viewbox_mouse_event(event)

    def _pan(self, event) -> None:
        if self._event_value is None or len(self._event_value) == 2:
            self._event_value = self.center
        start, now = event.mouse_event.press_event.pos, event.mouse_event.pos
        dist = (start - now) / np.mean(self._viewbox.size) * self._scale_factor
        dist[1] *= -1
        dx, dy, dz = self._dist_to_trans(dist)
        up, forward, right = self._get_dim_vectors()
        dx, dy, dz = right * dx + forward * dy + up * dz
        flip = self._flip_factors
        c = self._event_value
        self.center = c[0] + flip[0] * dx, c[1] + flip[1] * dy, c[2] + flip[2] * dz


def setup_camera(view: scene.widgets.ViewBox) -> scene.cameras.TurntableCamera:
    """Turntable camera with the scene's Y axis up, as both rigs are Y-up."""
    cam = HeadCamera(fov=30.0, azimuth=0.0, elevation=0.0, up="+y")
    # vispy's default near/far ratio (1e7) assumes a 24-bit depth buffer; offscreen FBOs and some
    # software GL contexts give 16 bits, which made back faces bleed through. Near = d/~32, far = d*~32.
    cam.depth_value = 100.0
    view.camera = cam
    return cam


def frame_bounds(cam: scene.cameras.TurntableCamera, lo: np.ndarray, hi: np.ndarray, margin: float = 1.25) -> None:
    """Centre the camera on a box and pull back so it fills the view from any side."""
    centre = (lo + hi) / 2.0
    radius = float(np.max(hi - lo)) / 2.0
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
