"""The shipped tasks: each one a config file in ``assets/tasks/`` plus a documented, registered class.

The classes add nothing but a name and documentation; all behaviour comes from the config, exactly as
for a user's own task (``TaskEnv("my_task.toml")``).
"""

from __future__ import annotations

from typing import Any

from clankers.envs.tasks.config import shipped_task_config
from clankers.envs.tasks.env import TaskEnv
from clankers.sim import SimConfig


class _ShippedTask(TaskEnv):
    config_name = ""

    def __init__(
        self,
        max_episode_steps: int | None = None,
        sim_config: SimConfig | None = None,
        render_mode: str | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            shipped_task_config(self.config_name),
            max_episode_steps=max_episode_steps,
            sim_config=sim_config,
            render_mode=render_mode,
            **kwargs,
        )


class PendulumEnv(_ShippedTask):
    """Swing a torque-limited pendulum up from anywhere and balance it upright.

    ## Description
    The robot is ``assets/urdf/pendulum.urdf``: a uniform 1 kg, 1 m rod on a frictionless motorised
    hinge (the dynamics of Gymnasium's ``Pendulum-v1``, here integrated by MuJoCo with 2 ms steps and
    the command held for 25 of them: 20 Hz control). The 2 N m motor is weaker than the 4.9 N m gravity
    torque with the rod horizontal, so the policy must pump energy in over several swings.
    Config: ``assets/tasks/pendulum.toml``.

    ## Action Space
    ``Box(-1, 1, (1,), float32)``:

    | index | joint   | meaning                         | scale |
    |-------|---------|---------------------------------|-------|
    | 0     | `hinge` | torque about +y                 | 2 N m |

    ## Observation Space
    ``Box(-inf, inf, (3,), float32)``:

    | index | observation       | range     |
    |-------|-------------------|-----------|
    | 0     | cos(angle)        | [-1, 1]   |
    | 1     | sin(angle)        | [-1, 1]   |
    | 2     | angular velocity  | rad/s     |

    The angle is 0 upright and +-pi hanging down.

    ## Rewards
    ``-(wrap(angle)^2 + 0.1 velocity^2 + 0.004 command^2)`` per step (``Pendulum-v1``'s reward with
    the torque penalty expressed on the normalized command), between about -16.3 and 0.
    ``info["reward_terms"]`` has the three parts.

    ## Starting State
    Angle uniform in [-pi, pi], angular velocity uniform in [-1, 1] rad/s, from the seeded generator.

    ## Episode End
    - Termination: never (the pendulum cannot fail).
    - Truncation: after 200 steps (10 s).
    - ``info["is_success"]``: upright within 0.2 rad and slower than 1 rad/s; at the last step it says
      whether the episode ended balanced.

    ## Arguments
    | argument            | default         | meaning                                  |
    |---------------------|-----------------|------------------------------------------|
    | `max_episode_steps` | 200             | truncation horizon                       |
    | `sim_config`        | 2 ms / 50 ms    | physics/control timestep, gravity, integrator |
    """

    config_name = "pendulum"


class ArmReachEnv(_ShippedTask):
    """Move the tip of a two-link arm to a random target, against gravity.

    ## Description
    The robot is ``assets/urdf/two_link_arm.urdf``: a 0.5 m, 1 kg upper arm and a 0.4 m, 0.6 kg forearm
    moving in the vertical x-z plane (both joints about +y, zero angles = pointing straight up), with
    12 N m and 5 N m torque motors and light damping. Gravity acts in the plane of motion, so the policy
    has to hold the arm up as well as steer it. 2 ms physics, 25 Hz control.
    Config: ``assets/tasks/arm_reach.toml``.

    ## Action Space
    ``Box(-1, 1, (2,), float32)``, joints in layout (alphabetical) order:

    | index | joint         | meaning         | scale  |
    |-------|---------------|-----------------|--------|
    | 0     | `j1_shoulder` | shoulder torque | 12 N m |
    | 1     | `j2_elbow`    | elbow torque    | 5 N m  |

    ## Observation Space
    ``Box(-inf, inf, (15,), float32)``:

    | index  | observation                                  | unit  |
    |--------|----------------------------------------------|-------|
    | 0-3    | cos, sin of shoulder angle; cos, sin of elbow | -    |
    | 4-5    | shoulder and elbow velocity                  | rad/s |
    | 6-8    | end effector position (x, y, z)              | m     |
    | 9-11   | target position (x, y, z)                    | m     |
    | 12-14  | target minus end effector                    | m     |

    (y is always 0: the arm is planar.) ``env.observation_names`` names each entry.

    ## Rewards
    ``-d + 0.5 (1 - tanh(d / 0.05)) - 0.01 |command|^2 - 0.001 |joint velocity|^2`` with ``d`` the
    end-effector-to-target distance in metres: a dense pull towards the target, a bonus that sharpens
    over the last few centimetres, and small penalties for effort and flailing.

    ## Starting State
    Both joint angles uniform in [-1, 1] rad and velocities in [-0.1, 0.1] rad/s; the target is where
    the tip would be for joint angles drawn uniformly within the joint limits (so it is always
    reachable), redrawn until at least 10 cm from the start position. All from the seeded generator.

    ## Episode End
    - Termination: never.
    - Truncation: after 100 steps (4 s).
    - ``info["is_success"]``: tip within 5 cm of the target (at the last step: the arm ended there).

    ## Arguments
    | argument            | default      | meaning                                       |
    |---------------------|--------------|-----------------------------------------------|
    | `max_episode_steps` | 100          | truncation horizon                            |
    | `sim_config`        | 2 ms / 40 ms | physics/control timestep, gravity, integrator |
    """

    config_name = "arm_reach"


class ArmReach6Env(_ShippedTask):
    """Move the flange of a six-DOF arm to a random 3-D target, against gravity.

    ## Description
    The robot is ``assets/urdf/six_dof_arm.urdf``: a yaw-pitch-pitch-roll-pitch-roll serial arm
    (0.1 + 0.4 + 0.3 + 0.06 + 0.06 + 0.04 m, 4.2 kg in all) with torque motors from 30 N m (shoulder)
    down to 2 N m (flange). 2 ms physics, 25 Hz control. Config: ``assets/tasks/arm_reach6.toml``.

    ## Action Space
    ``Box(-1, 1, (6,), float32)``: torques of `j1_base_yaw` (20 N m), `j2_shoulder_pitch` (30),
    `j3_elbow_pitch` (15), `j4_wrist_roll` (5), `j5_wrist_pitch` (5), `j6_flange_roll` (2), in that
    (alphabetical) order.

    ## Observation Space
    ``Box(-inf, inf, (21,), float32)``:

    | index | observation                      | unit  |
    |-------|----------------------------------|-------|
    | 0-5   | joint angles                     | rad   |
    | 6-11  | joint velocities                 | rad/s |
    | 12-14 | end effector (flange tip) position | m   |
    | 15-17 | target position                  | m     |
    | 18-20 | target minus end effector        | m     |

    ## Rewards
    As ``ArmReach-v0``: ``-d + 0.5 (1 - tanh(d / 0.05)) - 0.01 |command|^2 - 0.001 |joint velocity|^2``.

    ## Starting State
    Joint angles uniform in [-0.3, 0.3] rad (near upright), velocities in [-0.05, 0.05] rad/s; the
    target is the flange tip's position for random joint angles (shoulder within +-1.5 rad and elbow
    within +-2 rad, so it stays above the base), at least 10 cm from the start. Seeded.

    ## Episode End
    - Termination: never.
    - Truncation: after 100 steps (4 s).
    - ``info["is_success"]``: tip within 5 cm of the target.

    ## Arguments
    | argument            | default      | meaning                                       |
    |---------------------|--------------|-----------------------------------------------|
    | `max_episode_steps` | 100          | truncation horizon                            |
    | `sim_config`        | 2 ms / 40 ms | physics/control timestep, gravity, integrator |
    """

    config_name = "arm_reach6"


class TwoArmReachEnv(_ShippedTask):
    """Two two-link arms in one scene, each moving its tip to its own random target.

    ## Description
    Two copies of ``assets/urdf/two_link_arm.urdf`` (robots ``left`` at x = -0.6 m and ``right`` at
    x = +0.6 m) compiled into one MuJoCo model and stepped together. With 0.9 m of reach each, their
    workspaces overlap in the middle. The action and observation are split into per-robot slices,
    declared by ``env.action_slices`` and ``env.robot_observation_slices``, and each robot's slice has
    the same layout as the robot alone. Config: ``assets/tasks/two_arm_reach.toml``.

    ## Action Space
    ``Box(-1, 1, (4,), float32)``:

    | index | joint               | scale  |
    |-------|---------------------|--------|
    | 0     | `left/j1_shoulder`  | 12 N m |
    | 1     | `left/j2_elbow`     | 5 N m  |
    | 2     | `right/j1_shoulder` | 12 N m |
    | 3     | `right/j2_elbow`    | 5 N m  |

    ## Observation Space
    ``Box(-inf, inf, (18,), float32)``; for each robot (left: 0-8, right: 9-17):

    | offset | observation                              | unit  |
    |--------|------------------------------------------|-------|
    | 0-3    | cos, sin of shoulder and elbow angles    | -     |
    | 4-5    | shoulder and elbow velocity              | rad/s |
    | 6-8    | own target minus own end effector        | m     |

    ## Rewards
    ``-d_left - d_right - 0.01 |command|^2``; ``info["reward_terms"]`` shows each arm's part.

    ## Starting State
    As ``ArmReach-v0`` for each arm (angles uniform in [-1, 1] rad), each target reachable by its arm and
    at least 10 cm from its start. Seeded.

    ## Episode End
    - Termination: never.
    - Truncation: after 100 steps (4 s).
    - ``info["is_success"]``: both tips within 5 cm of their targets.

    ## Arguments
    | argument            | default      | meaning                                       |
    |---------------------|--------------|-----------------------------------------------|
    | `max_episode_steps` | 100          | truncation horizon                            |
    | `sim_config`        | 2 ms / 40 ms | physics/control timestep, gravity, integrator |
    """

    config_name = "two_arm_reach"
