"""Importing URDFs as vendors write them: extension elements, package paths, meshes, inertias, joints."""

from __future__ import annotations

import warnings
from pathlib import Path

import mujoco
import numpy as np
import pytest

from clankers.errors import RobotDescriptionError
from clankers.sim import RobotImportWarning, SimConfig, Simulation, load_robot
from clankers.sim.urdf import read_srdf_states, read_urdf, repair_inertia

INERTIAL = (
    '<inertial><mass value="{m}"/><inertia ixx="{i}" iyy="{i}" izz="{i}" ixy="0" ixz="0" iyz="0"/></inertial>'
)
TETRA = np.array([[0, 0, 0], [0.1, 0, 0], [0, 0.1, 0], [0, 0, 0.1]], dtype=float)
TETRA_FACES = [(0, 2, 1), (0, 1, 3), (0, 3, 2), (1, 2, 3)]


def ascii_stl(path: Path, scale: float = 1.0) -> Path:
    lines = ["solid tetra"]
    for face in TETRA_FACES:
        lines += ["facet normal 0 0 0", "outer loop"]
        lines += [f"vertex {' '.join(str(scale * c) for c in TETRA[v])}" for v in face]
        lines += ["endloop", "endfacet"]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([*lines, "endsolid tetra"]) + "\n")
    return path


def binary_stl(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    record = np.zeros(len(TETRA_FACES), dtype=[("n", "<f4", 3), ("v", "<f4", (3, 3)), ("a", "<u2")])
    record["v"] = TETRA[np.array(TETRA_FACES)]
    with path.open("wb") as handle:
        handle.write(b"\0" * 80 + np.uint32(len(TETRA_FACES)).tobytes())
        record.tofile(handle)
    return path


def urdf(tmp_path: Path, body: str, name: str = "robot.urdf", robot: str = "r") -> Path:
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'<?xml version="1.0"?>\n<robot name="{robot}">\n{body}\n</robot>\n')
    return path


def arm(collision: str = "", visual: str = "", joint_extra: str = "", link_extra: str = "") -> str:
    """A base and one revolute link carrying the given collision/visual geometry."""
    return f"""
  <link name="base"/>
  <link name="arm">{INERTIAL.format(m=1, i=0.01)}{collision}{visual}{link_extra}</link>
  <joint name="shoulder" type="revolute"><parent link="base"/><child link="arm"/><axis xyz="0 1 0"/>
    <limit lower="-1" upper="1" effort="5" velocity="3"/>{joint_extra}</joint>"""


def mesh(role: str, filename: str) -> str:
    return f'<{role}><geometry><mesh filename="{filename}"/></geometry></{role}>'


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLANKERS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("ROS_PACKAGE_PATH", raising=False)


def load_quietly(path: Path, **kwargs: object):  # type: ignore[no-untyped-def]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        robot = load_robot(path, **kwargs)  # type: ignore[arg-type]
    return robot, [str(w.message) for w in caught if issubclass(w.category, RobotImportWarning)]


# --- structure --------------------------------------------------------------------------------------


def test_transmissions_and_gazebo_are_ignored(tmp_path: Path) -> None:
    extra = """
  <transmission name="t"><type>SimpleTransmission</type><joint name="shoulder"><hardwareInterface>E</hardwareInterface></joint>
    <actuator name="m"><mechanicalReduction>1</mechanicalReduction></actuator></transmission>
  <gazebo reference="arm"><material>Gazebo/Grey</material></gazebo>
  <gazebo><plugin name="p" filename="libgazebo_ros_control.so"/></gazebo>"""
    robot = load_robot(urdf(tmp_path, arm() + extra))
    assert robot.layout.names == ("shoulder",)
    assert robot.description.ignored == {"transmission": 1, "gazebo": 2}


def test_floating_root_joint_declares_a_floating_base(tmp_path: Path) -> None:
    body = '<link name="world"/><joint name="float" type="floating"><parent link="world"/><child link="base"/></joint>'
    body += arm(collision='<collision><geometry><box size="0.1 0.1 0.1"/></geometry></collision>')
    robot, notes = load_quietly(urdf(tmp_path, body))
    assert robot.base == "floating" and robot.layout.names == ("shoulder",)
    assert any("'base' is moved by the floating base" in n for n in notes)  # a moving body needs mass
    with pytest.raises(RobotDescriptionError, match="floating root joint"):
        load_robot(urdf(tmp_path, body), base="fixed")


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ('<link name="a"/><link name="b"/>', "2 links have no parent"),
        (arm().replace('type="revolute"', 'type="planar"'), "planar joints are not supported"),
        (arm().replace('<child link="arm"/>', '<child link="nope"/>'), "'nope' is not a <link>"),
        (arm().replace('lower="-1" upper="1"', 'lower="1" upper="-1"'), "lower 1.0 > upper -1.0"),
        (arm().replace('effort="5"', 'effort="-5"'), "effort -5.0 is invalid"),
        ("", "no <link>"),
    ],
)
def test_structural_errors_name_file_element_and_fix(tmp_path: Path, body: str, match: str) -> None:
    path = urdf(tmp_path, body)
    with pytest.raises(RobotDescriptionError, match=match) as error:
        load_robot(path)
    assert str(path) in str(error.value) and error.value.hint


# --- package paths and meshes ---------------------------------------------------------------------


def test_package_paths_resolve_from_given_dirs_ros_path_and_folders_above(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    binary_stl(tmp_path / "elsewhere/my_pkg/meshes/a.stl")
    binary_stl(tmp_path / "ws/src/arm_description/meshes/b.stl")
    binary_stl(tmp_path / "ros/other_pkg/meshes/c.stl")
    collision = "".join(
        mesh("collision", uri)
        for uri in (
            "package://my_pkg/meshes/a.stl",
            "package://arm_description/meshes/b.stl",  # a folder above the URDF
            "package:///other_pkg/meshes/c.stl",  # three slashes occur in the wild
        )
    )
    path = urdf(tmp_path / "ws/src/arm_description/urdf", arm(collision=collision))
    monkeypatch.setenv("ROS_PACKAGE_PATH", str(tmp_path / "ros"))
    robot = load_robot(path, package_dirs={"my_pkg": tmp_path / "elsewhere/my_pkg"})
    assert robot.model.nmesh == 3
    assert [m.name for m in robot.description.meshes] == ["a.stl", "b.stl", "c.stl"]


def test_file_uris_and_the_urdfs_own_meshdir(tmp_path: Path) -> None:
    absolute = binary_stl(tmp_path / "abs/x.stl")
    binary_stl(tmp_path / "robot/meshes/y.stl")
    binary_stl(tmp_path / "robot/z.stl")
    collision = (
        mesh("collision", f"file://{absolute}") + mesh("collision", "y.stl") + mesh("collision", "z.stl")
    )
    block = '<mujoco><compiler meshdir="meshes" balanceinertia="true"/></mujoco>'
    robot = load_robot(urdf(tmp_path / "robot", block + arm(collision=collision)))
    assert robot.model.nmesh == 3


def test_missing_collision_mesh_is_an_error_with_the_fix(tmp_path: Path) -> None:
    body = arm(collision=mesh("collision", "package://ghost_pkg/meshes/a.stl"))
    with pytest.raises(RobotDescriptionError, match=r"ghost_pkg.*not found") as error:
        load_robot(urdf(tmp_path, body))
    assert "--package-dir" in (error.value.hint or "")


def test_missing_visual_mesh_is_dropped_with_a_warning(tmp_path: Path) -> None:
    body = arm(visual=mesh("visual", "file:///no/such/Torso.mesh"))
    robot, notes = load_quietly(urdf(tmp_path, body))
    assert robot.description.visual_geoms == 0
    assert any("Torso.mesh" in n and "visual is dropped" in n for n in notes)


def test_collada_and_ascii_stl_are_converted_once(tmp_path: Path) -> None:
    trimesh = pytest.importorskip("trimesh")
    pytest.importorskip("collada")
    trimesh.creation.box(extents=[0.1, 0.2, 0.3]).export(str(tmp_path / "box.dae"))
    ascii_stl(tmp_path / "tetra.stl")
    body = arm(collision=mesh("collision", "box.dae") + mesh("collision", "tetra.stl"))
    robot = load_robot(urdf(tmp_path, body))
    assert [m.suffix for m in robot.description.meshes] == [".msh", ".msh"]
    box = robot.model.mesh_vert[robot.model.mesh_vertadr[0] : robot.model.mesh_vertadr[0] + 8]
    np.testing.assert_allclose(np.ptp(box, axis=0), [0.1, 0.2, 0.3], atol=1e-6)
    cached = sorted((tmp_path / "cache/meshes").iterdir())
    stamps = [p.stat().st_mtime_ns for p in cached]
    load_robot(urdf(tmp_path, body))
    assert [p.stat().st_mtime_ns for p in sorted((tmp_path / "cache/meshes").iterdir())] == stamps


def test_unreadable_collision_mesh_becomes_a_sphere_with_the_links_inertia(tmp_path: Path) -> None:
    (tmp_path / "broken.dae").write_text("this is not COLLADA")
    robot, notes = load_quietly(urdf(tmp_path, arm(collision=mesh("collision", "broken.dae"))))
    (note,) = [n for n in notes if "broken.dae" in n]
    assert "replaced by a sphere" in note
    sphere = [g for g in range(robot.model.ngeom) if robot.model.geom_type[g] == mujoco.mjtGeom.mjGEOM_SPHERE]
    assert len(sphere) == 1  # I = 2/5 m r^2 -> r = sqrt(2.5 * 0.01 / 1)
    assert robot.model.geom_size[sphere[0], 0] == pytest.approx(np.sqrt(0.025))


def test_visual_and_collision_geometry_stay_apart(tmp_path: Path) -> None:
    body = arm(
        collision='<collision><geometry><box size="0.1 0.1 0.1"/></geometry></collision>',
        visual='<visual><geometry><sphere radius="0.3"/></geometry></visual>',
    )
    model = load_robot(urdf(tmp_path, body)).model
    visual = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, "arm/visual0")
    collision = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, "arm/collision0")
    assert (model.geom_contype[visual], model.geom_conaffinity[visual], model.geom_group[visual]) == (0, 0, 1)
    assert model.geom_contype[collision] == 1 and model.geom_group[collision] == 0
    assert load_robot(urdf(tmp_path, body), visual=False).model.ngeom == 1


# --- inertias -----------------------------------------------------------------------------------------


def test_singular_and_triangle_violating_inertias_are_repaired_per_link(tmp_path: Path) -> None:
    singular = '<inertial><mass value="1e-6"/><inertia ixx="1e-6" ixy="1e-6" ixz="1e-6" iyy="1e-6" iyz="1e-6" izz="1e-6"/></inertial>'
    lopsided = '<inertial><mass value="1"/><inertia ixx="0.01" iyy="0.01" izz="0.05" ixy="0" ixz="0" iyz="0"/></inertial>'
    body = f"""<link name="base">{singular}</link><link name="arm">{lopsided}</link>
      <joint name="j" type="continuous"><parent link="base"/><child link="arm"/></joint>"""
    with pytest.raises(ValueError, match="inertia"):  # what MuJoCo says to the file as it is
        mujoco.MjSpec.from_file(str(urdf(tmp_path, body))).compile()
    robot, notes = load_quietly(urdf(tmp_path, body), base="floating")
    assert {n.split("'")[1] for n in notes if "inertia" in n} == {"base", "arm"}
    moments = np.sort(robot.model.body_inertia[1:], axis=1)
    assert np.all(moments > 0) and np.all(moments[:, 0] + moments[:, 1] >= moments[:, 2] * (1 - 1e-9))


def test_repair_inertia_keeps_valid_ones_and_the_principal_axes() -> None:
    assert repair_inertia(np.diag([0.1, 0.2, 0.25]), 1.0) is None
    rotation = np.array([[0.0, -1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])
    bad = rotation @ np.diag([0.01, 0.01, 0.05]) @ rotation.T
    fixed = repair_inertia(bad, 1.0)
    values, vectors = np.linalg.eigh(fixed)
    np.testing.assert_allclose(values[2], 0.05)
    assert values[0] + values[1] >= values[2]
    assert abs(vectors[:, 2] @ [0, 0, 1]) == pytest.approx(1.0)  # the largest axis did not move


def test_massless_moving_links_get_a_tiny_mass(tmp_path: Path) -> None:
    body = f"""<link name="base"/><link name="virtual"/><link name="leg">{INERTIAL.format(m=2, i=0.02)}</link>
      <joint name="hip_x" type="continuous"><parent link="base"/><child link="virtual"/><axis xyz="1 0 0"/></joint>
      <joint name="hip_y" type="continuous"><parent link="virtual"/><child link="leg"/><axis xyz="0 1 0"/></joint>"""
    robot, notes = load_quietly(urdf(tmp_path, body))
    assert any("'virtual'" in n and "no mass" in n for n in notes)
    assert robot.model.body_mass.sum() == pytest.approx(2.001)


# --- joints -------------------------------------------------------------------------------------------


def test_damping_friction_and_velocity_limits(tmp_path: Path) -> None:
    robot = load_robot(urdf(tmp_path, arm(joint_extra='<dynamics damping="0.7" friction="0.2"/>')))
    assert robot.model.dof_damping[0] == pytest.approx(0.7)
    assert robot.model.dof_frictionloss[0] == pytest.approx(0.2)
    assert robot.layout["shoulder"].velocity_limit == 3.0
    assert robot.description.joints["shoulder"].damping == 0.7


def test_mimic_joints_follow_their_leader_and_leave_the_layout(tmp_path: Path) -> None:
    body = (
        arm()
        + f"""<link name="finger">{INERTIAL.format(m=0.1, i=0.001)}</link>
      <joint name="finger_joint" type="revolute"><parent link="arm"/><child link="finger"/>
        <limit lower="-2" upper="2" effort="1"/><mimic joint="shoulder" multiplier="-2" offset="0.1"/></joint>"""
    )
    robot = load_robot(urdf(tmp_path, body), SimConfig(physics_dt=0.001, control_dt=0.01))
    assert robot.layout.names == ("shoulder",) and robot.model.neq == 1
    sim = Simulation(robot)
    sim.reset()
    for _ in range(50):
        sim.step(np.array([0.3]))
    finger = robot.model.jnt_qposadr[
        mujoco.mj_name2id(robot.model, mujoco.mjtObj.mjOBJ_JOINT, "finger_joint")
    ]
    assert sim.data.qpos[finger] == pytest.approx(-2 * sim.joint_positions()[0] + 0.1, abs=2e-3)


def test_broken_mimic_and_equal_limits_load_with_warnings(tmp_path: Path) -> None:
    body = arm(joint_extra='<mimic joint="index_q1"/>').replace('lower="-1" upper="1"', 'lower="0" upper="0"')
    robot, notes = load_quietly(urdf(tmp_path, body))
    assert any("mimics unknown joint 'index_q1'" in n for n in notes)
    assert any("equal lower and upper limits" in n for n in notes)
    assert robot.layout["shoulder"].kind == "continuous"


def test_home_pose_and_standing_height(tmp_path: Path) -> None:
    body = f"""<link name="torso">{INERTIAL.format(m=1, i=0.01)}
        <collision><geometry><box size="0.2 0.2 0.1"/></geometry></collision></link>
      <link name="leg">{INERTIAL.format(m=0.1, i=0.001)}
        <collision><origin xyz="0 0 -0.15"/><geometry><capsule radius="0.02" length="0.2"/></geometry></collision></link>
      <joint name="hip" type="revolute"><parent link="torso"/><child link="leg"/><axis xyz="0 1 0"/>
        <limit lower="-1.5" upper="1.5" effort="5"/></joint>"""
    path = urdf(tmp_path, body)
    straight = load_robot(path, base="floating")
    assert straight.base_position[2] == pytest.approx(0.15 + 0.1 + 0.02)  # leg hangs down: capsule end
    bent = load_robot(path, base="floating", home={"hip": 3.0})  # clipped into the limit
    assert bent.home[0] == 1.5
    assert bent.base_position[2] < straight.base_position[2]
    sim = Simulation(bent)
    sim.reset()
    assert sim.joint_positions()[0] == 1.5 and sim.base.height(sim.data) == pytest.approx(
        bent.base_position[2]
    )


def test_srdf_group_states(tmp_path: Path) -> None:
    srdf = tmp_path / "r.srdf"
    srdf.write_text(
        '<robot name="r"><group_state name="home" group="all"><joint name="root" value="0 0 1 0 0 0 1"/>'
        '<joint name="a" value="0.5"/><joint name="b" value="-1"/></group_state></robot>'
    )
    assert read_srdf_states(srdf) == {"home": {"a": 0.5, "b": -1.0}}


def test_read_urdf_keeps_the_original_file_untouched(tmp_path: Path) -> None:
    path = urdf(tmp_path, arm() + '<transmission name="t"/>')
    before = path.read_text()
    description = read_urdf(path)
    assert path.read_text() == before and "transmission" not in description.xml


def test_unreadable_collision_mesh_without_inertial_is_dropped(tmp_path: Path) -> None:
    (tmp_path / "broken.dae").write_text("this is not COLLADA")
    body = arm(collision=mesh("collision", "broken.dae"))
    body = body.replace('<link name="base"/>', f'<link name="base">{mesh("collision", "broken.dae")}</link>')
    robot, notes = load_quietly(urdf(tmp_path, body))
    assert any("'base'" in n and "dropped" in n for n in notes)
    assert any("'arm'" in n and "sphere" in n for n in notes)
    assert robot.description.collision_geoms == 1
