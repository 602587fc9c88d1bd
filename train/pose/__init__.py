"""Phase 2: 3D pose from frozen self-supervised features with few labels."""
