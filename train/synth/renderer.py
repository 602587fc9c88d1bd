"""Rasterising the synthetic world with moderngl on a headless EGL context (Mesa llvmpipe on CPU).

Meshes carry per-vertex colours (and optionally a texture); lighting is ambient + one directional
light. The body writes alpha 1 and the environment alpha 0, so one read-back gives the image and the
subject's mask; an environment mesh in front of the body (an occluder) wins the depth test and so
clears the mask there. A plate (user image or venue background) can fill the frame behind everything.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from train.synth.cameras import Camera

log = logging.getLogger(__name__)

_MESH_VS = """
#version 330
uniform mat4 u_view;
uniform mat4 u_proj;
in vec3 in_pos;
in vec3 in_normal;
in vec3 in_color;
in vec2 in_uv;
out vec3 v_normal;
out vec3 v_color;
out vec2 v_uv;
void main() {
    v_normal = in_normal;
    v_color = in_color;
    v_uv = in_uv;
    gl_Position = u_proj * u_view * vec4(in_pos, 1.0);
}
"""

_MESH_FS = """
#version 330
uniform vec3 u_light_dir;   // towards the light, world frame
uniform vec3 u_light;       // directional light colour x intensity
uniform vec3 u_ambient;
uniform float u_alpha;      // 1 = subject (mask), 0 = environment
uniform bool u_textured;
uniform sampler2D u_texture;
in vec3 v_normal;
in vec3 v_color;
in vec2 v_uv;
out vec4 f_color;
void main() {
    vec3 base = v_color;
    if (u_textured) base *= texture(u_texture, v_uv).rgb;
    float lambert = abs(dot(normalize(v_normal), u_light_dir));  // two-sided: no culling needed
    f_color = vec4(base * (u_ambient + u_light * lambert), u_alpha);
}
"""

_PLATE_VS = """
#version 330
in vec2 in_xy;
out vec2 v_uv;
void main() { v_uv = vec2(in_xy.x * 0.5 + 0.5, in_xy.y * 0.5 + 0.5); gl_Position = vec4(in_xy, 0.0, 1.0); }
"""

_PLATE_FS = """
#version 330
uniform sampler2D u_plate;
in vec2 v_uv;
out vec4 f_color;
void main() { f_color = vec4(texture(u_plate, v_uv).rgb, 0.0); }
"""


@dataclass(frozen=True)
class Lighting:
    """Ambient + directional light (``direction`` points towards the light, world frame)."""

    direction: tuple[float, float, float] = (0.3, -0.5, 0.8)
    light: tuple[float, float, float] = (0.75, 0.75, 0.72)
    ambient: tuple[float, float, float] = (0.35, 0.35, 0.38)

    def scaled(self, gain: float) -> Lighting:
        """The same light with its intensity times ``gain`` (lighting drift)."""
        return Lighting(self.direction, tuple(gain * c for c in self.light), tuple(gain * c for c in self.ambient))

    @classmethod
    def sample(cls, rng: np.random.Generator) -> Lighting:
        """A random light: direction from low to high sun, colour 3000-9000 K (tungsten to shade), intensity."""
        azimuth, elevation = rng.uniform(0, 2 * np.pi), np.radians(rng.uniform(10, 85))
        direction = (np.cos(elevation) * np.cos(azimuth), np.cos(elevation) * np.sin(azimuth), np.sin(elevation))
        colour = kelvin_rgb(rng.uniform(3000, 9000))
        # the fill light (sky, bounce) is bluish or warm on its own, and from a dim room to a bright day
        fill = kelvin_rgb(rng.uniform(4000, 12000))
        light, ambient = rng.uniform(0.35, 1.1), rng.uniform(0.15, 0.5)
        return cls(tuple(float(d) for d in direction), tuple(float(c) for c in light * colour),
                   tuple(float(c) for c in ambient * fill))


def kelvin_rgb(kelvin: float) -> np.ndarray:
    """RGB ``(3,)`` of a black body at ``kelvin`` (1000-40000 K), scaled so its largest channel is 1.

    Tanner Helland's fit to Mitchell Charity's black-body table.
    """
    t = np.clip(kelvin, 1000, 40000) / 100
    r = 1.0 if t <= 66 else 1.2929362 * (t - 60) ** -0.1332047
    g = 0.3900816 * np.log(t) - 0.6318414 if t <= 66 else 1.1298909 * (t - 60) ** -0.0755148
    b = 1.0 if t >= 66 else (0.0 if t <= 19 else 0.5432068 * np.log(t - 10) - 1.1962541)
    rgb = np.clip([r, g, b], 0, 1)
    return rgb / rgb.max()


def vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals ``(V, 3)`` of a triangle mesh ``vertices (V, 3)``, ``faces (F, 3)``."""
    tri = vertices[faces]  # (F, 3, 3)
    face_n = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])  # (F, 3), length = 2 * area
    idx = faces.reshape(-1)  # (3F,)
    per_corner = np.repeat(face_n, 3, axis=0)  # (3F, 3): each face's normal at its three corners
    normals = np.stack([np.bincount(idx, per_corner[:, k], minlength=len(vertices)) for k in range(3)], -1)
    return normals / np.maximum(np.linalg.norm(normals, axis=1, keepdims=True), 1e-12)


class _Mesh:
    def __init__(self, ctx, program, faces: np.ndarray, colors: np.ndarray, uvs: np.ndarray | None,
                 texture=None) -> None:
        n = len(colors)
        self.pos = ctx.buffer(reserve=n * 12, dynamic=True)
        self.normal = ctx.buffer(reserve=n * 12, dynamic=True)
        self.color = ctx.buffer(np.ascontiguousarray(colors, dtype="f4").tobytes())
        self.uv = ctx.buffer(np.ascontiguousarray(uvs if uvs is not None else np.zeros((n, 2)), dtype="f4").tobytes())
        self.index = ctx.buffer(np.ascontiguousarray(faces, dtype="i4").tobytes())
        self.vao = ctx.vertex_array(program, [(self.pos, "3f", "in_pos"), (self.normal, "3f", "in_normal"),
                                              (self.color, "3f", "in_color"), (self.uv, "2f", "in_uv")],
                                    index_buffer=self.index, index_element_size=4)
        self.texture = texture
        self.num_vertices = n

    def set_colors(self, colors: np.ndarray) -> None:
        if len(colors) != self.num_vertices:
            raise ValueError(f"mesh has {self.num_vertices} vertices, got {len(colors)} colours")
        self.color.write(np.ascontiguousarray(colors, dtype="f4").tobytes())

    def release(self) -> None:
        for obj in (self.vao, self.pos, self.normal, self.color, self.uv, self.index, self.texture):
            if obj is not None:
                obj.release()

    def update(self, vertices: np.ndarray, normals: np.ndarray) -> None:
        if len(vertices) != self.num_vertices:
            raise ValueError(f"mesh has {self.num_vertices} vertices, got {len(vertices)}")
        self.pos.write(np.ascontiguousarray(vertices, dtype="f4").tobytes())
        self.normal.write(np.ascontiguousarray(normals, dtype="f4").tobytes())


def _load_triton_before_mesa() -> None:
    """Load triton's LLVM before Mesa's: importing triton (torch, roma, anny) after an EGL context exists
    segfaults in the dynamic loader (seen here with Mesa 22 llvmpipe and triton 3.8); the other order works."""
    try:
        import triton  # noqa: F401
    except ImportError:
        pass


class Renderer:
    """Off-screen renderer of one image size. Create once, draw many frames; ``close()`` when done."""

    def __init__(self, width: int, height: int) -> None:
        _load_triton_before_mesa()
        import moderngl  # heavy, and needs EGL: only where rendering happens

        if width < 8 or height < 8:
            raise ValueError(f"image size must be at least 8x8, got {width}x{height}")
        self.width, self.height = width, height
        self.ctx = moderngl.create_standalone_context(backend="egl")
        log.debug("renderer: %s", self.ctx.info.get("GL_RENDERER"))
        self._mesh_prog = self.ctx.program(vertex_shader=_MESH_VS, fragment_shader=_MESH_FS)
        self._plate_prog = self.ctx.program(vertex_shader=_PLATE_VS, fragment_shader=_PLATE_FS)
        quad = np.array([-1, -1, 1, -1, -1, 1, 1, 1], dtype="f4")
        self._plate_vao = self.ctx.vertex_array(self._plate_prog, [(self.ctx.buffer(quad.tobytes()), "2f", "in_xy")])
        self._plate_tex = None
        self.fbo = self.ctx.framebuffer(color_attachments=[self.ctx.renderbuffer((width, height), 4)],
                                        depth_attachment=self.ctx.depth_renderbuffer((width, height)))
        self._meshes: list[tuple[_Mesh, float]] = []
        self._moderngl = moderngl

    def add_mesh(self, faces: np.ndarray, colors: np.ndarray, subject: bool, vertices: np.ndarray | None = None,
                 uvs: np.ndarray | None = None, texture: np.ndarray | None = None) -> _Mesh:
        """Register a mesh drawn every frame; ``subject`` meshes write the mask. Returns it for updates."""
        tex = None
        if texture is not None:
            tex = self.ctx.texture((texture.shape[1], texture.shape[0]), 3, np.ascontiguousarray(texture).tobytes())
            tex.build_mipmaps()
            tex.repeat_x = tex.repeat_y = True
        mesh = _Mesh(self.ctx, self._mesh_prog, faces, colors, uvs, tex)
        if vertices is not None:
            mesh.update(vertices, vertex_normals(vertices, faces))
        self._meshes.append((mesh, 1.0 if subject else 0.0))
        return mesh

    def remove_mesh(self, mesh: _Mesh) -> None:
        """Stop drawing ``mesh`` and free its GL objects (a per-take prop)."""
        self._meshes = [(m, a) for m, a in self._meshes if m is not mesh]
        mesh.release()

    def set_plate(self, image: np.ndarray | None) -> None:
        """Fill the frame behind all meshes with ``image`` (H, W, 3) uint8, or nothing (None)."""
        if image is None:
            self._plate_tex = None
            return
        image = np.ascontiguousarray(image[::-1])  # texture rows go bottom-up, our NDC y grows downwards
        if self._plate_tex is None or self._plate_tex.size != (image.shape[1], image.shape[0]):
            self._plate_tex = self.ctx.texture((image.shape[1], image.shape[0]), 3)
        self._plate_tex.write(image.tobytes())

    def render(self, camera: Camera, lighting: Lighting = Lighting(),
               clear: tuple[float, float, float] = (0.5, 0.5, 0.5)) -> tuple[np.ndarray, np.ndarray]:
        """Draw every mesh from ``camera``: ``(rgb (H, W, 3) uint8, mask (H, W) bool)``."""
        if (camera.width, camera.height) != (self.width, self.height):
            raise ValueError(f"camera is {camera.width}x{camera.height}, renderer {self.width}x{self.height}")
        mgl = self._moderngl
        self.fbo.use()
        self.fbo.clear(*clear, 0.0, depth=1.0)
        if self._plate_tex is not None:
            self.ctx.disable(mgl.DEPTH_TEST)
            self._plate_tex.use(0)
            self._plate_prog["u_plate"].value = 0
            self._plate_vao.render(mgl.TRIANGLE_STRIP)
        self.ctx.enable(mgl.DEPTH_TEST)
        prog = self._mesh_prog
        # GL wants column-major: write the transpose of our row-major matrices
        prog["u_view"].write(camera.view_matrix().T.astype("f4").tobytes())
        prog["u_proj"].write(camera.gl_projection().T.astype("f4").tobytes())
        d = np.asarray(lighting.direction, float)
        prog["u_light_dir"].value = tuple(d / np.linalg.norm(d))
        prog["u_light"].value = tuple(lighting.light)
        prog["u_ambient"].value = tuple(lighting.ambient)
        for mesh, alpha in self._meshes:
            prog["u_alpha"].value = alpha
            prog["u_textured"].value = mesh.texture is not None
            if mesh.texture is not None:
                mesh.texture.use(1)
                prog["u_texture"].value = 1
            mesh.vao.render(mgl.TRIANGLES)
        rgba = np.frombuffer(self.fbo.read(components=4), dtype=np.uint8).reshape(self.height, self.width, 4)
        return rgba[..., :3], rgba[..., 3] > 127

    def close(self) -> None:
        """Release the GL context."""
        self.ctx.release()
