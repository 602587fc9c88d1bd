"""Fine-tuning MediaPipe's landmark network (read as H36M joints) on rendered and real people: session 45's recipe.

MediaPipe's landmark network reads real people's boxes far better than tvstream's own head and rendered people
worse. The recipe (``benchmarks/results/s45_rule.md``: LFT6, LFT6P and the ridge readout after them) keeps the
first while it learns the second:

1. ``crops``: 256 px crops of jittered labeled boxes, rendered clips (2D + 3D) and real cut-outs (a teacher's 2D);
2. ``tune``: the whole network, L1 on the 2D and the 3D, distilled to the original on the real crops, the 3D
   read from detached features (LFT6: design sets 0.808 PCK, real development set on Heavy's boxes 0.720 against
   the default's 0.593);
3. ``presence``: its pose flag alone, people against person-free plate squares (LFT6P: real dev through the run
   0.617 against 0.540);
4. ``readout3d``: its own 3D convolution fitted by ridge regression to the renders' 3D (2-35 mm nearer than the
   tuned readout);
5. ``export``: the head behind the embedded model's detectors, as ``real-full-landmarks-joints``.

Run: ``python -m train.landmark_tune --renders data/design --real data/cutouts --plates data/plates/train
--work runs/lft --out lft.onnx`` (``--help``: every setting). ``pipeline.run`` is the same from Python.

``head_init`` starts it from a model this recipe made instead of MediaPipe's file: its head seeds the tune and is
what the real crops are distilled to, its pose flag seeds the presence stage, and its own 3D convolution is the 3D
the tune trains and the readout's prior. ``tvstream adapt`` runs it so when the model it adapts reads landmarks
(``train.adapt.pipeline``: the venue's rendered athletes, its teacher-labeled clips and its plates).
"""

from train.landmark_tune.config import LandmarkTuneConfig

__all__ = ["LandmarkTuneConfig"]
