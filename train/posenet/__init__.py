"""A supervised pose network that localises: box detector, crop, heatmap 2D joints, location-map 3D joints.

DESIGN §7's second wave: heads that read joints from a spatial map of the crop instead of a global vector.
"""
