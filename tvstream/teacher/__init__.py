"""A pre-trained 2D teacher (MediaPipe Pose) kept out of the runtime: install it, label clips with it.

The teacher runs in a virtual environment of its own (:mod:`tvstream.teacher.install`) through a worker
script (:mod:`tvstream.teacher.worker`) that streams JSON lines; its 33 landmarks become the 17 H36M joints
(:mod:`tvstream.teacher.mapping`) and land in hand-label files (:mod:`tvstream.teacher.labeling`).
Nothing here imports MediaPipe.
"""

from tvstream.teacher.install import install_teacher, teacher_home
from tvstream.teacher.labeling import LabelConfig, LabelResult, label_clip, label_clips, output_path, video_hash
from tvstream.teacher.runner import Teacher, open_teacher
from tvstream.teacher.specs import DEFAULT_TEACHER, TEACHERS

__all__ = ["DEFAULT_TEACHER", "TEACHERS", "LabelConfig", "LabelResult", "Teacher", "install_teacher",
           "label_clip", "label_clips", "open_teacher", "output_path", "teacher_home", "video_hash"]
