"""One exception family for the whole product.

Library code raises these; the CLI catches :class:`TvstreamError` once, prints one line and exits with
the code named by the exception's ``exit_code``. Leaves also subclass a builtin where one fits, so
``except ValueError`` still works for callers that do not know tvstream.
"""

from __future__ import annotations

import enum


class ExitStatus(enum.IntEnum):
    """Process exit codes of the ``tvstream`` command."""

    OK = 0
    ERROR = 1
    USAGE = 2  # click's own code for bad flags
    SOURCE = 2  # a missing, unsupported or unreadable video is the caller's mistake too (an alias of USAGE)
    BAD_INPUT = 3
    SINK = 4
    BACKEND = 5
    CHECKPOINT = 6
    INTERRUPTED = 130


class TvstreamError(Exception):
    """Base of every error tvstream raises on purpose."""

    exit_code: ExitStatus = ExitStatus.ERROR


class LabelError(TvstreamError, ValueError):
    """A label, manifest or hand-label file is missing a field or has a wrong shape or type."""

    exit_code = ExitStatus.BAD_INPUT


class CameraError(TvstreamError, ValueError):
    """A camera file (``tvstream run --camera``) is missing, not JSON, or has a bad ``K`` or ground plane."""

    exit_code = ExitStatus.BAD_INPUT


class SourceError(TvstreamError, OSError):
    """A video cannot be opened, decoded or read (missing file, corrupt data, dead stream)."""

    exit_code = ExitStatus.SOURCE


class SinkError(TvstreamError, OSError):
    """Output cannot be written (a full disk, a closed socket or pipe)."""

    exit_code = ExitStatus.SINK


class BackendError(TvstreamError, RuntimeError):
    """An inference backend cannot be loaded or run."""

    exit_code = ExitStatus.BACKEND


class TeacherError(TvstreamError, RuntimeError):
    """The pre-trained 2D teacher (``tvstream teacher``, ``tvstream label``) is missing, cannot be installed or
    failed on a clip."""

    exit_code = ExitStatus.BACKEND


class CheckpointError(TvstreamError, ValueError):
    """A checkpoint or model file does not match what the code expects."""

    exit_code = ExitStatus.CHECKPOINT
