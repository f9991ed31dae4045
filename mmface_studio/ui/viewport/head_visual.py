"""A lean OpenGL mesh visual for the head: persistent buffers, one draw call.

vispy's stock ``Mesh`` re-expands the mesh per face and rebuilds its shader
program whenever the data changes, which cost ~100 ms per frame on software
GL. Here positions and normals live in vertex buffers that are overwritten in
place each frame; topology, colours and material terms are uploaded once.
"""

from __future__ import annotations

import numpy as np
from vispy import gloo
from vispy.scene.visuals import create_visual_node
from vispy.visuals import Visual

_VERT = """
attribute vec3 a_position;
attribute vec3 a_normal;
attribute vec4 a_color;
attribute vec2 a_material;  // (shininess, specular strength)
varying vec3 v_normal;
varying vec3 v_position;
varying vec4 v_color;
varying vec2 v_material;
void main() {
    v_normal = a_normal;
    v_position = a_position;
    v_color = a_color;
    v_material = a_material;
    gl_Position = $transform(vec4(a_position, 1.0));
}
"""

_FRAG = """
uniform vec3 u_key_dir;    // direction the key light travels, scene space
uniform vec3 u_fill_dir;   // direction the fill light travels, scene space
uniform vec3 u_eye;        // camera position, scene space
uniform float u_ambient;
varying vec3 v_normal;
varying vec3 v_position;
varying vec4 v_color;
varying vec2 v_material;
void main() {
    vec3 n = normalize(v_normal);  // smooth normals point outward; inner surfaces fall into shadow
    vec3 view = normalize(u_eye - v_position);
    vec3 key = -normalize(u_key_dir);
    vec3 fill = -normalize(u_fill_dir);
    float diffuse = max(dot(n, key), 0.0) + 0.35 * max(dot(n, fill), 0.0);
    vec3 h = normalize(key + view);
    float spec = v_material.y * pow(max(dot(n, h), 0.0), v_material.x);
    float rim = 0.12 * pow(1.0 - max(dot(n, view), 0.0), 3.0);
    vec3 rgb = v_color.rgb * (u_ambient + 0.62 * diffuse) + vec3(spec + rim);
    gl_FragColor = vec4(rgb, 1.0);
}
"""

_WIRE_VERT = """
attribute vec3 a_position;
void main() { gl_Position = $transform(vec4(a_position, 1.0)); }
"""

_WIRE_FRAG = """
uniform vec4 u_color;
void main() { gl_FragColor = u_color; }
"""


class HeadMeshVisual(Visual):
    """Indexed triangles with per-vertex colour and material; positions/normals updated in place."""

    def __init__(self) -> None:
        super().__init__(vcode=_VERT, fcode=_FRAG)
        self.positions = gloo.VertexBuffer(np.zeros((3, 3), np.float32))
        self._normals = gloo.VertexBuffer(np.zeros((3, 3), np.float32))
        self._colors = gloo.VertexBuffer(np.ones((3, 4), np.float32))
        self._materials = gloo.VertexBuffer(np.ones((3, 2), np.float32))
        self._index = gloo.IndexBuffer(np.arange(3, dtype=np.uint32))
        self._bounds: np.ndarray | None = None
        self.shared_program["a_position"] = self.positions
        self.shared_program["a_normal"] = self._normals
        self.shared_program["a_color"] = self._colors
        self.shared_program["a_material"] = self._materials
        self.set_lights(np.array([0.3, -0.4, -1.0]), np.array([-0.6, 0.2, -0.6]), np.array([0.0, 0.0, 1.0]))
        self.shared_program["u_ambient"] = 0.30
        self._draw_mode = "triangles"
        self._index_buffer = self._index
        self.set_gl_state("opaque", depth_test=True, cull_face=False, polygon_offset_fill=True,
                          polygon_offset=(1.0, 1.0))

    def set_topology(self, faces: np.ndarray, colors: np.ndarray, materials: np.ndarray) -> None:
        """Triangles (F, 3), per-vertex RGBA (V, 4) and (shininess, specular) (V, 2); uploaded once."""
        self._index.set_data(np.ascontiguousarray(faces, dtype=np.uint32))
        self._colors.set_data(np.ascontiguousarray(colors, dtype=np.float32))
        self._materials.set_data(np.ascontiguousarray(materials, dtype=np.float32))
        self.update()

    def set_vertices(self, positions: np.ndarray, normals: np.ndarray) -> None:
        self.positions.set_data(np.ascontiguousarray(positions, dtype=np.float32))
        self._normals.set_data(np.ascontiguousarray(normals, dtype=np.float32))
        self._bounds = np.stack([positions.min(axis=0), positions.max(axis=0)], axis=1)
        self.update()

    def set_lights(self, key_dir: np.ndarray, fill_dir: np.ndarray, eye: np.ndarray) -> None:
        self.shared_program["u_key_dir"] = tuple(float(x) for x in key_dir)
        self.shared_program["u_fill_dir"] = tuple(float(x) for x in fill_dir)
        self.shared_program["u_eye"] = tuple(float(x) for x in eye)

    def _prepare_transforms(self, view) -> None:
        view.view_program.vert["transform"] = view.get_transform()

    def _prepare_draw(self, view) -> bool:
        return self._bounds is not None

    def _compute_bounds(self, axis: int, view):
        return None if self._bounds is None else tuple(self._bounds[axis])


class HeadWireVisual(Visual):
    """Edges of the head drawn over the shaded mesh, sharing its position buffer."""

    def __init__(self, positions: gloo.VertexBuffer) -> None:
        super().__init__(vcode=_WIRE_VERT, fcode=_WIRE_FRAG)
        self.shared_program["a_position"] = positions
        self.shared_program["u_color"] = (0.08, 0.09, 0.11, 0.85)
        self._index = gloo.IndexBuffer(np.arange(2, dtype=np.uint32))
        self._index_buffer = self._index
        self._draw_mode = "lines"
        self.set_gl_state("translucent", depth_test=True, cull_face=False, line_width=1.0)

    def set_faces(self, faces: np.ndarray) -> None:
        edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
        edges = np.unique(np.sort(edges, axis=1), axis=0)
        self._index.set_data(np.ascontiguousarray(edges, dtype=np.uint32))
        self.update()

    def _prepare_transforms(self, view) -> None:
        view.view_program.vert["transform"] = view.get_transform()


HeadMesh = create_visual_node(HeadMeshVisual)
HeadWire = create_visual_node(HeadWireVisual)
