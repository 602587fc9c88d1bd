import numpy as np
import pytest

from tvstream.camera import GroundPlane, SceneCamera, fov_intrinsics
from tvstream.root_position import ANKLE_HEIGHT_MM, RootTracker, combined_scale, floor_scale, solve_root

# a standing adult, root-relative mm, camera axes (x right, y down, z forward), turned a little towards the camera
SKELETON = np.array([
    [0, 0, 0], [-130, 0, 20], [-140, 440, 40], [-150, 870, 30], [130, 0, -20], [140, 440, -10], [150, 870, -30],
    [0, -230, 10], [0, -480, 20], [0, -600, 40], [0, -720, 30],
    [170, -460, 0], [300, -210, 60], [340, 30, 120], [-170, -460, 0], [-290, -200, -50], [-330, 40, -90],
], dtype=np.float64)
K = np.array([[1400.0, 0, 959.5], [0, 1400.0, 539.5], [0, 0, 1]])


def project(points: np.ndarray, K: np.ndarray = K) -> np.ndarray:
    uvw = points @ K.T
    return uvw[:, :2] / uvw[:, 2:3]


@pytest.mark.parametrize("T", [[0, 0, 5000], [1800, -400, 10000], [-6000, 900, 20000], [9000, 2000, 30000]])
def test_a_skeleton_at_a_known_translation_is_recovered_exactly(T):
    T = np.asarray(T, dtype=np.float64)
    np.testing.assert_allclose(solve_root(SKELETON, project(SKELETON + T), K), T, atol=1e-6 * T[2])


def test_an_off_centre_principal_point_and_skew_are_honoured():
    K2 = np.array([[1200.0, 3.0, 700.0], [0, 1250.0, 300.0], [0, 0, 1]])
    T = np.array([-2500.0, 800.0, 12000.0])
    np.testing.assert_allclose(solve_root(SKELETON, project(SKELETON + T, K2), K2), T, atol=1e-3)


@pytest.mark.parametrize("distance", [5000, 10000, 20000, 30000])
def test_pixel_noise_moves_the_root_by_little(distance):
    rng = np.random.default_rng(distance)
    T = np.array([0.1, -0.05, 1.0]) * distance
    errors = [np.linalg.norm(solve_root(SKELETON, project(SKELETON + T) + rng.normal(0, 1.0, (17, 2)), K) - T)
              for _ in range(50)]
    # one pixel of noise on a body ~120-700 px tall: well under 1% of the distance
    assert np.median(errors) < 0.01 * distance


def test_the_depth_scales_with_the_skeletons_size():
    T = np.array([300.0, 0, 10000.0])
    found = solve_root(1.05 * SKELETON, project(SKELETON + T), K)
    assert found[2] == pytest.approx(1.05 * T[2], rel=1e-6)


def test_weights_let_confident_joints_outvote_a_wrong_one():
    T = np.array([500.0, 200.0, 8000.0])
    uv = project(SKELETON + T)
    uv[16] += [250.0, -180.0]  # the right wrist is far off
    conf = np.ones(17)
    equal = np.linalg.norm(solve_root(SKELETON, uv, K) - T)
    conf[16] = 1e-3
    weighted = np.linalg.norm(solve_root(SKELETON, uv, K, conf) - T)
    assert weighted < 0.1 * equal and weighted < 20


def test_non_finite_and_zero_weight_joints_are_left_out():
    T = np.array([500.0, 200.0, 8000.0])
    uv = project(SKELETON + T)
    uv[3] = np.nan
    P = SKELETON.copy()
    P[5] = np.inf
    conf = np.ones(17)
    conf[7] = 0.0
    uv[7] += 400.0  # would pull the solution if it were used
    np.testing.assert_allclose(solve_root(P, uv, K, conf), T, atol=1e-3)


def test_degenerate_input_is_refused():
    T = np.array([0.0, 0.0, 6000.0])
    uv = project(SKELETON + T)
    assert solve_root(SKELETON[:3], uv[:3], K) is None  # too few joints
    assert solve_root(SKELETON, np.tile(uv[:1], (17, 1)), K) is None  # every joint on one pixel
    assert solve_root(np.zeros((17, 3)), uv, K) is None  # no skeleton: the root lands on the camera
    assert solve_root(SKELETON, project(SKELETON + T), K, np.zeros(17)) is None  # no weight anywhere
    assert solve_root(-SKELETON, uv, K) is None  # a point-mirrored skeleton fits only behind the camera


def test_bad_shapes_are_a_value_error():
    with pytest.raises(ValueError, match="pose2d"):
        solve_root(SKELETON, np.zeros((16, 2)), K)
    with pytest.raises(ValueError, match="weights"):
        solve_root(SKELETON, np.zeros((17, 2)), K, np.ones(3))


def _camera(ground: GroundPlane | None = None) -> SceneCamera:
    return SceneCamera(K=K, width=1920, intrinsics="file", ground=ground)


def test_speed_of_a_constant_velocity_trajectory():
    velocity = np.array([1500.0, 0.0, -800.0])  # mm/s
    tracker = RootTracker(_camera(), smooth=False)
    out = [tracker(SKELETON, project(SKELETON + [0, 0, 9000] + velocity * t), None, t, True)
           for t in np.arange(10) / 25]
    assert out[0].speed is None and out[0].height is None and not out[0].ground
    assert all(o.speed == pytest.approx(np.linalg.norm(velocity), rel=1e-6) for o in out[1:])


def test_smoothed_speed_settles_on_the_true_speed():
    velocity = np.array([3000.0, 0.0, 1000.0])
    tracker = RootTracker(_camera())
    out = [tracker(SKELETON, project(SKELETON + [-4000, 0, 9000] + velocity * t), None, t, True)
           for t in np.arange(75) / 25]
    assert out[-1].speed == pytest.approx(np.linalg.norm(velocity), rel=0.02)


def test_a_lost_frame_resets_the_speed():
    tracker = RootTracker(_camera(), smooth=False)
    uv = project(SKELETON + [0, 0, 9000])
    tracker(SKELETON, uv, None, 0.0, True)
    lost = tracker(SKELETON, uv, None, 0.04, False)
    assert lost.position is None and lost.speed is None
    assert tracker(SKELETON, uv, None, 0.08, True).speed is None
    assert tracker(SKELETON, uv, None, 0.12, True).speed == pytest.approx(0.0, abs=1e-6)


def test_height_above_a_tilted_floor():
    # a camera 3 m up, pitched 20 degrees down: the floor's up normal and a point on it, in the camera frame
    pitch = np.radians(20)
    up = np.array([0.0, -np.cos(pitch), -np.sin(pitch)])
    floor_point = -3000.0 * up  # the point straight below the camera
    ground = GroundPlane(normal=up, point=floor_point)
    ahead = np.array([0.0, -np.sin(pitch), np.cos(pitch)])  # level, away from the camera
    T = floor_point + 10000.0 * ahead + 950.0 * up
    est = RootTracker(_camera(ground), smooth=False, use_floor=False)(SKELETON, project(SKELETON + T), None, 0.0, True)
    assert est.ground and est.height == pytest.approx(950.0, abs=1e-3)
    np.testing.assert_allclose(est.position, T, atol=1e-3)


def _standing(scale_error: float, distance: float = 12000.0):
    """A level camera 1.6 m up, the floor, the skeleton standing on it (lower ankle ANKLE_HEIGHT_MM up) at
    ``distance``, and what a solver with a skeleton ``scale_error`` too large finds: (ground, true T, joints)."""
    ground = GroundPlane(normal=np.array([0.0, -1.0, 0.0]), point=np.array([0.0, 1600.0, 0.0]))
    lowest = SKELETON[[3, 6], 1].max()
    T = np.array([800.0, 1600.0 - ANKLE_HEIGHT_MM - lowest, distance])
    found = solve_root(SKELETON * scale_error, project(SKELETON + T), K)
    return ground, T, SKELETON * scale_error + found


def test_the_floor_rescales_a_wrongly_sized_skeleton_onto_it():
    ground, T, joints = _standing(1.12)
    scale, sd = floor_scale(joints, K, ground)
    assert scale == pytest.approx(1 / 1.12, rel=1e-6) and 0 < sd < 0.1
    assert floor_scale(joints * scale, K, ground)[0] == pytest.approx(1.0)  # standing on it already
    # the two estimates (the skeleton's 12% error, the floor's exact one) meet between them, weighted by trust
    combined = combined_scale((scale, sd))
    assert scale < combined < 1.0 and abs(combined * 1.12 - 1) < 0.12 / 2


def test_a_tracker_with_a_floor_is_closer_than_one_without():
    ground, T, _ = _standing(1.12)
    camera = _camera(ground)
    pose3d, pose2d = SKELETON * 1.12, project(SKELETON + T)
    with_floor = RootTracker(camera, smooth=False)(pose3d, pose2d, None, 0.0, True)
    without = RootTracker(camera, smooth=False, use_floor=False)(pose3d, pose2d, None, 0.0, True)
    assert np.linalg.norm(with_floor.position - T) < 0.5 * np.linalg.norm(without.position - T)


def test_the_floor_is_ignored_where_it_cannot_help():
    ground, T, joints = _standing(1.0)
    conf = np.ones(17)
    conf[[3, 6]] = 0.1
    assert floor_scale(joints, K, ground, conf) is None  # the ankles are not confident
    below = GroundPlane(normal=ground.normal, point=np.array([0.0, -500.0, 0.0]))  # the floor above the camera
    assert floor_scale(joints, K, below) is None
    assert combined_scale(None) == 1.0
