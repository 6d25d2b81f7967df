"""Scenes worth looking at: lights, a checker floor, a sky and a good default view, added to any model.

A URDF says nothing about the world around a robot, so a model compiled from one renders as grey shapes
lit only by MuJoCo's dim headlight, on black. :func:`decorate_spec` adds what MuJoCo's own example
scenes have, to a :class:`mujoco.MjSpec` before it is compiled: a checker-textured floor, a skybox, a
directional key light, a brighter headlight, and the free camera's starting angles.

None of it changes the physics: the floor added here is visual only (``contype = conaffinity = 0``, in
the world body, so it has no mass either); a scene that already has a ground plane (a floating-base
robot needs one to stand on) keeps it and only gets the checker material. The floor's height is only
known once the robot is compiled, so :func:`place_floor` moves it under the robot's lowest reachable
point afterwards (a geom's position is a model field, no recompilation needed).
"""

from __future__ import annotations

import mujoco
import numpy as np

FLOOR_NAME = "clankers/floor"
"""Name of the visual floor geom that :func:`decorate_spec` adds (absent when the scene has a plane)."""
FLOOR_MATERIAL = "clankers/checker"
KEY_LIGHT = "clankers/key_light"

_CHECKER = ((0.20, 0.30, 0.40), (0.12, 0.20, 0.28))
_SKY = ((0.35, 0.50, 0.70), (0.02, 0.02, 0.04))


def _is_plane(geom: mujoco.MjsGeom) -> bool:
    return geom.type == mujoco.mjtGeom.mjGEOM_PLANE


def decorate_spec(spec: mujoco.MjSpec) -> mujoco.MjSpec:
    """Add floor, sky, lights and view defaults to ``spec`` (in place; also returned). Idempotent."""
    if any(m.name == FLOOR_MATERIAL for m in spec.materials):
        return spec
    # MuJoCo's URDF import discards visual-only geoms, materials and textures unless told otherwise; a
    # scene meant to be looked at keeps them (they have no contacts and no mass: the physics is the same).
    spec.compiler.discardvisual = False
    checker = spec.add_texture()
    checker.name = "clankers/checker"
    checker.type = mujoco.mjtTexture.mjTEXTURE_2D
    checker.builtin = mujoco.mjtBuiltin.mjBUILTIN_CHECKER
    checker.rgb1, checker.rgb2 = _CHECKER
    checker.mark = mujoco.mjtMark.mjMARK_EDGE
    checker.markrgb = [0.42, 0.5, 0.58]
    checker.width = checker.height = 64  # textures are stored per model: keep them small
    sky = spec.add_texture()
    sky.name = "clankers/sky"
    sky.type = mujoco.mjtTexture.mjTEXTURE_SKYBOX
    sky.builtin = mujoco.mjtBuiltin.mjBUILTIN_GRADIENT
    sky.rgb1, sky.rgb2 = _SKY
    sky.width, sky.height = 32, 192
    material = spec.add_material()
    material.name = FLOOR_MATERIAL
    material.textures[mujoco.mjtTextureRole.mjTEXROLE_RGB] = checker.name
    material.texrepeat = [4.0, 4.0]
    material.texuniform = True
    material.reflectance = 0.0  # a reflection renders the scene twice

    planes = [g for g in spec.worldbody.geoms if _is_plane(g)]
    if planes:  # the scene's own ground: keep its physics, give it the checker look
        for plane in planes:
            if not plane.material:
                plane.material = FLOOR_MATERIAL
    else:
        floor = spec.worldbody.add_geom()
        floor.name = FLOOR_NAME
        floor.type = mujoco.mjtGeom.mjGEOM_PLANE
        floor.size = [0.0, 0.0, 0.05]  # 0 = infinite in x and y; 0.05: grid spacing of the wireframe
        floor.material = FLOOR_MATERIAL
        floor.contype = floor.conaffinity = 0
        floor.group = 2  # MuJoCo's convention for visual-only geoms

    light = spec.worldbody.add_light()
    light.name = KEY_LIGHT
    light.type = mujoco.mjtLightType.mjLIGHT_DIRECTIONAL
    light.pos = [0.0, 0.0, 5.0]
    light.dir = [0.3, 0.4, -1.0]
    light.diffuse = [0.7, 0.7, 0.7]
    light.specular = [0.2, 0.2, 0.2]
    # Shadows and multisampling are what software OpenGL (Mesa's llvmpipe, on machines without a GPU)
    # pays for most: each roughly triples the time of a 640x480 frame. Left off; a user turns them on
    # in the model (``model.light_castshadow``, ``model.vis.quality.offsamples``) where a GPU renders.
    light.castshadow = False

    visual = spec.visual
    visual.headlight.ambient = [0.35, 0.35, 0.35]
    visual.headlight.diffuse = [0.45, 0.45, 0.45]
    visual.headlight.specular = [0.1, 0.1, 0.1]
    visual.global_.azimuth = 90.0  # look along +y: the x-z plane, where the shipped robots move
    visual.global_.elevation = -20.0
    visual.quality.offsamples = 0
    return spec


def robot_geoms(model: mujoco.MjModel) -> np.ndarray:
    """Ids of the geoms that belong to robots: not in the world body, not planes."""
    keep = (model.geom_bodyid > 0) & (model.geom_type != mujoco.mjtGeom.mjGEOM_PLANE)
    return np.flatnonzero(keep)


def swept_spheres(model: mujoco.MjModel, data: mujoco.MjData) -> list[tuple[np.ndarray, float]]:
    """``(anchor, reach)`` of every hinge that joins a body to the world (a shoulder, a pendulum's pivot):
    the sphere its whole subtree can swing through. ``data`` must hold current kinematics.

    Hinges further down a chain (a cart-pole's pole on its cart) are left out: their sweep would make a
    picture mostly empty space for motions a task rarely reaches.
    """
    geoms = robot_geoms(model)
    spheres = []
    for j in range(model.njnt):
        body = int(model.jnt_bodyid[j])
        if model.jnt_type[j] != mujoco.mjtJoint.mjJNT_HINGE or model.body_parentid[body] != 0:
            continue
        anchor = data.xanchor[j].copy()
        reach = [
            float(np.linalg.norm(data.geom_xpos[g] - anchor) + model.geom_rbound[g])
            for g in geoms
            if _in_subtree(model, int(model.geom_bodyid[g]), body)
        ]
        if reach:
            spheres.append((anchor, max(reach)))
    return spheres


def lowest_point(model: mujoco.MjModel, data: mujoco.MjData | None = None) -> float:
    """The lowest z a robot geom reaches: its lowest point at ``qpos0``, or lower where a hinge on the
    world can swing its subtree down (a hanging arm, a pendulum; see :func:`swept_spheres`)."""
    data = data or mujoco.MjData(model)
    mujoco.mj_kinematics(model, data)
    geoms = robot_geoms(model)
    if len(geoms) == 0:
        return 0.0
    low = float((data.geom_xpos[geoms, 2] - model.geom_rbound[geoms]).min())
    for anchor, reach in swept_spheres(model, data):
        low = min(low, float(anchor[2]) - reach)
    return low


def _in_subtree(model: mujoco.MjModel, body: int, root: int) -> bool:
    while body > 0:
        if body == root:
            return True
        body = int(model.body_parentid[body])
    return body == root


def place_floor(model: mujoco.MjModel, clearance: float = 0.0) -> float | None:
    """Move the decoration's visual floor just under the robot (see :func:`lowest_point`).

    Returns the floor height, or ``None`` when the model has no decoration floor (its own ground stays).
    A robot resting on the floor at ``qpos0`` keeps touching it.
    """
    floor = mujoco.mj_name2id(model, mujoco.mjtObj.mjOBJ_GEOM, FLOOR_NAME)
    if floor < 0:
        return None
    height = lowest_point(model) - clearance
    model.geom_pos[floor] = [0.0, 0.0, height]
    # Compiled at the body's origin, the floor was marked "same frame as its body", which makes
    # kinematics skip geom_pos: clear the mark so the new height is used.
    model.geom_sameframe[floor] = mujoco.mjtSameFrame.mjSAMEFRAME_NONE
    return height


def decorate_model(spec: mujoco.MjSpec) -> mujoco.MjModel:
    """``decorate_spec``, compile, ``place_floor``: a decorated model from an undecorated spec."""
    model = decorate_spec(spec).compile()
    place_floor(model)
    return model
