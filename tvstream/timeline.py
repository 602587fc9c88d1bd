"""Source timestamps made monotonic: what ``t`` in the output means."""

from __future__ import annotations


class Timeline:
    """Turns ``pts × time_base`` into one strictly increasing time in seconds.

    Files keep their own clock; live sources start at 0. A new connection, or a jump back of more than a
    second (a 33-bit MPEG-TS pts wrap, an encoder restart), re-anchors the clock one frame after the last
    time. Smaller faults (repeated or missing pts) get the last time plus one frame.
    """

    def __init__(self, step: float, from_zero: bool) -> None:
        self.step = step
        self.last: float | None = None
        self.offset = 0.0
        self._anchor = from_zero

    def restart(self) -> None:
        """The next time starts a new clock (a reconnect)."""
        self._anchor = True

    def __call__(self, time: float | None) -> float:
        following = 0.0 if self.last is None else self.last + self.step
        if time is None:
            t = following
        else:
            if self._anchor or (self.last is not None and time + self.offset < self.last - 1.0):
                self.offset, self._anchor = following - time, False
            t = time + self.offset
            if self.last is not None and t <= self.last:
                t = following
        self.last = t
        return t
