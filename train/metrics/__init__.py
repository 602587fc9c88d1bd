"""Pose metrics in millimetres on root-relative poses: MPJPE, N-MPJPE, P-MPJPE and their breakdowns."""

from train.metrics.pose import mpjpe, n_mpjpe, p_mpjpe, per_group, per_joint

__all__ = ["mpjpe", "n_mpjpe", "p_mpjpe", "per_group", "per_joint"]
