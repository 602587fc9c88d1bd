"""Rasterising the synthetic world with moderngl on a headless EGL context (Mesa llvmpipe on CPU).

Meshes carry per-vertex colours (and optionally a texture); lighting is ambient + one directional
light. The body writes alpha 1 and the environment alpha 0, so one read-back gives the image and the
subject's mask; an environment mesh in front of the body (an occluder) wins the depth test and so
clears the mask there. A plate (user image or venue background) can fill the frame behind everything;
it is warped with the camera's pan, roll and zoom (a far background: a homography) and lit like the
scene. Subject meshes can cast a contact shadow on a ground plane (planar projection along the light),
written to alpha as "shadow" and darkened after the read-back, so the mask stays the body's.
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
void main() { gl_Position = vec4(in_xy, 0.0, 1.0); }
"""

# framebuffer row r is image row r (see Camera.gl_projection); the plate texture's first row is the image's top
_PLATE_FS = """
#version 330
uniform sampler2D u_plate;
uniform mat3 u_warp;        // image pixel -> plate pixel (homogeneous)
uniform vec2 u_plate_size;  // plate width, height in pixels
uniform vec3 u_gain;        // the scene's light on the plate
out vec4 f_color;
void main() {
    vec3 q = u_warp * vec3(gl_FragCoord.xy - 0.5, 1.0);
    vec2 uv = (q.xy / q.z + 0.5) / u_plate_size;
    uv = 1.0 - abs(1.0 - mod(uv, 2.0));  // mirror beyond the photo's edge
    f_color = vec4(texture(u_plate, uv).rgb * u_gain, 0.0);
}
"""

# a subject mesh flattened onto the ground plane along the light: writes alpha SHADOW_ALPHA only
_SHADOW_VS = """
#version 330
uniform mat4 u_view;
uniform mat4 u_proj;
uniform vec3 u_light_dir;   // towards the light
uniform vec4 u_plane;       // n.x, n.y, n.z, d with n . p = d on the ground
in vec3 in_pos;
void main() {
    float above = dot(u_plane.xyz, in_pos) - u_plane.w;
    vec3 p = in_pos - u_light_dir * (above / dot(u_plane.xyz, u_light_dir)) + u_plane.xyz * 0.005;
    gl_Position = u_proj * u_view * vec4(p, 1.0);
}
"""

_SHADOW_FS = """
#version 330
out vec4 f_color;
void main() { f_color = vec4(0.0, 0.0, 0.0, 0.4); }  // alpha 102: under the mask threshold
"""

SHADOW_ALPHA = (64, 160)  # read-back alpha range that means "ground in the subject's shadow"


@dataclass(frozen=True)
class Ground:
    """The plane ``normal . p = offset`` (world metres) that subject meshes cast their shadow on."""

    normal: tuple[float, float, float] = (0.0, 0.0, 1.0)
    offset: float = 0.0
    softness: float = 1.5  # Gaussian sigma of the shadow's edge, pixels


def plate_warp(reference: Camera, camera: Camera) -> np.ndarray:
    """3x3 homography from ``camera``'s pixels to those of a plate seen by ``reference`` without its roll.

    The plate is a far background (points at infinity), so pan, tilt, roll and zoom move it by
    ``K_ref R_ref R^T K^-1``; the reference's roll is taken out so the photo's horizon stays level in it.
    """
    a = np.radians(reference.roll_deg)
    unroll = np.array([[np.cos(a), np.sin(a), 0.0], [-np.sin(a), np.cos(a), 0.0], [0.0, 0.0, 1.0]])
    level = unroll.T @ reference.R
    return reference.K @ level @ camera.R.T @ np.linalg.inv(camera.K)


@dataclass(frozen=True)
class Lighting:
    """Ambient + directional light (``direction`` points towards the light, world frame)."""

    direction: tuple[float, float, float] = (0.3, -0.5, 0.8)
    light: tuple[float, float, float] = (0.75, 0.75, 0.72)
    ambient: tuple[float, float, float] = (0.35, 0.35, 0.38)

    def scaled(self, gain: float) -> Lighting:
        """The same light with its intensity times ``gain`` (lighting drift)."""
        return Lighting(self.direction, tuple(gain * c for c in self.light), tuple(gain * c for c in self.ambient))

    def plate_gain(self) -> tuple[float, float, float]:
        """How this light tints a photo plate: 1 under the default light, warmer, cooler, dimmer or brighter
        with it (half the body's change, since a photo already carries its own light)."""
        ref = np.asarray(Lighting.ambient) + 0.7 * np.asarray(Lighting.light)
        here = np.asarray(self.ambient) + 0.7 * np.asarray(self.light)
        return tuple(float(g) for g in np.clip(1 + 0.5 * (here / ref.mean() - 1), 0.5, 1.4))

    def shadow_strength(self, normal: tuple[float, float, float] = (0.0, 0.0, 1.0)) -> float:
        """How much a ground of ``normal`` darkens in the shadow: the share of its light that comes directly
        from the light (``light * cos / (ambient + light * cos)``, as the mesh shader lights it)."""
        d = np.asarray(self.direction, float)
        cos = abs(float(np.dot(normal, d / np.linalg.norm(d))))
        light, ambient = float(np.mean(self.light)) * cos, float(np.mean(self.ambient))
        return light / max(light + ambient, 1e-6)

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
                 texture=None, shadow_program=None) -> None:
        n = len(colors)
        self.pos = ctx.buffer(reserve=n * 12, dynamic=True)
        self.normal = ctx.buffer(reserve=n * 12, dynamic=True)
        self.color = ctx.buffer(np.ascontiguousarray(colors, dtype="f4").tobytes())
        self.uv = ctx.buffer(np.ascontiguousarray(uvs if uvs is not None else np.zeros((n, 2)), dtype="f4").tobytes())
        self.index = ctx.buffer(np.ascontiguousarray(faces, dtype="i4").tobytes())
        self.vao = ctx.vertex_array(program, [(self.pos, "3f", "in_pos"), (self.normal, "3f", "in_normal"),
                                              (self.color, "3f", "in_color"), (self.uv, "2f", "in_uv")],
                                    index_buffer=self.index, index_element_size=4)
        self.shadow_vao = (None if shadow_program is None else
                           ctx.vertex_array(shadow_program, [(self.pos, "3f", "in_pos")],
                                            index_buffer=self.index, index_element_size=4))
        self.texture = texture
        self.num_vertices = n

    def set_colors(self, colors: np.ndarray) -> None:
        if len(colors) != self.num_vertices:
            raise ValueError(f"mesh has {self.num_vertices} vertices, got {len(colors)} colours")
        self.color.write(np.ascontiguousarray(colors, dtype="f4").tobytes())

    def release(self) -> None:
        for obj in (self.vao, self.shadow_vao, self.pos, self.normal, self.color, self.uv, self.index, self.texture):
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
        self._shadow_prog = self.ctx.program(vertex_shader=_SHADOW_VS, fragment_shader=_SHADOW_FS)
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
        mesh = _Mesh(self.ctx, self._mesh_prog, faces, colors, uvs, tex, self._shadow_prog if subject else None)
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
        image = np.ascontiguousarray(image)  # first row = top: framebuffer rows are image rows (gl_projection)
        if self._plate_tex is None or self._plate_tex.size != (image.shape[1], image.shape[0]):
            self._plate_tex = self.ctx.texture((image.shape[1], image.shape[0]), 3)
            self._plate_tex.repeat_x = self._plate_tex.repeat_y = False  # the shader mirrors; no seam at the edge
        self._plate_tex.write(image.tobytes())

    def render(self, camera: Camera, lighting: Lighting = Lighting(),
               clear: tuple[float, float, float] = (0.5, 0.5, 0.5), plate_warp: np.ndarray | None = None,
               ground: Ground | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Draw every mesh from ``camera``: ``(rgb (H, W, 3) uint8, mask (H, W) bool)``.

        ``plate_warp`` maps this frame's pixels to the plate's (:func:`plate_warp`; identity when None);
        with a ``ground``, subject meshes cast a shadow on it, away from the light.
        """
        if (camera.width, camera.height) != (self.width, self.height):
            raise ValueError(f"camera is {camera.width}x{camera.height}, renderer {self.width}x{self.height}")
        mgl = self._moderngl
        self.fbo.use()
        self.fbo.clear(*clear, 0.0, depth=1.0)
        if self._plate_tex is not None:
            self.ctx.disable(mgl.DEPTH_TEST)
            self._plate_tex.use(0)
            plate = self._plate_prog
            plate["u_plate"].value = 0
            warp = np.eye(3) if plate_warp is None else np.asarray(plate_warp, float)
            plate["u_warp"].write(warp.T.astype("f4").tobytes())
            plate["u_plate_size"].value = tuple(float(v) for v in self._plate_tex.size)
            plate["u_gain"].value = lighting.plate_gain()
            self._plate_vao.render(mgl.TRIANGLE_STRIP)
        self.ctx.enable(mgl.DEPTH_TEST)
        view = camera.view_matrix().T.astype("f4").tobytes()  # GL wants column-major: the transposes
        proj = camera.gl_projection().T.astype("f4").tobytes()
        d = np.asarray(lighting.direction, float)
        d = tuple(d / np.linalg.norm(d))
        prog = self._mesh_prog
        prog["u_view"].write(view)
        prog["u_proj"].write(proj)
        prog["u_light_dir"].value = d
        prog["u_light"].value = tuple(lighting.light)
        prog["u_ambient"].value = tuple(lighting.ambient)
        for mesh, alpha in self._meshes:
            if alpha:
                continue  # the subject comes after its shadow
            self._draw(mesh, alpha)
        if ground is not None and np.dot(ground.normal, d) > 0.05:  # a light below the horizon casts nothing
            self._shadow(view, proj, d, ground)
        for mesh, alpha in self._meshes:
            if alpha:
                self._draw(mesh, alpha)
        rgba = np.frombuffer(self.fbo.read(components=4), dtype=np.uint8).reshape(self.height, self.width, 4)
        rgb, alpha = rgba[..., :3], rgba[..., 3]
        if ground is not None:
            rgb = self._darken(rgb, alpha, lighting.shadow_strength(ground.normal), ground.softness)
        return rgb, alpha > 127

    def _draw(self, mesh: _Mesh, alpha: float) -> None:
        prog = self._mesh_prog
        prog["u_alpha"].value = alpha
        prog["u_textured"].value = mesh.texture is not None
        if mesh.texture is not None:
            mesh.texture.use(1)
            prog["u_texture"].value = 1
        mesh.vao.render(self._moderngl.TRIANGLES)

    def _shadow(self, view: bytes, proj: bytes, light_dir: tuple, ground: Ground) -> None:
        """Subject meshes flattened onto the ground: alpha only, depth-tested against the venue, not written."""
        prog = self._shadow_prog
        prog["u_view"].write(view)
        prog["u_proj"].write(proj)
        prog["u_light_dir"].value = light_dir
        prog["u_plane"].value = (*(float(v) for v in ground.normal), float(ground.offset))
        mgl = self._moderngl
        # only the alpha is written, and no depth: the body drawn next must not hide behind its own shadow
        # (moderngl applies a framebuffer's masks when it is bound)
        self.fbo.color_mask = (False, False, False, True)
        self.fbo.depth_mask = False
        self.fbo.use()
        try:
            for mesh, alpha in self._meshes:
                if alpha and mesh.shadow_vao is not None:
                    mesh.shadow_vao.render(mgl.TRIANGLES)
        finally:
            self.fbo.color_mask = (True, True, True, True)
            self.fbo.depth_mask = True
            self.fbo.use()

    @staticmethod
    def _darken(rgb: np.ndarray, alpha: np.ndarray, strength: float, softness: float) -> np.ndarray:
        """``rgb`` with the shadow pixels (alpha in SHADOW_ALPHA) darkened by ``strength``, soft-edged."""
        lo, hi = SHADOW_ALPHA
        shadow = ((alpha >= lo) & (alpha < hi)).astype(np.float32)
        if not shadow.any():
            return rgb
        if softness > 0:
            import cv2

            shadow = cv2.GaussianBlur(shadow, (0, 0), softness)
        shadow[alpha >= hi] = 0  # the body is drawn over its shadow
        return (rgb * (1 - strength * shadow[..., None]) + 0.5).astype(np.uint8)

    def close(self) -> None:
        """Release the GL context."""
        self.ctx.release()
