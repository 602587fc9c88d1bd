"""One athlete, kept: which person the run follows, and the track id every pose line carries.

At the start (and after the athlete has been gone longer than ``hold_s``) a person is chosen among the
detector's candidates (:mod:`tvstream.candidates`) by the ``select`` policy: ``largest`` (the biggest box),
``centre`` (nearest the frame's centre) or ``first`` (the detector's strongest, i.e. the first person found).
That starts a new track id. Where the head reads several of them surely, the run applies the policy to the
skeletons it read instead of the detector's boxes (``tvstream.pipeline``; a box can be half a person's).

While the athlete is held, everyone the detector sees has a track of its own (:class:`Person`: a constant-
velocity box and the colours of its torso region), and each frame's candidates are matched to the tracks
jointly (as many pairs as possible, then the least total cost: distance from the prediction in the track's
half-sizes, size ratio, colours where both are known), each within a gate that widens the longer its track has
been unseen. A candidate outside the athlete's gate never becomes the athlete: a person crossing the frame does
not take over the track, and an athlete hidden for up to ``hold_s`` keeps the id when it reappears.

Two people close together in the image are one peak of the detector (trained on one person per frame): a
crossing. When a confirmed person's peak goes missing next to the athlete's (or the reverse), the athlete is
*ambiguous* until both have peaks of their own again: neither track learns from the merged peak (both coast on
their velocities, so the one walking past is predicted beyond the athlete when they part), the crop goes where
the athlete is predicted, and its skeleton is the athlete's only when the two are predicted apart (allowing for
their velocities' error) and it matches the athlete's box better than the other's (:meth:`AthleteTrack.owns`);
otherwise the frame is not reported. Crossings are judged only while the camera holds still
(:mod:`tvstream.camera_motion`). Before this, the athlete's track followed the merged peak and left with the
passer-by: 28-40 identity switches per minute on the synthetic crossing clips of ``benchmarks/keep_athlete.py``.

A jump cut is not a crossing: where one fixed camera's takes are joined, the athlete is gone in one frame and the next
one stands elsewhere in the same frame, while the picture hardly changes (:mod:`tvstream.scene_cut` calls no cut).
A person who appears in the very frame the athlete's own peak vanished, and is then seen in each frame while the
athlete stays unseen, is the athlete after ``KeepOptions.jump`` frames (a new id). Someone tracked before the athlete
vanished (a passer-by, a coach) never is, and an athlete who walks behind something keeps its id as before. Before
this the run held the gone athlete for ``hold_s``: 44 frames unreported in session 39's long venue.

Colours only break ties: on ``examples/sample_ski.mp4`` the skier's own torso histogram, against the one learnt,
scored 0.2-0.7 (snow and sky behind a small, turning body), so a colour threshold vetoed the athlete itself
(PCK@0.2 through the run fell from 0.84 to 0.50).

Coordinates are the model's normalised frame coordinates (-1..1); distances are measured in pixels.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tvstream.candidates import MIN_LOGIT, Candidate

SELECT_POLICIES = ("largest", "centre", "first")
TORSO = np.array([0.3, 0.3])  # the appearance region: this share of the box's half-size around its centre
COLOUR_LEVELS = 4  # per channel: a 64-bin RGB histogram
MAX_OTHERS = 16  # tracks of other people kept at most (the most recently seen)


def appearance(image: np.ndarray, centre: np.ndarray, half: np.ndarray) -> np.ndarray | None:
    """The normalised colour histogram ``(64,)`` of the torso region of a box in ``image (H, W, 3)`` uint8;
    None when the region holds no pixel."""
    h, w = image.shape[:2]
    size = np.array([w, h], np.float64)
    c, r = (np.asarray(centre) + 1) * size / 2, np.asarray(half) * TORSO * size / 2
    x0, y0 = np.floor(np.clip(c - r, 0, size)).astype(int)
    x1, y1 = np.ceil(np.clip(c + r, 0, size)).astype(int)
    region = image[y0:y1, x0:x1]
    if region.size == 0:
        return None
    q = (region // (256 // COLOUR_LEVELS)).astype(np.int64).reshape(-1, 3)
    hist = np.bincount((q[:, 0] * COLOUR_LEVELS + q[:, 1]) * COLOUR_LEVELS + q[:, 2], minlength=COLOUR_LEVELS ** 3)
    return hist / hist.sum()


def similarity(a: np.ndarray, b: np.ndarray) -> float:
    """Bhattacharyya coefficient of two histograms: 1 the same colours, 0 none shared."""
    return float(np.sqrt(a * b).sum())


@dataclass(frozen=True)
class KeepOptions:
    """How the athlete is chosen and kept (``tvstream run --select``)."""

    select: str = "largest"
    hold_s: float = 2.0  # seconds the track survives without the athlete (a full occlusion, a missed detection)
    gate: float = 1.5  # a candidate's centre may be this many track half-sizes from the prediction ...
    gate_growth: float = 1.0  # ... times (1 + gate_growth * seconds unseen)
    size_ratio: float = 2.0  # ... and its size within this factor of the track's
    reshape: float = 1.0  # a peak nobody's track takes, within this many athlete half-sizes of where the athlete
    # is predicted while the athlete has no peak, is the athlete changing shape, whatever its size (getting up
    # from the floor halved the box's longer side in a second; the smoothed size lagged, the athlete's own peak
    # started a track of "someone else" that then merged with it: 37% of that clip's frames were vetoed).
    # Also: a peak that near, whose nearest track is the athlete's, stays the athlete's (see choose)
    predict_s: float = 1.0  # the constant-velocity prediction stops after this long unseen (the gate still grows)
    max_growth: float = 1.25  # a crop around the held athlete is at most this times its (smoothed) size
    size_smoothing: float = 0.8  # weight of the old size in the running size (a merge with a passer-by is brief)
    colour_weight: float = 2.0  # matching cost: distance (half-sizes) + |log size ratio| + this x (1 - colour
    # similarity)
    learn: float = 0.05  # running-average weight of the colours of a confident frame where the athlete is clear
    learn_similarity: float = 0.8  # clear: its colours at least this close, and nobody within 2 half-sizes
    prefer: float = 1.0  # another track's matching cost carries this much more than the athlete's (a second peak on
    # the athlete's own body, e.g. a crouching skier's legs, does not take the athlete's peak)
    confirm: int = 3  # another person's track counts (can make the athlete ambiguous) after this many detections
    # beside the athlete's own peak (a false peak twice the athlete's size, seen three frames while the athlete's
    # own peak was missing, coasted over it and vetoed 1.5 s of its sure reads as a crossing: tvstream adapt's
    # held-out get-up clip; a passer-by is seen beside the athlete before the two merge)
    merge: float = 1.0  # a person's peak is missing and the athlete's is within this many of its half-sizes of where
    # it is predicted (or the reverse): one peak for both, the athlete is ambiguous ...
    inseparable: float = 0.5  # ... and no skeleton is the athlete's while a rival is predicted within this many of
    # its half-sizes of the athlete (a single-person pose head reads two bodies on top of each other as one) ...
    behind: float = 0.9  # ... unless the rival's size is at most this share of the athlete's: it is farther from the
    # camera, so behind the athlete, and a head cropped on the athlete reads the one seen whole (two people's
    # landscape clips withheld 27-34 frames as the farther walked past behind, the athlete read 0.88-0.97 sure on
    # its own limbs; s60_rule28.md). 0: every close rival is inseparable (before session 60)
    uncertainty: float = 1.0  # ... counting a coasting track's velocity as known to within this share
    velocity_s: float = 0.5  # a track's velocity: the least-squares slope of its positions over this many seconds
    unsure_reach: float = 1.0  # a read under track_conf (not steady) moves the athlete's track only within this many
    # of its half-sizes of where it is predicted; a farther one keeps the id alive but not the place, so the gate
    # keeps growing from the last read that placed it (a tuned head read a body behind a van at 0.41-0.79 beside a
    # hidden cyclist: the track moved there and the cyclist, coming back with sure reads, was outside the gate
    # for the rest of the clip). inf: every reported read moves it (before session 49). Since session 59 a read >= 0.5
    # sure on the athlete's own peak with nobody near it moves it however far (s59_rule26.md): with the model's
    # track_conf at 0.98 nearly every real read is unsure, and an athlete out from behind a pillar was lost
    read_predicted: bool = True  # a detector-placed frame whose people hold nobody who may be the athlete, while
    # it is held, is read again where it is predicted (kept when surely someone who may be it): a false peak (a
    # sunlit tree) and no peak on the athlete vetoed every frame, and a vetoed frame gets no second look, so the
    # athlete the second look had found was never read again until its track expired. False: before session 50
    jump: int = 5  # a person who appears in the very frame the athlete's own peak vanished, and is then seen in each of
    # this many frames (counting the first) while the athlete stays unseen, is the athlete: a jump cut (one fixed
    # camera's takes joined: the last athlete gone at once, the next elsewhere; the picture hardly changes, so
    # tvstream.scene_cut does not call it). Session 39's long venue held the gone athlete 1.8 s there. 0: never

    def __post_init__(self) -> None:
        if self.select not in SELECT_POLICIES:
            raise ValueError(f"select must be one of {', '.join(SELECT_POLICIES)}, got {self.select!r}")
        if self.hold_s < 0 or self.gate <= 0 or self.size_ratio < 1 or self.colour_weight < 0 or self.unsure_reach < 0:
            raise ValueError("need hold_s >= 0, gate > 0, size_ratio >= 1, colour_weight >= 0 and unsure_reach >= 0")
        if not 0 <= self.behind <= 1:
            raise ValueError(f"behind must be in [0, 1], got {self.behind}")


@dataclass(eq=False)  # compared by identity (array fields)
class Person:
    """One person's box track, normalised frame coordinates: ``centre``, ``half``, ``velocity`` (units/s), the time
    it was last ``seen``, how many frames it was detected in (``hits``) and its torso ``colours``."""

    centre: np.ndarray
    half: np.ndarray
    seen: float
    velocity: np.ndarray = field(default_factory=lambda: np.zeros(2))
    hits: int = 1
    beside: int = 0  # detections while the athlete had a peak of its own (KeepOptions.confirm)
    colours: np.ndarray | None = None
    path: list = field(default_factory=list)  # (time, centre) of the detections of the last velocity_s
    jumped: int = 0  # appeared as the athlete vanished (KeepOptions.jump): frames seen since, the athlete unseen

    def __post_init__(self) -> None:
        self.path = [(self.seen, self.centre)]

    def predict(self, t: float, predict_s: float) -> np.ndarray:
        """The centre at time ``t``: constant velocity for at most ``predict_s`` after it was last seen, and never
        beyond the frame's edge (a crop placed on a coasting prediction went on off the top of the frame)."""
        centre = self.centre + self.velocity * min(t - self.seen, predict_s)
        return np.clip(centre, -1.0, 1.0, out=centre)  # in place: no second array per prediction

    def observe(self, centre: np.ndarray, half: np.ndarray, t: float, size_smoothing: float,
                velocity_s: float = 0.5, motion: bool = True) -> None:
        """Take a detection at time ``t``: the velocity is the least-squares slope of the positions seen in the last
        ``velocity_s`` (one jumpy detection moves it little; none after a gap of more than 0.2 s), the size is
        smoothed. Without ``motion`` (a doubtful box: a body going behind something shows a part of itself), or
        for a box that the frame's edge cuts, only the place moves on: velocity and size stay what they were."""
        centre, half = np.asarray(centre, np.float64), np.asarray(half, np.float64)
        if not motion or self.cut(centre, half):  # a box cut by the frame's edge moves with the cut
            # (a passer-by walking in from the side seemed twice as fast as it was)
            self.centre, self.seen, self.hits = centre, t, self.hits + 1
            return
        if t - self.seen > 0.2:
            self.path = []
        self.path = [(s, c) for s, c in self.path if t - s <= velocity_s] + [(t, centre)]
        times = np.array([s for s, _ in self.path])
        if len(times) >= 3 and np.ptp(times) > 0:
            dt = times - times.mean()
            self.velocity = (dt[:, None] * np.stack([c for _, c in self.path])).sum(0) / (dt ** 2).sum()
        else:
            self.velocity = np.zeros(2)
        self.half = size_smoothing * self.half + (1 - size_smoothing) * half
        self.centre, self.seen, self.hits = centre, t, self.hits + 1

    @staticmethod
    def cut(centre: np.ndarray, half: np.ndarray) -> bool:
        """Does the box ``centre``, ``half`` (normalised) reach past the frame's edge?"""
        return bool(np.any(np.abs(centre) + half > 1.0))

    def resize(self, centre: np.ndarray, half: np.ndarray, size_smoothing: float) -> None:
        """Take a size alone (the box a fairly sure skeleton spans, :meth:`AthleteTrack.update`), smoothed as
        :meth:`observe` smooths sizes; not from a box the frame's edge cuts. The place, velocity and time stay."""
        if not self.cut(centre, half):
            self.half = size_smoothing * self.half + (1 - size_smoothing) * half

    def learn_colours(self, colours: np.ndarray | None, rate: float, min_similarity: float) -> None:
        """Fold ``colours`` into the running histogram (the first one is taken as it is; one far from the running
        one, e.g. someone else's torso, is not learnt)."""
        if colours is None:
            return
        if self.colours is None:
            self.colours = colours
        elif similarity(colours, self.colours) >= min_similarity:
            self.colours = (1 - rate) * self.colours + rate * colours


class AthleteTrack:
    """The athlete's track and id, and the tracks of everyone else the detector sees, updated frame by frame.

    Per frame: :meth:`choose` (which candidate is the athlete; sets :attr:`ambiguous`), then :meth:`update`
    with the frame's result. Args:
        input_size: ``(H, W)`` of the model's frames (for pixel distances).
        fixed_camera: judge merges (:attr:`ambiguous`; the run sets it frame by frame from
            :class:`tvstream.camera_motion.CameraMotion`). Not while the camera pans and zooms with the athlete: a
            still object then moves in the image and the constant-velocity predictions of a merge do not hold
            (on ``examples/sample_ski.mp4`` the skier passing a second peak of the detector was withheld for 1.8 s,
            PCK@0.2 through the run 0.85 -> 0.64).
    """

    def __init__(self, input_size: tuple[int, int], options: KeepOptions = KeepOptions(),
                 fixed_camera: bool = True) -> None:
        h, w = input_size
        self.fixed_camera = fixed_camera  # merges are judged only where still things stay still in the image
        self._px = np.array([w, h], np.float64) / 2  # pixels per normalised unit, (x, y)
        self.options = options
        self.track_id: int | None = None
        self._ids = 0
        self.athlete: Person | None = None
        self.others: list[Person] = []
        self.ambiguous = False  # this frame: the athlete overlaps someone and the detector sees one of them only
        self.rivals: list[Person] = []  # ... the people it overlaps
        self._alive: float | None = None  # last time the athlete was detected or ambiguous (the hold runs from it)
        self._last_t: float | None = None  # the last frame's time (choose)
        self._shape = 1.0  # running ratio of the athlete's skeleton size to its box's (see owns)
        self._reach: np.ndarray | None = None  # running half-size of the crops its own sure skeletons place (limit)

    # --- state -----------------------------------------------------------------------------------------------
    def forget(self) -> None:
        """A new shot (:mod:`tvstream.scene_cut`): nobody is held, and the next person found starts a new track (the
        run cannot tell whether the camera cut to the same athlete)."""
        self._alive = None
        self.others, self.rivals, self.ambiguous = [], [], False

    def held(self, t: float) -> bool:
        """Is there an athlete whose track survives at time ``t``?"""
        return self._alive is not None and t - self._alive <= self.options.hold_s

    def may_be(self, centre: np.ndarray, t: float) -> bool:
        """Could a person at ``centre`` (normalised) be the athlete at time ``t``? Yes while no athlete is held;
        else when it is within ``reshape`` of the athlete's half-sizes from where the athlete is predicted and no
        other track is predicted nearer (in pixels: in each track's own half-sizes, a big false box's track claimed
        a small athlete's skeleton 7 times farther from it than from the athlete, s59_rule23.md)."""
        return not self.held(t) or self._claims(centre, self._distance(self.athlete, centre, t), t)

    def _claims(self, centre: np.ndarray, distance: float, t: float) -> bool:
        """Is ``centre``, ``distance`` (athlete half-sizes) from where the athlete is predicted, within ``reshape``
        of it and nearer to it (pixels) than to every other track's prediction?"""
        if distance > self.options.reshape:
            return False
        mine = distance * self._size(self.athlete.half)  # the same distance in pixels
        return all(self._pixels(o, centre, t) > mine for o in self.others)

    def _pixels(self, track: Person, centre: np.ndarray, t: float) -> float:
        """``centre``'s distance from ``track``'s prediction, in pixels."""
        return float(np.linalg.norm((np.asarray(centre) - track.predict(t, self.options.predict_s)) * self._px))

    def _size(self, half: np.ndarray) -> float:
        return float(np.max(np.asarray(half) * self._px))  # pixels: the longer half-side

    def _distance(self, track: Person, centre: np.ndarray, t: float) -> float:
        """``centre``'s distance from ``track``'s prediction, in the track's half-sizes."""
        return self._pixels(track, centre, t) / self._size(track.half)

    def _cost(self, track: Person, centre: np.ndarray, half: np.ndarray, colours: np.ndarray | None,
              t: float, gated: bool = True) -> float:
        """Matching cost of a box to a track (inf outside the gate when ``gated``): distance + |log size ratio| +
        colour_weight x (1 - similarity) (half the weight where either colours are unknown)."""
        o = self.options
        distance = self._distance(track, centre, t)
        ratio = self._size(half) / self._size(track.half)
        if gated and (distance > o.gate * (1 + o.gate_growth * (t - track.seen))
                      or not 1 / o.size_ratio <= ratio <= o.size_ratio):
            return np.inf
        shared = 0.5 if colours is None or track.colours is None else 1 - similarity(colours, track.colours)
        return distance + abs(float(np.log(ratio))) + o.colour_weight * shared

    def _alike(self, a: Person, b: Person) -> bool:
        """Are ``a`` and ``b`` within ``size_ratio`` of each other's size (could one be taken for the other)?"""
        return 1 / self.options.size_ratio <= self._size(a.half) / self._size(b.half) <= self.options.size_ratio

    def select(self, people: list[Candidate]) -> Candidate:
        """The one of ``people`` the ``select`` policy takes (of boxes, or of the skeletons the head read)."""
        policy = self.options.select
        if policy == "largest":
            return max(people, key=lambda p: float(np.prod(p.half * self._px)))
        if policy == "centre":
            return min(people, key=lambda p: float(np.linalg.norm(p.centre * self._px)))
        return people[0]  # first: the strongest, as find_people orders them

    # --- per frame -------------------------------------------------------------------------------------------
    def choose(self, people: list[Candidate], t: float, image: np.ndarray) -> Candidate | None:
        """The candidate that is the athlete at time ``t`` in ``image`` (model frame), or None: nobody is (or the
        athlete is hidden by someone). Also moves everyone else's tracks on and sets :attr:`ambiguous`."""
        o = self.options
        self.ambiguous = False
        last_t, self._last_t = self._last_t, t
        if not self.held(t):
            self.others, self.rivals = [], []
            pick = self.select(people) if people else None
            self._start_others([p for p in people if p is not pick and p.score >= MIN_LOGIT], t, image, people,
                               beside=pick is not None)
            return pick
        self.others = sorted((p for p in self.others if t - p.seen <= o.hold_s), key=lambda p: -p.seen)[:MAX_OTHERS]
        tracks = [self.athlete, *self.others]
        several = len(tracks) > 1 or len(people) > 1
        colours = [appearance(image, p.centre, p.half) if several else None for p in people]
        cost = np.array([[self._cost(k, p.centre, p.half, c, t) for p, c in zip(people, colours)] for k in tracks])
        cost[1:, [p.score < MIN_LOGIT for p in people]] = np.inf  # a faint peak may be the athlete, nobody else
        cost[1:] += o.prefer  # where tracks compete for fewer peaks; a split's pairings all carry it once per track
        reach = [self._distance(self.athlete, p.centre, t) for p in people]  # in the athlete's half-sizes
        own = self._own_peak(people, reach, t)
        if own is not None and np.isfinite(cost[0, own]):
            # matching as many pairs as possible must not push the athlete onto a faint second peak so that a stale
            # track of someone else can take its own (a panning ski clip lost its skier for 2.4 s that way)
            cost[1:, own] = np.inf
            cost[0, np.arange(len(people)) != own] = np.inf
        owner = self._assign(cost)  # owner[i]: the track index of candidate i, or -1
        if 0 not in owner:
            near = min(((reach[i], i) for i in range(len(people)) if owner[i] < 0), default=(np.inf, -1))
            if near[0] <= o.reshape:
                owner[near[1]] = 0
        taken = {k: i for i, k in enumerate(owner) if k >= 0}
        athlete_at = taken.get(0)
        if athlete_at is not None:
            for k in taken:
                if k:
                    self.others[k - 1].beside += 1
        self._update_rivals(people, taken, t)
        self.ambiguous = bool(self.rivals)
        for j, other in enumerate(self.others, start=1):
            i = taken.get(j)
            if i is not None and not (self.ambiguous and other in self.rivals):
                other.observe(people[i].centre, people[i].half, t, o.size_smoothing, o.velocity_s)
                if self._clear(people[i], people):
                    other.learn_colours(colours[i], o.learn, o.learn_similarity)
        if athlete_at is not None:
            for other in self.others:
                other.jumped = 0  # the athlete is here: nobody took its place
        elif (jump := self._jump(people, taken, t)) is not None:
            return jump
        vanished = athlete_at is None and self.athlete.seen == last_t  # the athlete's peak went in this frame
        self._start_others([p for i, p in enumerate(people) if owner[i] < 0 and p.score >= MIN_LOGIT], t, image, people,
                           beside=athlete_at is not None, jumped=vanished)
        if athlete_at is None:
            return None
        if people[athlete_at].score >= MIN_LOGIT:  # a person where the athlete should be: its id holds, even
            self._alive = t  # while its pose is still too unsure to report (coming out from behind a wall)
        return people[athlete_at]

    def read_where_predicted(self) -> None:
        """The athlete, without a peak, was read surely where it is predicted: it is still there, so nobody who
        appeared as its peak vanished took its place (as a frame with its own peak, this ends every newcomer's
        jump count)."""
        for other in self.others:
            other.jumped = 0

    def _jump(self, people: list[Candidate], taken: dict[int, int], t: float) -> Candidate | None:
        """The athlete has no peak at ``t``: a person who appeared as it vanished and has been seen in every frame
        since (``KeepOptions.jump`` frames) is a new athlete (a jump cut), returned after the athlete is forgotten
        (:meth:`forget`: the next :meth:`update` starts a new track id); else None. (A frame where the athlete has
        a peak, or is read surely where predicted (:meth:`read_where_predicted`), ends every newcomer's count.)"""
        for j, other in enumerate(self.others, start=1):
            if not other.jumped:
                continue
            if j in taken and other.seen == t and people[taken[j]].score >= MIN_LOGIT:
                other.jumped += 1
            else:
                other.jumped = 0  # missed once: not a jump
            if self.options.jump and other.jumped >= self.options.jump:
                self.forget()
                return people[taken[j]]
        return None

    def _own_peak(self, people: list[Candidate], reach: list[float], t: float) -> int | None:
        """The index of the person's peak (``MIN_LOGIT`` or more) nearest where the athlete is predicted when it is
        within ``reshape`` of the athlete's half-sizes and no other track is predicted as near it (it can only be
        the athlete's), else None. ``reach``: each peak's distance from the athlete's prediction."""
        distance, i = min(((reach[i], i) for i, p in enumerate(people) if p.score >= MIN_LOGIT),  # never a faint one
                          default=(np.inf, -1))
        return i if i >= 0 and self._claims(people[i].centre, distance, t) else None

    def _update_rivals(self, people: list[Candidate], taken: dict[int, int], t: float) -> None:
        """Who is merged with the athlete this frame (``taken``: track index -> its candidate; 0 is the athlete).

        A confirmed person (seen ``confirm`` times beside the athlete) of the athlete's size joins the rivals where
        the two are one peak: its own peak is missing and the athlete's is within ``merge`` of its half-sizes of
        where it is predicted, or the athlete's is missing and theirs is that near the athlete's prediction (the
        athlete hidden behind them). A rival stays one until both have peaks of their own again (or its track
        expires); while the camera moves there are none."""
        o, athlete_at = self.options, taken.get(0)

        def merged(j: int, other: Person) -> bool:
            if athlete_at is not None and j not in taken:
                return self._distance(other, people[athlete_at].centre, t) <= o.merge
            return (athlete_at is None and j in taken
                    and self._distance(self.athlete, people[taken[j]].centre, t) <= o.merge)

        if not self.fixed_camera or not self.others:
            self.rivals = []  # (a rival's track that expired is gone from others too)
            return
        index = {id(p): j for j, p in enumerate(self.others, start=1)}
        self.rivals = [r for r in self.rivals
                       if id(r) in index and not (athlete_at is not None and index[id(r)] in taken)]
        for j, other in enumerate(self.others, start=1):
            if (other not in self.rivals and other.beside >= o.confirm and self._alike(self.athlete, other)
                    and merged(j, other)):
                self.rivals.append(other)

    @staticmethod
    def _assign(cost: np.ndarray, max_search: int = 4096) -> list[int]:
        """Match tracks (rows) and candidates (columns) one to one within their gates (finite costs): as many pairs
        as possible, and among those the least total cost (two people parting after a crossing are matched
        together, not the cheapest pair first). Returns each candidate's track index, -1 for none. Cheapest pair
        first when there are too many ways (more than ``max_search``)."""
        n, m = cost.shape
        options = [[i for i in range(m) if np.isfinite(cost[k, i])] for k in range(n)]
        owner = [-1] * m
        if int(np.prod([len(o) + 1 for o in options], dtype=np.float64)) > max_search:
            used: set[int] = set()
            for flat in np.argsort(cost, axis=None, kind="stable"):
                k, i = (int(v) for v in np.unravel_index(flat, cost.shape))
                if not np.isfinite(cost[k, i]):
                    break
                if k not in used and owner[i] < 0:
                    owner[i] = k
                    used.add(k)
            return owner
        best: tuple[int, float, list[int]] = (-1, np.inf, [])

        def search(k: int, picks: list[int], total: float) -> None:
            nonlocal best
            if k == n:
                matched = sum(i >= 0 for i in picks)
                if matched > best[0] or (matched == best[0] and total < best[1]):
                    best = (matched, total, list(picks))
                return
            for i in options[k]:
                if i not in picks:
                    search(k + 1, picks + [i], total + float(cost[k, i]))
            search(k + 1, picks + [-1], total)

        search(0, [], 0.0)
        for k, i in enumerate(best[2]):
            if i >= 0:
                owner[i] = k
        return owner

    def _start_others(self, new: list[Candidate], t: float, image: np.ndarray, people: list[Candidate],
                      beside: bool, jumped: bool = False) -> None:
        """Tracks of someone else for the ``new`` candidates (``beside``: the athlete has a peak of its own;
        ``jumped``: the athlete's peak vanished in this frame, so they may be the athlete of a jump cut)."""
        for p in new:
            person = Person(np.asarray(p.centre, np.float64), np.asarray(p.half, np.float64), t, beside=int(beside),
                            jumped=int(jumped))
            if self._clear(p, people):
                person.colours = appearance(image, p.centre, p.half)
            self.others.append(person)

    def start_on(self, pick: Candidate, instead: Candidate, t: float) -> None:
        """No athlete is held yet at ``t`` and :meth:`choose` picked ``instead``: the athlete will be ``pick`` (the
        head saw a person there, and nobody at ``instead``), so ``instead`` becomes someone else's track and the
        one :meth:`choose` started for ``pick`` is dropped."""
        self.others = [o for o in self.others if not np.array_equal(o.centre, pick.centre)]
        if instead.score >= MIN_LOGIT:
            self.others.append(Person(np.asarray(instead.centre, np.float64), np.asarray(instead.half, np.float64), t,
                                      beside=1))

    def owns(self, centre: np.ndarray, half: np.ndarray, t: float, image: np.ndarray) -> bool:
        """In an ambiguous frame: is a skeleton whose joints span the box ``centre``, ``half`` the athlete's
        rather than a rival's? It is matched (ungated) against each one's predicted box at the size a skeleton has
        in its box (the athlete's running ratio), with the torso's colours. No skeleton is while a rival of about
        the athlete's size or bigger may be on top of it (``inseparable``); a clearly smaller one is behind it
        (``behind``) and is only matched against."""
        if not self.rivals:
            return True
        o = self.options
        here, size = self.athlete.predict(t, o.predict_s), self._size(self.athlete.half)

        def apart(r: Person) -> float:  # the rival's predicted distance from the athlete, less its uncertainty
            gap = float(np.linalg.norm((r.predict(t, o.predict_s) - here) * self._px))
            drift = sum(float(np.linalg.norm(p.velocity * self._px)) * min(t - p.seen, o.predict_s)
                        for p in (r, self.athlete))
            return (gap - o.uncertainty * drift) / size

        if any(apart(r) < o.inseparable and not self._behind(r) for r in self.rivals):
            return False  # the two may be on top of each other: a skeleton there may be either, or both
        colours = appearance(image, centre, half)
        box = np.asarray(half) / self._shape  # the box a person with this skeleton would have
        cost = self._cost(self.athlete, centre, box, colours, t, gated=False)
        return all(cost < self._cost(r, centre, box, colours, t, gated=False) for r in self.rivals)

    def _behind(self, rival: Person) -> bool:
        """Is ``rival`` clearly smaller than the athlete (``KeepOptions.behind``), so farther from the camera?"""
        return self._size(rival.half) <= self.options.behind * self._size(self.athlete.half)

    def limit(self, row: np.ndarray, t: float) -> np.ndarray:
        """A ``track`` row ``[use, cx, cy, hx, hy]`` whose half-size is at most ``max_growth`` times the held
        athlete's (the larger, per axis, of its track's size and the reach of its own sure skeletons, see
        :meth:`update`): when the joints (or a detector peak) spread over the athlete and someone next to it, the
        crop stays the athlete's size instead of widening onto both and drifting to the other."""
        if row[0] != 1 or not self.held(t):
            return row
        size = self.athlete.half if self._reach is None else np.maximum(self.athlete.half, self._reach)
        row = row.copy()
        row[3:5] = np.minimum(row[3:5], self.options.max_growth * size)
        return row

    def predicted(self, t: float) -> Candidate:
        """The held athlete where it is predicted at time ``t`` (its ``track_row`` crops there)."""
        return Candidate(self.athlete.predict(t, self.options.predict_s), self.athlete.half, 0.0)

    def _clear(self, pick: Candidate, people: list[Candidate]) -> bool:
        size = self._size(pick.half)
        return all(p is pick or float(np.linalg.norm((p.centre - pick.centre) * self._px)) > 2 * size for p in people)

    def clear(self, pick: Candidate, people: list[Candidate]) -> bool:
        """Is nobody else within 2 of ``pick``'s half-sizes (so its torso region holds the athlete alone)?"""
        return not self.ambiguous and self._clear(pick, people)

    def update(self, centre: np.ndarray, half: np.ndarray, t: float, detected: bool, confident: bool,
               image: np.ndarray | None = None, skeleton_half: np.ndarray | None = None, alone: bool = True,
               steady: bool = True, own: bool = False, owned: bool = False,
               reach: np.ndarray | None = None, body: tuple[np.ndarray, np.ndarray] | None = None) -> int | None:
        """Take frame ``t``'s box (normalised ``centre``, ``half``); returns the track id its line carries (None when no
        athlete is held). In an ambiguous frame the box is not learnt (it may be the merged peak), the track stays alive
        (and its place moves only with an ``owned`` skeleton, below). With an ``image``, a ``confident`` frame whose
        colours are close to the athlete's (and the first frame of a track) teaches the colours, and ``skeleton_half``
        (the joints' half-extent) the skeleton's size in its box: a person merging with the athlete, or in front of it,
        must not (pass no image where someone else is near, see :meth:`clear`). Not ``alone`` (someone within two
        half-sizes): the box's size is not learnt (a peak on both is bigger than the athlete). Not ``steady`` (the
        skeleton's confidence is low, e.g. going behind something): neither its velocity nor its size
        (:meth:`Person.observe`), and its place only within ``KeepOptions.unsure_reach`` of the prediction, unless the
        read is ``own``: on the athlete's own peak with nobody near it (an athlete coming out from behind a pillar
        elsewhere than predicted, s59_rule26.md). In an ambiguous frame with every rival behind the athlete
        (:meth:`_behind`), a skeleton :meth:`owns` gave to it, read fairly surely (``owned``), moves its place, not its
        size or velocity: held where the two merged, the crop stayed there while the athlete walked on (s60_rule30.md).
        An ``own`` read's ``reach`` (the half-size of the crop its skeleton places) moves the size :meth:`limit` caps
        crops by, so that the cap follows a person coming closer (s60_rule34.md). An ``own`` read that is not ``steady``
        grows the track's size towards ``body`` (normalised ``centre``, ``half`` of the box its skeleton spans, as the
        detector's labels were made from joints) when that is larger: learnt from steady reads only, a track kept a
        small first frame's size on real footage; a size learnt from the peak's box widened with a passer-by's, and
        one that also shrank with the skeleton lost partly hidden and tucked bodies (s61_rule35.md, s61_rule37.md)."""
        if self.ambiguous and self.held(t):
            self._alive = t
            if detected and owned and all(self._behind(r) for r in self.rivals):
                self.athlete.observe(centre, self.athlete.half, t, self.options.size_smoothing, motion=False)
            return self.track_id
        if not detected:
            if not self.held(t):
                self.track_id = None
            return self.track_id
        centre, half = np.asarray(centre, np.float64), np.asarray(half, np.float64)
        if not self.held(t):  # a new athlete
            self._ids += 1
            self.track_id = self._ids
            self.athlete = Person(centre, half, t)
            if not steady:  # its velocity starts at the first steady read: an unsure frame's place is the
                self.athlete.path = []  # detector's box, a steady one's the joints' (a box centre 0.4 lower than the
                # joints' made a cyclist standing still move up a frame-height a second)
            self._shape, self._reach = 1.0, None
        elif not (steady or own) and self._distance(self.athlete, centre, t) > self.options.unsure_reach:
            self._alive = t  # an unsure read away from the athlete: the id holds, the place does not move
            return self.track_id
        else:
            self.athlete.observe(centre, half if alone else self.athlete.half, t, self.options.size_smoothing,
                                 self.options.velocity_s, motion=steady)
        self._alive = t
        if own and not steady and body is not None and self._size(body[1]) > self._size(self.athlete.half):
            self.athlete.resize(*body, self.options.size_smoothing)  # grows only (s61_rule37.md)
        if own and reach is not None:
            smoothing = self.options.size_smoothing
            # (one new float64 array either way; the caller's row is neither kept nor converted twice)
            self._reach = np.array(reach, np.float64) if self._reach is None else \
                smoothing * self._reach + (1 - smoothing) * reach
        if image is not None and (confident or self.athlete.colours is None):
            self.athlete.learn_colours(appearance(image, centre, half), self.options.learn,
                                       self.options.learn_similarity)
            if skeleton_half is not None and confident:
                ratio = self._size(skeleton_half) / self._size(self.athlete.half)
                self._shape = 0.9 * self._shape + 0.1 * ratio
        return self.track_id
