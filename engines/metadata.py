"""What an exported model promises: stored as ONNX ``metadata_props`` and checked whenever it is loaded.

numpy/json only, so deploy boxes validate models without torch or onnx.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field

from tvstream.errors import CheckpointError
from tvstream.skeleton import JOINT_NAMES

MODEL_SCHEMA = "tvstream.model/1"
INPUT_NAME = "frames"  # (N, H, W, 3) uint8 RGB at the model's working resolution
# (N, 5) float32 [use, cx, cy, hx, hy] (+ an angle, below): with use 1 a box the crop follows instead of the
# detector's; with use 0 the square a person detector reading a square view looks at (zeros: the whole frame;
# FrameFit.view_row)
TRACK_INPUT = "track"
# a model whose crop turns with the body (PoseNetConfig.crop_rotation) takes a 6th number: the crop's angle
# (radians; the crop's up direction is (sin a, -cos a) in the frame), read on rows whose use is 1
TRACK_COLUMNS, TURNED_TRACK_COLUMNS = 5, 6
OUTPUTS = ("box", "pose3d", "pose2d")  # (N, 4) px, (N, K, 3) mm root-relative, (N, K, 2) px
DETECTIONS = "detections"  # (N, 3, h, w) a detector's raw map: centre logits, log half-size x, log half-size y
# (N, 5) [score, cx, cy, hx, hy]: a second detector's best person, sure or not (score 0 where it did not run),
# normalised as the track row, so the runtime can crop on it where the first crop found nobody
PERSON = "person"
FINDER_KIND = "posenet-finder"  # config kind of a pose network's person finder (engines.posenet_graph)
OPTIONAL_OUTPUTS = ("mask", "conf", DETECTIONS, PERSON)  # conf (N, K) per-joint confidence in [0, 1]
# run-time settings a model may carry (``config["run"]``): what ``tvstream run`` uses for it unless told otherwise
# (``tvstream.pipeline.RunOptions.for_model``). A head whose confidence runs higher than the default's follows its
# crop from a higher core confidence: MediaPipe's landmark network, sure of most reads, at 0.95 (session 45)
RUN_SETTINGS = ("track_conf", "track_shrink")  # each a number in [0, 1]


def bad_run_settings(run) -> list[str]:
    """The names in ``run`` (a model's ``config["run"]``) that are not :data:`RUN_SETTINGS` or not numbers in
    [0, 1] (``["run"]`` where it is not a dict): what a model carrying them is refused for."""
    if not isinstance(run, dict):
        return ["run"]
    return [k for k, v in run.items() if k not in RUN_SETTINGS or isinstance(v, bool)
            or not isinstance(v, (int, float)) or not 0 <= v <= 1]


@dataclass(frozen=True)
class ModelMetadata:
    """The contract between an exported model and the runtime."""

    input_size: tuple[int, int]  # (H, W) the frames must have
    joints: tuple[str, ...] = JOINT_NAMES
    units: str = "mm"
    outputs: tuple[str, ...] = OUTPUTS
    model_hash: str = ""  # sha256 of the weights that were exported
    name: str = "tvstream"
    trained: bool = True  # False when the regressor was randomly initialised (engine tests, demos)
    config: dict = field(default_factory=dict)  # the training config(s), for provenance
    inputs: tuple[str, ...] = (INPUT_NAME,)  # models with a tracking crop also take TRACK_INPUT
    schema: str = MODEL_SCHEMA

    @property
    def keeps_aspect(self) -> bool:
        """Whether the model learnt from frames of kept aspect between bars (the pose network), not stretched ones
        (the self-supervised graphs): how :class:`tvstream.sources.VideoSource` must place its frames."""
        return self.config.get("kind") == "posenet"

    @property
    def run_settings(self) -> dict[str, float]:
        """The run-time settings the model carries (``RUN_SETTINGS``; none for most models)."""
        return dict((self.config or {}).get("run", {}))

    @property
    def track_columns(self) -> int:
        """How many numbers a ``track`` row has: 6 for a model whose crop turns with the body, else 5."""
        turned = self.config.get("kind") == "posenet" and self.config.get("model", {}).get("crop_rotation", False)
        return TURNED_TRACK_COLUMNS if turned else TRACK_COLUMNS

    def to_props(self) -> dict[str, str]:
        """String key/values for ``onnx.ModelProto.metadata_props``."""
        return {"tvstream": json.dumps(asdict(self), sort_keys=True)}

    @staticmethod
    def from_props(props: dict[str, str], source: str = "model") -> ModelMetadata:
        """Parse and validate; raises CheckpointError naming what is wrong."""
        if "tvstream" not in props:
            raise CheckpointError(f"{source}: not a tvstream model (no 'tvstream' metadata)")
        try:
            d = json.loads(props["tvstream"])
        except json.JSONDecodeError as exc:
            raise CheckpointError(f"{source}: unreadable tvstream metadata ({exc})") from None
        if d.get("schema") != MODEL_SCHEMA:
            raise CheckpointError(f"{source}: model schema {d.get('schema')!r}, this runtime reads {MODEL_SCHEMA!r}")
        try:
            meta = ModelMetadata(input_size=tuple(d["input_size"]), joints=tuple(d["joints"]), units=d["units"],
                                 outputs=tuple(d["outputs"]), model_hash=d.get("model_hash", ""),
                                 name=d.get("name", "tvstream"), trained=bool(d.get("trained", True)),
                                 config=d.get("config", {}), schema=d["schema"],
                                 inputs=tuple(d.get("inputs", (INPUT_NAME,))))
        except (KeyError, TypeError) as exc:
            raise CheckpointError(f"{source}: tvstream metadata misses field {exc}") from None
        meta.check(source)
        return meta

    def check(self, source: str = "model") -> None:
        """Refuse a model this runtime cannot read (other skeleton, units, missing outputs)."""
        if self.joints != JOINT_NAMES:
            raise CheckpointError(f"{source}: model joints {list(self.joints)} differ from the runtime's "
                                  f"{list(JOINT_NAMES)}")
        if self.units != "mm":
            raise CheckpointError(f"{source}: model units {self.units!r}, expected 'mm'")
        # a person finder (the second look's search in squares) returns MediaPipe's person alone
        needed = (PERSON,) if (self.config or {}).get("kind") == FINDER_KIND else OUTPUTS
        missing = [o for o in needed if o not in self.outputs]
        if missing:
            raise CheckpointError(f"{source}: model lacks output(s) {missing}")
        if self.inputs not in ((INPUT_NAME,), (INPUT_NAME, TRACK_INPUT)):
            raise CheckpointError(f"{source}: model inputs {list(self.inputs)}, this runtime feeds "
                                  f"[{INPUT_NAME!r}] or [{INPUT_NAME!r}, {TRACK_INPUT!r}]")
        if len(self.input_size) != 2 or min(self.input_size) < 16:
            raise CheckpointError(f"{source}: bad input_size {self.input_size}")
        bad = bad_run_settings((self.config or {}).get("run", {}))
        if bad:
            raise CheckpointError(f"{source}: unknown or bad run-time settings {bad} (a model may carry "
                                  f"{', '.join(RUN_SETTINGS)}, each in [0, 1])")
