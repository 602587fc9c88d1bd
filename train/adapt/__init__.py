"""Adapting the pose network to a venue from its unlabeled footage (``tvstream adapt``): plates, a teacher's
2D labels, synthetic athletes over the plates, fine-tuning, export and a report (``pipeline.py``)."""
