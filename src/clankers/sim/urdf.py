"""Reading the URDFs vendors ship: clean, resolve and repair them before MuJoCo sees them.

MuJoCo's URDF parser is strict where real robot descriptions are messy, so :func:`read_urdf` rewrites
the file into a URDF MuJoCo accepts, and says what it changed:

- **Only the robot's own links and joints** (plus ``<material>`` and ``<mujoco>``) are kept.
  ``<transmission>`` (whose ``<joint>`` children are references, not joints), ``<gazebo>`` and other
  extension elements are dropped and counted.
- **Mesh paths** are made absolute: ``package://NAME/rest`` is looked up in the given package folders,
  then in ``ROS_PACKAGE_PATH``, then in the folders above the URDF (a folder named ``NAME``, or holding
  one); ``file://`` is a plain path; a relative path is tried against the URDF's own
  ``<mujoco><compiler meshdir>`` and then the URDF's folder. MuJoCo would otherwise strip the folders
  and look next to the file.
- **Meshes MuJoCo cannot read** (COLLADA ``.dae`` and anything but STL/OBJ/MSH) are converted to STL with
  trimesh, once, into a cache (``$CLANKERS_CACHE_DIR`` or ``~/.cache/clankers``). A collision mesh that
  cannot be converted becomes a sphere with the link's inertia (centred on its centre of mass); one that
  cannot be found is an error (usually a package folder to pass); a visual one is dropped either way. Each such change is a warning naming the file. COLLADA's ``up_axis`` is
  ignored, as ROS tools do: URDF meshes are authored in the link frame.
- **Inertias** MuJoCo rejects (non-positive principal moments, moments violating ``A + B >= C``) are
  repaired per link with a warning: principal moments are floored and the two smaller ones raised until
  the triangle inequality holds, keeping the principal axes. A dummy link with a singular inertia (Go1's
  ``base``: every entry 1e-6) gets a small valid one this way.
- **Geometry roles**: collision and visual geoms are named ``<link>/collision<i>`` and
  ``<link>/visual<i>``; MuJoCo gives visuals ``contype = conaffinity = 0`` (no contacts), group 1 and no
  mass, collision geoms group 0.
- **Joints**: ``<dynamics damping friction>`` become MuJoCo damping and friction loss, ``<mimic>``
  an equality constraint (MuJoCo's own import); velocity limits, which MuJoCo has no notion of, are
  kept in :class:`UrdfJoint` for controllers that clip to them. A ``floating`` joint from the root
  declares a floating base; ``planar`` joints and floating joints elsewhere are refused.

Every failure raises :class:`~clankers.errors.RobotDescriptionError` naming the file, the element and
the fix.
"""

from __future__ import annotations

import hashlib
import os
import warnings
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from clankers.errors import RobotDescriptionError

_KEPT = frozenset({"link", "joint", "material", "mujoco"})
_JOINT_TYPES = frozenset({"revolute", "continuous", "prismatic", "fixed", "floating", "planar"})
_CONVERTER_VERSION = "1"  # bump to invalidate cached conversions


class RobotImportWarning(UserWarning):
    """Something in a URDF was changed or dropped so MuJoCo could load it (the message says what)."""


@dataclass(frozen=True)
class UrdfJoint:
    """A joint as the URDF declares it (MuJoCo keeps only part of this)."""

    name: str
    type: str
    parent: str
    child: str
    effort: float = 0.0
    velocity: float = float("inf")
    lower: float = -float("inf")
    upper: float = float("inf")
    damping: float = 0.0
    friction: float = 0.0
    mimic: tuple[str, float, float] | None = None  # (joint, multiplier, offset)


@dataclass
class UrdfDescription:
    """A URDF rewritten for MuJoCo, with what was learned and changed on the way.

    Attributes:
        xml: the cleaned URDF text for :meth:`mujoco.MjSpec.from_string`.
        floating_root: the URDF itself declares a floating joint from the root (the joint is removed;
            the loader adds a free joint instead).
        ignored: counts of dropped top-level elements (``{"transmission": 12, "gazebo": 30}``).
    """

    path: Path
    name: str
    xml: str
    root: str
    links: list[str]
    joints: dict[str, UrdfJoint]
    floating_root: bool = False
    collision_geoms: int = 0
    visual_geoms: int = 0
    meshes: list[Path] = field(default_factory=list)
    ignored: dict[str, int] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    package_roots: dict[str, list[Path]] = field(default_factory=dict, repr=False)


def cache_dir() -> Path:
    """Where converted meshes are kept: ``$CLANKERS_CACHE_DIR`` or ``~/.cache/clankers``."""
    root = os.environ.get("CLANKERS_CACHE_DIR")
    return Path(root) if root else Path.home() / ".cache" / "clankers"


def _error(path: Path, element: str, problem: str, fix: str) -> RobotDescriptionError:
    return RobotDescriptionError(f"{path}: {element}: {problem}", hint=fix)


def _float(text: str | None, default: float, path: Path, element: str) -> float:
    if text is None or text.strip() == "":
        return default
    try:
        return float(text)
    except ValueError:
        raise _error(path, element, f"{text!r} is not a number", "write a decimal number") from None


def _floats(text: str | None, n: int, path: Path, element: str) -> np.ndarray:
    parts = (text or "").split()
    try:
        values = np.array([float(p) for p in parts], dtype=np.float64)
    except ValueError:
        raise _error(path, element, f"{text!r} is not {n} numbers", f"write {n} numbers") from None
    if values.shape != (n,):
        raise _error(path, element, f"{text!r} has {len(values)} numbers", f"write {n} numbers")
    return values


# --- package paths ------------------------------------------------------------------------------------


def _package_roots(name: str, urdf: Path, package_dirs: Mapping[str, Path]) -> list[Path]:
    """Candidate folders for ``package://name`` in search order (may not exist)."""
    candidates: list[Path] = []
    if name in package_dirs:
        candidates.append(Path(package_dirs[name]))
    for entry in os.environ.get("ROS_PACKAGE_PATH", "").split(os.pathsep):
        if entry:
            base = Path(entry)
            candidates += [base] if base.name == name else [base / name]
    for folder in urdf.resolve().parents:
        candidates += [folder] if folder.name == name else [folder / name]
    return candidates


def resolve_resource(
    uri: str,
    urdf: Path,
    package_dirs: Mapping[str, Path],
    meshdir: Path | None,
    roots_cache: dict[str, list[Path]] | None = None,
) -> tuple[Path | None, list[Path]]:
    """The file a URDF ``filename`` names, or ``None`` plus the places looked at.

    ``roots_cache`` (package name -> candidate folders, existing ones only) saves the search when one
    URDF names hundreds of meshes of the same package.
    """
    looked: list[Path] = []
    if uri.startswith("package://"):
        rest = uri[len("package://") :].lstrip("/")  # "package:///pkg/..." occurs in the wild
        name, _, relative = rest.partition("/")
        if roots_cache is None:
            roots = _package_roots(name, urdf, package_dirs)
        elif name in roots_cache:
            roots = roots_cache[name]
        else:
            roots = roots_cache[name] = [r for r in _package_roots(name, urdf, package_dirs) if r.is_dir()]
        for root in roots:
            candidate = root / relative
            looked.append(candidate)
            if candidate.is_file():
                return candidate, looked
        return None, looked
    if uri.startswith("file://"):
        candidate = Path(uri[len("file://") :])
        looked.append(candidate)
        return (candidate if candidate.is_file() else None), looked
    relative = Path(uri)
    if relative.is_absolute():
        return (relative if relative.is_file() else None), [relative]
    bases = ([meshdir] if meshdir is not None else []) + [urdf.parent]
    for base in bases:
        candidate = base / relative
        looked.append(candidate)
        if candidate.is_file():
            return candidate.resolve(), looked
    return None, looked


# --- meshes -------------------------------------------------------------------------------------------


def mujoco_reads(source: Path) -> bool:
    """Whether MuJoCo's own decoder takes ``source``: OBJ/MSH, and binary STL with 1..200000 triangles
    (ASCII STL, common from Blender, it rejects)."""
    suffix = source.suffix.lower()
    if suffix in (".obj", ".msh"):
        return True
    if suffix != ".stl":
        return False
    size = source.stat().st_size
    with source.open("rb") as handle:
        header = handle.read(84)
    if len(header) < 84:
        return False
    count = int(np.frombuffer(header[80:84], dtype="<u4")[0])
    return 1 <= count <= 200_000 and size == 84 + 50 * count


def convert_mesh(source: Path) -> Path:
    """``source`` as a MuJoCo ``.msh`` (binary, indexed, no triangle limit), converted with trimesh once
    and cached by path, size and modification time.

    Raises:
        RobotDescriptionError: trimesh (or, for COLLADA, pycollada) is missing, or the file is unreadable.
    """
    stat = source.stat()
    key = hashlib.sha1(
        f"{_CONVERTER_VERSION}|{source.resolve()}|{stat.st_size}|{stat.st_mtime_ns}".encode()
    ).hexdigest()
    target = cache_dir() / "meshes" / f"{source.stem}-{key[:16]}.msh"
    if target.is_file():
        return target
    try:
        import trimesh
    except ImportError as exc:
        raise RobotDescriptionError(
            f"{source}: MuJoCo cannot read this mesh and trimesh is not installed",
            hint="pip install 'clankers[robots]' (trimesh, pycollada), or convert the mesh to binary STL",
        ) from exc
    try:
        mesh = trimesh.load(str(source), force="mesh", process=False)
    except Exception as exc:  # trimesh raises many kinds (ImportError for pycollada, ValueError, ...)
        raise RobotDescriptionError(
            f"{source}: trimesh cannot read it ({type(exc).__name__}: {exc})",
            hint="install pycollada for COLLADA files, or convert the mesh to binary STL",
        ) from exc
    faces = np.asarray(getattr(mesh, "faces", np.zeros((0, 3))), dtype="<i4")
    vertices = np.asarray(getattr(mesh, "vertices", np.zeros((0, 3))), dtype="<f4")
    if len(faces) == 0 or len(vertices) < 4:
        raise RobotDescriptionError(f"{source}: the mesh has no triangles", hint="export the mesh again")
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with temporary.open("wb") as handle:  # MSH: nvert, nnormal, ntexcoord, nface, then the arrays
        np.array([len(vertices), 0, 0, len(faces)], dtype="<i4").tofile(handle)
        vertices.tofile(handle)
        faces.tofile(handle)
    os.replace(temporary, target)
    return target


# --- inertia ------------------------------------------------------------------------------------------

_INERTIA_KEYS = ("ixx", "ixy", "ixz", "iyy", "iyz", "izz")


def repair_inertia(matrix: np.ndarray, mass: float) -> np.ndarray | None:
    """A valid inertia close to ``matrix``, or ``None`` when MuJoCo would accept it as it is.

    A degenerate inertia (largest principal moment below 1e-12) becomes that of a solid sphere of the
    link's mass at the density of water. Otherwise principal moments are floored at 1e-3 of the largest,
    then the two smaller ones are raised until ``A + B >= C``; the principal axes are kept.
    """
    symmetric = (matrix + matrix.T) / 2
    moments, axes = np.linalg.eigh(symmetric)
    largest = float(np.max(moments))
    a, b, c = moments  # ascending
    if a > 1e-12 * largest and a > 1e-14 and a + b >= c * (1 - 1e-9):
        return None
    if largest < 1e-12:
        radius = (3 * mass / (4 * np.pi * 1000.0)) ** (1 / 3)
        return np.eye(3) * max(0.4 * mass * radius**2, 1e-12)
    moments = np.maximum(moments, largest * 1e-3)
    a, b, c = moments
    if a + b < c:
        deficit = (c - a - b) / 2 * (1 + 1e-6)
        moments = np.array([a + deficit, b + deficit, c])
    return (axes * moments) @ axes.T


def _inertial(link: ET.Element, path: Path) -> tuple[float, np.ndarray, np.ndarray, ET.Element] | None:
    inertial = link.find("inertial")
    if inertial is None:
        return None
    name = link.get("name")
    mass_el, inertia_el = inertial.find("mass"), inertial.find("inertia")
    mass = _float(mass_el.get("value") if mass_el is not None else None, 0.0, path, f"link {name!r} <mass>")
    origin = inertial.find("origin")
    xyz = (
        _floats(origin.get("xyz", "0 0 0"), 3, path, f"link {name!r} <inertial><origin>")
        if origin is not None
        else np.zeros(3)
    )
    values = {
        k: _float(
            inertia_el.get(k) if inertia_el is not None else None, 0.0, path, f"link {name!r} <inertia {k}>"
        )
        for k in _INERTIA_KEYS
    }
    matrix = np.array(
        [
            [values["ixx"], values["ixy"], values["ixz"]],
            [values["ixy"], values["iyy"], values["iyz"]],
            [values["ixz"], values["iyz"], values["izz"]],
        ]
    )
    if not (np.isfinite(mass) and np.isfinite(matrix).all()):
        raise _error(
            path, f"link {name!r} <inertial>", "mass or inertia is not finite", "write finite values"
        )
    return mass, xyz, matrix, inertial


# --- the reader ---------------------------------------------------------------------------------------


def _own_compiler(root: ET.Element) -> dict[str, str]:
    """Attributes of the URDF's own ``<mujoco><compiler>`` block(s)."""
    attrs: dict[str, str] = {}
    for block in root.findall("mujoco"):
        for compiler in block.findall("compiler"):
            attrs.update(compiler.attrib)
    return attrs


def read_urdf(
    urdf: str | Path,
    *,
    package_dirs: Mapping[str, str | Path] | None = None,
    visual: bool = True,
    base: str | None = None,
) -> UrdfDescription:
    """Read, clean and repair a URDF for MuJoCo (see the module docstring for every rule).

    Args:
        urdf: the .urdf file.
        package_dirs: folder of each ROS package (``{"go1_description": "/path/to/go1_description"}``),
            searched before ``ROS_PACKAGE_PATH`` and the folders above the URDF.
        visual: keep visual geometry (for rendering); ``False`` drops it, which also skips converting
            visual-only meshes.
        base: ``"floating"`` makes the root link a moving body (it then needs mass too); ``None``
            follows the URDF's own floating joint.

    Raises:
        RobotDescriptionError: missing or unreadable file, a structure MuJoCo cannot simulate, or a
            collision mesh that cannot be found.
    """
    path = Path(urdf)
    if not path.is_file():
        raise RobotDescriptionError(f"URDF file {path} does not exist", hint="pass the path of a .urdf file")
    try:
        tree = ET.parse(path)
    except ET.ParseError as exc:
        raise RobotDescriptionError(f"{path} is not valid XML: {exc}", hint="fix the URDF syntax") from exc
    root = tree.getroot()
    if root.tag != "robot":
        raise _error(
            path, f"<{root.tag}>", "the root element is not <robot>", "a URDF starts with <robot name=...>"
        )
    dirs = {k: Path(v) for k, v in (package_dirs or {}).items()}
    own_compiler = _own_compiler(root)
    meshdir = None
    if own_compiler.get("meshdir"):
        meshdir = Path(own_compiler["meshdir"])
        meshdir = meshdir if meshdir.is_absolute() else path.parent / meshdir
    notes: list[str] = []

    ignored: Counter[str] = Counter()
    for child in list(root):
        tag = child.tag if isinstance(child.tag, str) else "comment"
        if tag not in _KEPT:
            if isinstance(child.tag, str):
                ignored[tag.split("}")[-1]] += 1
            root.remove(child)

    links = [el.get("name") or "" for el in root.findall("link")]
    if not links:
        raise _error(
            path,
            "<robot>",
            "the file has no <link>",
            "it may be an unexpanded xacro stub: run xacro on the .xacro source",
        )
    if "" in links:
        raise _error(path, "<link>", "a link has no name", "give every <link> a unique name")
    duplicates = sorted({n for n in links if links.count(n) > 1})
    if duplicates:
        raise _error(path, f"links {duplicates}", "names are used more than once", "make link names unique")

    joints: dict[str, UrdfJoint] = {}
    children: set[str] = set()
    floating_root = False
    for el in root.findall("joint"):
        name, kind = el.get("name"), el.get("type")
        if not name or not kind:
            raise _error(
                path,
                f"<joint name={name!r} type={kind!r}>",
                "every robot joint needs a name and a type",
                "add name=... and type=...",
            )
        element = f"joint {name!r}"
        if name in joints:
            raise _error(path, element, "the name is used more than once", "make joint names unique")
        if kind not in _JOINT_TYPES:
            raise _error(
                path, element, f"type {kind!r} is not a URDF joint type", f"use one of {sorted(_JOINT_TYPES)}"
            )
        parent_el, child_el = el.find("parent"), el.find("child")
        parent = parent_el.get("link") if parent_el is not None else None
        child = child_el.get("link") if child_el is not None else None
        for role, link in (("parent", parent), ("child", child)):
            if link is None or link not in links:
                raise _error(
                    path,
                    f"{element} <{role}>",
                    f"link {link!r} is not a <link> of the robot",
                    "name an existing link",
                )
        children.add(child)  # type: ignore[arg-type]
        limit = el.find("limit")
        get = (lambda key: None) if limit is None else limit.get
        effort = _float(get("effort"), 0.0, path, f"{element} <limit effort>")
        if not np.isfinite(effort) or effort < 0:
            raise _error(
                path,
                f"{element} <limit effort>",
                f"effort {effort} is invalid",
                "use a finite value >= 0 (0 = passive joint)",
            )
        velocity = _float(get("velocity"), float("inf"), path, f"{element} <limit velocity>")
        lower, upper = -float("inf"), float("inf")
        if kind in ("revolute", "prismatic"):
            if limit is None or (get("lower") is None and get("upper") is None):
                notes.append(f"joint {name!r} is {kind} without <limit lower upper>: simulated as unlimited")
                el.set("type", "continuous" if kind == "revolute" else kind)
                if kind == "prismatic":
                    raise _error(
                        path, element, "a prismatic joint needs <limit lower upper>", "add the travel limits"
                    )
            else:
                lower = _float(get("lower"), 0.0, path, f"{element} <limit lower>")
                upper = _float(get("upper"), 0.0, path, f"{element} <limit upper>")
                if lower == upper:
                    notes.append(
                        f"joint {name!r} has equal lower and upper limits ({lower}): simulated as unlimited, as MuJoCo does"
                    )
                    lower, upper = -float("inf"), float("inf")
                    if kind == "revolute":
                        el.set("type", "continuous")
                    else:
                        limit.attrib.pop("lower", None)  # type: ignore[union-attr]
                        limit.attrib.pop("upper", None)  # type: ignore[union-attr]
                if lower > upper:
                    raise _error(
                        path, f"{element} <limit>", f"lower {lower} > upper {upper}", "swap the limits"
                    )
        dynamics = el.find("dynamics")
        damping = friction = 0.0
        if dynamics is not None:
            damping = _float(dynamics.get("damping"), 0.0, path, f"{element} <dynamics damping>")
            friction = _float(dynamics.get("friction"), 0.0, path, f"{element} <dynamics friction>")
            if damping < 0 or friction < 0:
                raise _error(
                    path, f"{element} <dynamics>", "damping and friction must be >= 0", "use values >= 0"
                )
        mimic_el = el.find("mimic")
        mimic = None
        if mimic_el is not None:
            mimic = (
                mimic_el.get("joint", ""),
                _float(mimic_el.get("multiplier"), 1.0, path, f"{element} <mimic multiplier>"),
                _float(mimic_el.get("offset"), 0.0, path, f"{element} <mimic offset>"),
            )
        joints[name] = UrdfJoint(
            name, kind, parent, child, effort, velocity, lower, upper, damping, friction, mimic
        )  # type: ignore[arg-type]

    roots = [n for n in links if n not in children]
    if len(roots) != 1:
        raise _error(
            path,
            "links",
            f"{len(roots)} links have no parent joint ({roots[:5]})",
            "connect every link into one tree with a single root link",
        )
    root_link = roots[0]
    for el in root.findall("joint"):
        joint = joints[el.get("name")]  # type: ignore[index]
        mimic_el = el.find("mimic")
        if joint.mimic is not None and joint.mimic[0] not in joints and mimic_el is not None:
            notes.append(
                f"joint {joint.name!r} mimics unknown joint {joint.mimic[0]!r}: the <mimic> is ignored, "
                "the joint is actuated on its own"
            )
            el.remove(mimic_el)
            joints[joint.name] = replace(joint, mimic=None)
    for joint in joints.values():
        if joint.mimic is not None and joint.mimic[0] not in joints:
            raise _error(
                path,
                f"joint {joint.name!r} <mimic>",
                f"mimics unknown joint {joint.mimic[0]!r}",
                "name an existing joint",
            )
        if joint.type == "planar":
            raise _error(
                path,
                f"joint {joint.name!r}",
                "planar joints are not supported",
                "replace it by two prismatic joints and a revolute joint",
            )
        if joint.type == "floating":
            if joint.parent != root_link:
                raise _error(
                    path,
                    f"joint {joint.name!r}",
                    "a floating joint is supported only from the root link (a floating base)",
                    "attach the robot's base with it, or load it with base='floating'",
                )
            floating_root = True
    if floating_root:  # the floating joint and its (massless) world link go; the loader adds a free joint
        for el in root.findall("joint"):
            if el.get("type") == "floating":
                root.remove(el)
                del joints[el.get("name")]  # type: ignore[arg-type]
        world = next(el for el in root.findall("link") if el.get("name") == root_link)
        parents = {j.parent for j in joints.values()}
        if root_link not in parents:
            root.remove(world)
            links.remove(root_link)
            root_link = next(n for n in links if n not in {j.child for j in joints.values()})

    # Inertias, per link.
    for link in root.findall("link"):
        found = _inertial(link, path)
        if found is None:
            continue
        mass, _, matrix, inertial = found
        name = link.get("name")
        if mass <= 0:
            if mass < 0 or np.any(matrix != 0):
                notes.append(
                    f"link {name!r}: mass {mass} is not positive; the <inertial> is dropped (massless link)"
                )
            link.remove(inertial)
            continue
        repaired = repair_inertia(matrix, mass)
        if repaired is not None:
            moments = np.linalg.eigvalsh((matrix + matrix.T) / 2)
            new = np.linalg.eigvalsh(repaired)
            notes.append(
                f"link {name!r}: inertia with principal moments {np.round(moments, 12).tolist()} is not "
                f"physical (MuJoCo needs positive moments with A + B >= C); repaired to {np.round(new, 12).tolist()}"
            )
            el = inertial.find("inertia")
            assert el is not None
            for key, (i, j) in zip(
                _INERTIA_KEYS, ((0, 0), (0, 1), (0, 2), (1, 1), (1, 2), (2, 2)), strict=True
            ):
                el.set(key, repr(float(repaired[i, j])))

    # Moving bodies need mass: a link moved by a joint whose rigidly attached links have neither an
    # inertial nor collision geometry (a "virtual" link between two revolute joints) gets a tiny one.
    by_name = {el.get("name"): el for el in root.findall("link")}
    fixed_children: dict[str, list[str]] = {}
    for joint in joints.values():
        if joint.type == "fixed":
            fixed_children.setdefault(joint.parent, []).append(joint.child)

    def massive(name: str) -> bool:
        link = by_name[name]
        if link.find("inertial") is not None or link.find("collision") is not None:
            return True
        return any(massive(child) for child in fixed_children.get(name, []))

    moving = [(j.child, f"joint {j.name!r}") for j in joints.values() if j.type != "fixed"]
    if base == "floating" or (base is None and floating_root):
        moving.append((root_link, "the floating base's free joint"))
    for child, mover in moving:
        if not massive(child):
            notes.append(
                f"link {child!r} is moved by {mover} but has no mass; given 1 g and "
                "1e-7 kg m^2 (MuJoCo needs mass on moving bodies)"
            )
            inertial = ET.SubElement(by_name[child], "inertial")
            ET.SubElement(inertial, "mass", value="0.001")
            ET.SubElement(inertial, "inertia", ixx="1e-7", iyy="1e-7", izz="1e-7", ixy="0", ixz="0", iyz="0")

    # Geometry: names, mesh paths, conversions.
    description = UrdfDescription(
        path, root.get("name") or path.stem, "", root_link, links, joints, floating_root
    )
    for link in root.findall("link"):
        name = link.get("name")
        for role in ("collision", "visual"):
            for index, geom in enumerate(link.findall(role)):
                if role == "visual" and not visual:
                    link.remove(geom)
                    continue
                geom.set("name", f"{name}/{role}{index}")
                mesh = geom.find("geometry/mesh")
                if mesh is not None and not _prepare_mesh(
                    mesh, geom, link, role, path, dirs, meshdir, notes, description
                ):
                    link.remove(geom)
                    continue
                if role == "collision":
                    description.collision_geoms += 1
                else:
                    description.visual_geoms += 1

    # Our compiler block: the URDF's own settings, but mesh paths are absolute now.
    for block in root.findall("mujoco"):
        root.remove(block)
    compiler = ET.SubElement(ET.SubElement(root, "mujoco"), "compiler")
    for key, value in own_compiler.items():
        if key not in ("meshdir", "assetdir", "texturedir", "strippath", "discardvisual"):
            compiler.set(key, value)
    compiler.set("discardvisual", "false" if visual else "true")
    description.xml = ET.tostring(root, encoding="unicode")
    description.ignored = dict(ignored)
    description.warnings = notes
    for note in notes:
        warnings.warn(f"{path.name}: {note}", RobotImportWarning, stacklevel=2)
    return description


def _prepare_mesh(
    mesh: ET.Element,
    geom: ET.Element,
    link: ET.Element,
    role: str,
    path: Path,
    dirs: Mapping[str, Path],
    meshdir: Path | None,
    notes: list[str],
    description: UrdfDescription,
) -> bool:
    """Point ``mesh`` at a file MuJoCo reads; False when the geom must be dropped."""
    name = link.get("name")
    uri = mesh.get("filename") or ""
    element = f"link {name!r} <{role}><mesh filename={uri!r}>"
    source, looked = resolve_resource(uri, path, dirs, meshdir, description.package_roots)
    problem = ""
    if source is None:
        problem = f"not found (looked in {[str(p) for p in looked[:4]]}{' ...' if len(looked) > 4 else ''})"
        fix = (
            "pass --package-dir NAME=PATH (package_dirs=...) or set ROS_PACKAGE_PATH"
            if uri.startswith("package://")
            else "fix the path"
        )
        if role == "collision":  # most often a forgotten package folder: say so, never guess a shape
            raise _error(path, element, problem, fix)
    else:
        if not mujoco_reads(source):
            try:
                source = convert_mesh(source)
            except RobotDescriptionError as exc:
                problem = f"cannot be converted ({exc}{'; ' + exc.hint if exc.hint else ''})"
                source = None
        if source is not None:
            mesh.set("filename", str(source))
            description.meshes.append(source)
            return True
    if role == "visual":
        notes.append(f"{element}: {problem}; the visual is dropped")
        return False
    found = _inertial(link, path)
    if found is None:
        notes.append(f"{element}: {problem}; the link has no <inertial> to size a stand-in: dropped")
        return False
    mass, xyz, matrix, _ = found
    radius = 0.01
    if mass > 0:
        radius = float(np.sqrt(2.5 * max(np.trace(matrix) / 3, 1e-12) / mass))
    notes.append(
        f"{element}: {problem}; replaced by a sphere of radius {radius:.3g} m with the link's inertia"
    )
    for child in list(geom):
        if child.tag in ("geometry", "origin"):
            geom.remove(child)
    ET.SubElement(geom, "origin", xyz=" ".join(repr(float(v)) for v in xyz), rpy="0 0 0")
    ET.SubElement(ET.SubElement(geom, "geometry"), "sphere", radius=repr(radius))
    return True


def example_robot_data() -> Path | None:
    """The ``robots/`` folder of the ``example-robot-data`` package (69 vendors' URDFs, ``pip install
    'clankers[robots]'``), or ``None`` when it is not installed."""
    from importlib import metadata

    try:
        distribution = metadata.distribution("example-robot-data")
    except metadata.PackageNotFoundError:
        return None
    path = Path(str(distribution.locate_file("cmeel.prefix/share/example-robot-data/robots")))
    return path if path.is_dir() else None


def read_srdf_states(srdf: str | Path) -> dict[str, dict[str, float]]:
    """Named joint configurations (``<group_state>``) of an SRDF file: ``{"standing": {"FL_hip_joint": 0.0, ...}}``.

    Multi-valued joints (a floating root's 7 numbers) are skipped: poses here are per 1-DoF joint.
    """
    path = Path(srdf)
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as exc:
        raise RobotDescriptionError(
            f"cannot read SRDF {path}: {exc}", hint="pass a valid .srdf file"
        ) from exc
    states: dict[str, dict[str, float]] = {}
    for state in root.iter("group_state"):
        values: dict[str, float] = {}
        for joint in state.findall("joint"):
            parts = (joint.get("value") or "").split()
            if len(parts) == 1:
                values[joint.get("name", "")] = float(parts[0])
        states[state.get("name", "")] = values
    return states
