"""examples/live_skeleton.html in a real headless browser, fed a synthetic pose stream over a WebSocket.

The browser is Debian's chromium, driven through the DevTools protocol on a pipe (``--remote-debugging-pipe``:
fd 3 in, fd 4 out, NUL-terminated JSON). A plain ``--screenshot --virtual-time-budget=MS`` run cannot wait
for the stream: virtual time does not stop for an open WebSocket, so the budget runs out (in well under a
second of wall time) whenever the lines come later than the handshake. Over the protocol the test asks the
page itself whether the last frame has arrived, waits for it to be painted, and only then takes the shot.
"""

from __future__ import annotations

import base64
import functools
import http.server
import io
import json
import math
import os
import re
import select
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tvstream.camera import SceneCamera
from tvstream.root_position import RootEstimate
from tvstream.sinks import JsonlSink
from tvstream.skeleton import H36M_17, JOINT_NAMES

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
PAGE = EXAMPLES / "live_skeleton.html"
CHROMIUM = Path("/usr/bin/chromium")
SAVE_ENV = "TVSTREAM_LIVE_PAGE_PNG"  # set to a path to keep the screenshot (examples/live_skeleton.png)

SRC_W, SRC_H, FPS, FRAMES = 640, 360, 25.0, 50
VIEW_W, VIEW_H = 960, 540  # the page fits the 640x360 source exactly: 1.5 canvas pixels per source pixel
K = [[500.0, 0.0, 320.0], [0.0, 500.0, 180.0], [0.0, 0.0, 1.0]]
FADED = 16  # rwrist: sent with a low confidence, so it and its bone are drawn faint

# Colours of examples/live_skeleton.html (COLOURS there).
LEFT_RGB, RIGHT_RGB, CENTER_RGB = (79, 195, 247), (255, 138, 61), (230, 230, 230)

# A standing body, root-relative mm (x right, y down), placed at the root and projected through K.
BODY = {"hip": (0, 0), "rhip": (-130, 0), "rknee": (-140, 450), "rankle": (-150, 880), "lhip": (130, 0),
        "lknee": (140, 450), "lankle": (150, 880), "spine": (0, -230), "thorax": (0, -480), "neck": (0, -560),
        "head": (0, -680), "lshoulder": (180, -470), "lelbow": (330, -280), "lwrist": (420, -100),
        "rshoulder": (-180, -470), "relbow": (-330, -280), "rwrist": (-420, -100)}


# ---- the synthetic stream ------------------------------------------------------------------------------

def root_at(t: float) -> list[float]:
    """Camera mm: 2 m to the right over the clip along an arc that goes 0.6 m away and back."""
    return [-1500.0 + 1000.0 * t, 300.0, 4000.0 + 600.0 * math.sin(math.pi * t / 2)]


def project(p: list[float]) -> list[float]:
    return [K[0][0] * p[0] / p[2] + K[0][2], K[1][1] * p[1] / p[2] + K[1][2]]


def pose2d_at(t: float) -> np.ndarray:
    root = root_at(t)
    return np.array([project([root[0] + x, root[1] + y, root[2]]) for x, y in (BODY[n] for n in JOINT_NAMES)])


def write_header(sink: JsonlSink, camera: bool = True) -> None:
    cam = SceneCamera(K=np.array(K), width=SRC_W, intrinsics="fov").to_dict() if camera else None
    sink.header({"name": "synthetic"}, "synthetic", SRC_W, SRC_H, FPS, camera=cam)


def write_pose(sink: JsonlSink, frame: int, rich: bool = True, shot: int = 0) -> None:
    """One frame of the walk; ``rich``: with conf (``FADED`` low), track and root (pose/2 lines without them
    are what a model without confidence and a run without root positions write)."""
    t = frame / FPS
    p2d = pose2d_at(t)
    box = np.concatenate([p2d.min(0) - 12, p2d.max(0) + 12])
    pose3d = np.array([[x, y, 0.0] for x, y in BODY.values()])
    conf = np.where(np.arange(len(JOINT_NAMES)) == FADED, 0.1, 0.9)
    root = RootEstimate(position=np.array(root_at(t)), speed=1100.0, height=950.0, ground=True)
    if rich:
        sink.pose(frame, t, True, 1.0, box, pose3d, p2d, 3.0, conf=conf, track=1, root=root, shot=shot)
    else:
        sink.pose(frame, t, True, 1.0, box, pose3d, p2d, 3.0)


# ---- the browser -----------------------------------------------------------------------------------------

class Browser:
    """Headless chromium driven over the DevTools protocol on a pipe; one page, fixed viewport."""

    def __init__(self, profile: Path) -> None:
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()

        def at_fds_3_and_4() -> None:  # the protocol's fixed fds, dup'ed via free high numbers to avoid clashes
            os.dup2(to_chrome_r, 100)
            os.dup2(from_chrome_w, 101)
            os.dup2(100, 3)
            os.dup2(101, 4)

        args = [str(CHROMIUM), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--hide-scrollbars", f"--user-data-dir={profile}", f"--window-size={VIEW_W},{VIEW_H}",
                "--remote-debugging-pipe", "about:blank"]
        self._proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL, pass_fds=(3, 4), preexec_fn=at_fds_3_and_4)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buffer = b""
        self._next_id = 0
        self.events: list[dict] = []
        self.png = b""  # the last screenshot
        target = self.call("Target.createTarget", url="about:blank")["targetId"]
        self._session = self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]
        self.call("Emulation.setDeviceMetricsOverride", session=True, width=VIEW_W, height=VIEW_H,
                  deviceScaleFactor=1, mobile=False)
        self.call("Runtime.enable", session=True)  # so that page exceptions arrive as events

    def open(self, url: str) -> None:
        self.call("Page.navigate", session=True, url=url)

    def exceptions(self) -> list[str]:
        """Uncaught errors of the page so far (a syntax error shows here, not as a failed connection)."""
        self.call("Runtime.evaluate", session=True, expression="0")  # reads the events sent before its reply
        return [e["params"]["exceptionDetails"].get("exception", {}).get("description", str(e["params"]))
                for e in self.events if e["method"] == "Runtime.exceptionThrown"]

    def call(self, method: str, session: bool = False, timeout: float = 10.0, **params) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = self._session
        os.write(self._to_chrome, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:  # events and other replies are skipped
            while b"\0" not in self._buffer:
                if not select.select([self._from_chrome], [], [], max(deadline - time.monotonic(), 0))[0]:
                    raise TimeoutError(f"chromium did not answer {method} in {timeout} s")
                chunk = os.read(self._from_chrome, 1 << 20)
                if not chunk:
                    raise RuntimeError(f"chromium closed the pipe during {method}")
                self._buffer += chunk
            raw, self._buffer = self._buffer.split(b"\0", 1)
            reply = json.loads(raw)
            if "method" in reply:
                self.events.append(reply)
            elif reply.get("id") == self._next_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                return reply["result"]

    def evaluate(self, expression: str, await_promise: bool = False):
        result = self.call("Runtime.evaluate", session=True, expression=expression, returnByValue=True,
                           awaitPromise=await_promise)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not self.evaluate(expression):
            if time.monotonic() > deadline:
                raise TimeoutError(f"the page never reached {expression}")
            time.sleep(0.05)

    def screenshot(self, transparent: bool = False) -> np.ndarray:
        """The viewport as an (H, W, 4) RGBA array, after the page has painted twice more."""
        from PIL import Image
        self.evaluate("new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))", await_promise=True)
        if transparent:
            self.call("Emulation.setDefaultBackgroundColorOverride", session=True, color={"r": 0, "g": 0, "b": 0, "a": 0})
        png = base64.b64decode(self.call("Page.captureScreenshot", session=True, format="png")["data"])
        self.png = png
        return np.asarray(Image.open(io.BytesIO(png)).convert("RGBA"))

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=5)
        except (TimeoutError, RuntimeError, OSError):
            pass
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        os.close(self._to_chrome)
        os.close(self._from_chrome)


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is absent (Debian package chromium; .ci/run installs it)")
    b = Browser(tmp_path / "profile")
    try:
        yield b
    finally:
        b.close()


@pytest.fixture(scope="module")
def examples_url() -> Iterator[str]:
    """examples/ over http on 127.0.0.1 (a WebSocket page opened from file:// would work too, but a served
    page is how it is used)."""
    handler = functools.partial(_QuietHandler, directory=str(EXAMPLES))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args) -> None:  # noqa: A002 - the base class's name
        pass


# ---- pixels --------------------------------------------------------------------------------------------

def near(img: np.ndarray, rgb: tuple[int, int, int], tol: int = 30) -> np.ndarray:
    """(H, W) mask of the pixels within ``tol`` of ``rgb`` in every channel."""
    return (np.abs(img[..., :3].astype(int) - np.array(rgb)) <= tol).all(-1)


def canvas_xy(p: np.ndarray) -> tuple[int, int]:
    """Source pixels -> screenshot pixels (the canvas fills the viewport)."""
    return int(round(p[0] * VIEW_W / SRC_W)), int(round(p[1] * VIEW_H / SRC_H))


def patch(mask: np.ndarray, xy: tuple[int, int], r: int = 3) -> np.ndarray:
    x, y = xy
    return mask[y - r:y + r + 1, x - r:x + r + 1]


def _page_constant(name: str) -> list:
    match = re.search(rf"^const {name} = (\[.*\]);$", PAGE.read_text(), re.MULTILINE)
    assert match, f"{PAGE.name} has no one-line 'const {name} = [...];'"
    return json.loads(match.group(1))


# ---- tests -----------------------------------------------------------------------------------------------

def test_page_skeleton_matches_the_python_skeleton():
    assert _page_constant("BONES") == [list(b) for b in H36M_17.bones]
    assert _page_constant("LEFT") == list(H36M_17.left)
    assert _page_constant("RIGHT") == list(H36M_17.right)


def test_page_draws_the_live_skeleton_and_root_trail(browser: Browser, examples_url: str):
    with JsonlSink("ws://127.0.0.1:0") as sink:
        browser.open(f"{examples_url}/live_skeleton.html?ws=ws://127.0.0.1:{sink.port}")
        assert sink.wait_for_client(10), f"the page never connected: {browser.exceptions()}"
        write_header(sink)
        for f in range(FRAMES):
            write_pose(sink, f)
        browser.wait_for(f"state.pose !== null && state.pose.frame === {FRAMES - 1}")
        img = browser.screenshot()
        if os.environ.get(SAVE_ENV):
            Path(os.environ[SAVE_ENV]).write_bytes(browser.png)
        assert browser.evaluate("state.trail.length") == FRAMES
        write_pose(sink, FRAMES, shot=1)  # a cut to another camera (the same track id): the trail starts afresh
        browser.wait_for(f"state.pose.frame === {FRAMES} && state.trail.length === 1")
        sink.end(FRAMES + 1)
    # The end line, then the close frame: the page keeps the last frame and tries again, until a new run serves.
    browser.wait_for(f"state.end !== null && state.end.frames === {FRAMES + 1} && state.connection.includes('retry')")
    with JsonlSink(f"ws://127.0.0.1:{sink.port}") as again:
        assert again.wait_for_client(10), "the page did not reconnect"
        write_header(again)
        browser.wait_for("state.header !== null && state.end === null && state.pose === null")
    assert browser.exceptions() == []
    assert (img[..., 3] == 255).all() and img[5, VIEW_W - 5, :3].max() < 40  # dark, opaque background

    # Each bone is drawn at its place, in its side's colour; the low-confidence one faintly.
    p2d = pose2d_at((FRAMES - 1) / FPS)
    colours = {"left": LEFT_RGB, "right": RIGHT_RGB, "center": CENTER_RGB}
    for a, b in H36M_17.bones:
        mid = canvas_xy((p2d[a] + p2d[b]) / 2)
        bright = bool(patch(near(img, colours[H36M_17.side(b)]), mid).any())
        name = f"bone {JOINT_NAMES[a]}-{JOINT_NAMES[b]}"
        if b == FADED:
            assert not bright, f"{name} (conf 0.1) drawn at full strength"
            assert patch(img[..., :3].max(-1) > 35, mid).any(), f"{name} (conf 0.1) not drawn at all"
        else:
            assert bright, f"{name} missing near {mid}"

    # ... and nowhere else: outside the box, the status line and the plan-view inset no skeleton colour.
    skeleton = near(img, LEFT_RGB) | near(img, RIGHT_RGB) | near(img, CENTER_RGB)
    (x0, y0), (x1, y1) = canvas_xy(p2d.min(0) - 20), canvas_xy(p2d.max(0) + 20)
    skeleton[y0:y1, x0:x1] = False
    skeleton[:70, :] = False  # status line
    skeleton[VIEW_H * 3 // 5:, VIEW_W * 3 // 4:] = False  # plan view
    assert not skeleton.any(), f"skeleton colour far from the skeleton at {np.argwhere(skeleton)[:5].tolist()}"

    # The root trail: on the image (root projected through the header's K) and in the plan-view inset.
    r, g, b = (img[..., c].astype(int) for c in range(3))
    yellow = (r > 60) & (g > 0.7 * r) & (g < 0.95 * r) & (b < 0.55 * r)
    for f in (5, 25, 45):
        xy = canvas_xy(np.array(project(root_at(f / FPS))))
        assert patch(yellow, xy, 4).any(), f"no root trail on the image at frame {f} ({xy})"
    inset = yellow[VIEW_H * 3 // 5:, VIEW_W * 3 // 4:]
    cols = np.flatnonzero(inset.any(0))
    assert inset.sum() > 60 and cols.size and cols[-1] - cols[0] > 50, "no trail in the plan view"
    assert not yellow[:VIEW_H * 3 // 5, VIEW_W * 3 // 4:].any()


def test_transparent_page_draws_a_plain_pose2_stream(browser: Browser, examples_url: str):
    """Lines without conf, root, track or camera draw the skeleton; &bg=transparent keys the background out."""
    with JsonlSink("ws://127.0.0.1:0") as sink:
        browser.open(f"{examples_url}/live_skeleton.html?bg=transparent&ws=ws://127.0.0.1:{sink.port}")
        assert sink.wait_for_client(10), f"the page never connected: {browser.exceptions()}"
        write_header(sink, camera=False)
        for f in range(3):
            write_pose(sink, f, rich=False)
        browser.wait_for("state.pose !== null && state.pose.frame === 2")
        img = browser.screenshot(transparent=True)
    assert browser.exceptions() == []
    assert img[VIEW_H // 2, 5, 3] == 0 and img[5, VIEW_W - 5, 3] == 0  # keyed out
    assert img[VIEW_H - 30, VIEW_W - 30, 3] > 0  # the plan-view panel stays readable
    p2d = pose2d_at(2 / FPS)
    for j in (H36M_17.index("head"), H36M_17.index("lwrist"), H36M_17.index("rankle")):
        assert patch(img[..., 3] > 200, canvas_xy(p2d[j])).any(), f"joint {JOINT_NAMES[j]} not drawn"
