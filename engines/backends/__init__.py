"""Inference backends behind one interface: ``load_backend(path, name) -> Backend``; ``backend.infer(frames)``."""

from engines.backends.base import BACKENDS, Backend, load_backend, pick_backend

__all__ = ["BACKENDS", "Backend", "load_backend", "pick_backend"]
