"""The shipped tasks: one :func:`~clankers.envs.tasks.registry.register_task` call each.

Each call carries the task file (``assets/tasks/<name>.toml``), its training recipe (data that
:mod:`clankers.train.recipes` interprets: SAC for the torque-driven pendulum and arm, where an
off-policy learner needs far fewer environment steps; PPO on many cheap parallel steps for the cart-pole,
the velocity-servo arms and the quadruped) and its documentation entry, in
Gymnasium's docstring layout. A user's task is registered by the same call; nothing here is special.
The arguments of ``gymnasium.make(id, ...)`` are :class:`~clankers.envs.tasks.env.TaskEnv`'s for every
task (``max_episode_steps``, ``sim_config``, ``render_mode``), their defaults the task file's.
"""

from __future__ import annotations

from clankers.envs.tasks.config import shipped_task_config
from clankers.envs.tasks.registry import register_task

#: SAC for the reaching arms: SAC's defaults with a 128x128 network and gamma 0.98, which reached 100%
#: ArmReach success where 64x64 / gamma 0.99 plateaued at 85% (docs/tasks.md has the measured runs).
_ARM_SAC = {"gamma": 0.98, "net_arch": [128, 128]}
#: PPO for the velocity-servo arms (ArmReach6, TwoArmReach): 32 envs x 64 steps per rollout, 10 epochs of
#: minibatches of 512, ELU 256-128 actor and critic, gamma 0.97 for 30-step episodes. The physics runs
#: in C on every core, so PPO's many cheap steps beat SAC's few expensive updates on 2 cores.
_ARM_PPO = {
    "n_steps": 64,
    "batch_size": 512,
    "gamma": 0.97,
    "net_arch": {"pi": [256, 128], "vf": [256, 128]},
    "activation": "elu",
}
#: Their recipe: a 3M-step budget (both stop far earlier), stopping at 97% success of 100 evaluation
#: episodes checked every 50k steps.
_ARM_PPO_RECIPE = {
    "algo": "ppo",
    "total_timesteps": 3_000_000,
    "num_envs": 32,
    "eval_every": 50_000,
    "eval_episodes": 100,
    "target_success_rate": 0.97,
    "checkpoint_every": 500_000,
    "hyperparams": _ARM_PPO,
}

register_task(
    shipped_task_config("cartpole"),
    env_id="clankers/CartPole-v1",
    # SB3 PPO, 64x64, lr 3e-4, gamma 0.99, GAE 0.95, clip 0.2, 10 epochs, minibatch 64; 8 envs x 256 steps.
    # Solved (deterministic eval 500) after 22.5k-35k steps for seeds 0-4; the budget is an upper bound.
    recipe={"algo": "ppo", "total_timesteps": 50_000, "num_envs": 8, "target_return": 500.0},
    doc="""Balance a pole on a cart by pushing the cart along a rail.

    ## Description
    The robot is ``assets/urdf/cartpole.urdf``: a 1.0 kg cart on a frictionless rail (±2.4 m) carrying
    a 0.1 kg uniform rod of length 1.0 m on a passive hinge, the parameters of Gymnasium's
    ``CartPole-v1``. Unlike ``CartPole-v1`` the dynamics come from MuJoCo (1 ms physics steps, the
    command held for 20 of them: 50 Hz control), with continuous force control, and observations and
    actions follow the robot's joint layout, so a policy trained here is wired exactly like one for any
    other clankers robot. Config: ``assets/tasks/cartpole.toml``.

    ``clankers/CartPole-v1`` replaces ``clankers/CartPole-v0`` (a hand-written class): same physics,
    spaces, reward and episode ends, but start states now come from the seed hierarchy every task uses,
    so a given seed starts another episode than under v0.

    ## Action Space
    ``Box(-1, 1, (2,), float32)``: one normalized command per joint in layout order (alphabetical by
    joint name), scaled by the joint's URDF effort limit:

    | index | joint        | meaning                            | scale            |
    |-------|--------------|------------------------------------|------------------|
    | 0     | `cart_slide` | force on the cart along +x         | 10 N             |
    | 1     | `pole_hinge` | torque on the pole (passive joint) | 0 N m: no effect |

    Commands outside [-1, 1] saturate at the limit. A wrong shape, NaN or inf raises
    :class:`clankers.errors.ActionError`.

    ## Observation Space
    ``Box(-inf, inf, (4,), float32)``, the joint state (position then velocity per joint, in layout
    order):

    | index | observation           | unit                                        |
    |-------|-----------------------|---------------------------------------------|
    | 0     | cart position         | m                                           |
    | 1     | cart velocity         | m/s                                         |
    | 2     | pole angle            | rad (0 = upright, positive tips towards +x) |
    | 3     | pole angular velocity | rad/s                                       |

    The bounds are infinite on purpose: the rail limit is a (soft) MuJoCo constraint the cart can
    slightly overshoot, the hinge is continuous, and velocities are unbounded. Episodes end long before
    values leave the interesting range (see Episode End).

    ## Rewards
    +1 for every step taken, including the step that terminates the episode, so the maximum return of
    an episode is 500.

    ## Starting State
    Every state variable (cart position and velocity, pole angle and angular velocity) is drawn from
    U(-0.05, 0.05), from the episode's ``start_state`` generator: the same seed gives the same episode,
    bit for bit.

    ## Episode End
    - Termination: ``|pole angle| > 0.2094`` rad (12°) or ``|cart position| > 2.4`` m
      (``info["termination"]`` names which: ``pole_angle``, ``cart_position``).
    - Truncation: after 500 steps (10 s).
    - No success condition: ``info`` has no ``is_success``.
    """,
)

register_task(
    shipped_task_config("pendulum"),
    recipe={"algo": "sac", "total_timesteps": 30_000, "target_return": -200.0},
    doc="""Swing a torque-limited pendulum up from anywhere and balance it upright.

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
    """,
)

register_task(
    shipped_task_config("arm_reach"),
    recipe={
        "algo": "sac",
        "total_timesteps": 200_000,
        "eval_every": 20_000,
        "target_success_rate": 0.95,
        "hyperparams": _ARM_SAC,
    },
    doc="""Move the tip of a two-link arm to a random target, against gravity.

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
    """,
)

register_task(
    shipped_task_config("arm_reach6"),
    # v1: joint-velocity actions (v0 took joint-position targets; its policies do not transfer).
    env_id="clankers/ArmReach6-v1",
    recipe=_ARM_PPO_RECIPE,
    doc="""Move the flange of a six-DOF arm to a random 3-D target, against gravity.

    ## Description
    The robot is ``assets/urdf/six_dof_arm.urdf``: a yaw-pitch-pitch-roll-pitch-roll serial arm
    (0.1 + 0.4 + 0.3 + 0.06 + 0.06 + 0.04 m, 4.2 kg in all). Every joint is a velocity servo
    (``[action] kind = "velocity"``: a MuJoCo velocity loop at every 5 ms physics step, torque within
    the URDF effort from 30 N m at the shoulder down to 2 N m at the flange, gravity torques fed
    forward, 0.1 kg m^2 of geared rotor inertia per joint). 10 Hz commands.
    Config: ``assets/tasks/arm_reach6.toml``.

    ## Action Space
    ``Box(-1, 1, (6,), float32)``: velocities of `j1_base_yaw`, `j2_shoulder_pitch`,
    `j3_elbow_pitch`, `j4_wrist_roll`, `j5_wrist_pitch`, `j6_flange_roll`, in that (alphabetical)
    order, 1.5 rad/s per unit. Zero holds the arm still. (v0 took joint-position targets through PID
    servos, and the first design raw torques; docs/tasks.md has what each reached.)

    ## Observation Space
    ``Box(-inf, inf, (21,), float32)``:

    | index | observation                      | unit  |
    |-------|----------------------------------|-------|
    | 0-5   | joint angles                     | rad   |
    | 6-11  | joint velocities                 | rad/s |
    | 12-14 | end effector (flange tip) position | m   |
    | 15-17 | target position                  | m     |
    | 18-20 | target minus end effector, x5    | 0.2 m |

    The error is scaled by 5 so that its last centimetres stand out to the network (PPO reached 95%
    success at 400k steps with it, 49% without; docs/tasks.md).

    ## Rewards
    ``-d + 0.5 (1 - tanh(d / 0.05)) - 0.005 |action|^2 - 0.001 |joint velocity|^2`` per step.

    ## Starting State
    Joint angles uniform in [-0.3, 0.3] rad (near upright), velocities in [-0.05, 0.05] rad/s; the
    target is the flange tip's position for random joint angles (shoulder within +-1.5 rad and elbow
    within +-2 rad, so it stays above the base), at least 10 cm from the start. Seeded.

    ## Episode End
    - Termination: never.
    - Truncation: after 30 steps (3 s).
    - ``info["is_success"]``: tip within 5 cm of the target (at the last step: the arm stopped there).
    """,
)

register_task(
    shipped_task_config("two_arm_reach"),
    # v1: joint-velocity actions; end effector, target and scaled error observed (v0: position targets).
    env_id="clankers/TwoArmReach-v1",
    recipe=_ARM_PPO_RECIPE,
    doc="""Two two-link arms in one scene, each moving its tip to its own random target.

    ## Description
    Two copies of ``assets/urdf/two_link_arm.urdf`` (robots ``left`` at x = -0.6 m and ``right`` at
    x = +0.6 m) compiled into one MuJoCo model and stepped together. With 0.9 m of reach each, their
    workspaces overlap in the middle. The action and observation are split into per-robot slices,
    declared by ``env.action_slices`` and ``env.robot_observation_slices``, and each robot's slice has
    the same layout as the robot alone. Every joint is a velocity servo (a MuJoCo velocity loop within
    the URDF effort at every 5 ms physics step, gravity torques fed forward, 0.1 kg m^2 of geared rotor
    inertia); 10 Hz commands. Config: ``assets/tasks/two_arm_reach.toml``.

    ## Action Space
    ``Box(-1, 1, (4,), float32)``, joint velocities at 2 rad/s per unit (zero holds the arms still):

    | index | joint (velocity)     |
    |-------|----------------------|
    | 0     | `left/j1_shoulder`   |
    | 1     | `left/j2_elbow`      |
    | 2     | `right/j1_shoulder`  |
    | 3     | `right/j2_elbow`     |

    ## Observation Space
    ``Box(-inf, inf, (30,), float32)``; for each robot (left: 0-14, right: 15-29):

    | offset | observation                              | unit  |
    |--------|------------------------------------------|-------|
    | 0-3    | cos, sin of shoulder and elbow angles    | -     |
    | 4-5    | shoulder and elbow velocity              | rad/s |
    | 6-8    | own end effector (world frame)           | m     |
    | 9-11   | own target (world frame)                 | m     |
    | 12-14  | own target minus own end effector, x5    | 0.2 m |

    The error is scaled by 5 so that the last centimetres stand out to the network: with it unscaled, PPO
    reached 15% success at 500k steps, scaled 86% at 450k (docs/tasks.md).

    ## Rewards
    Per arm ``-d + 0.5 (1 - tanh(d / 0.05))``, plus ``-0.005 |action|^2 - 0.001 |joint velocity|^2``;
    ``info["reward_terms"]`` shows each arm's part.

    ## Starting State
    As ``ArmReach-v0`` for each arm (angles uniform in [-1, 1] rad), each target reachable by its arm and
    at least 10 cm from its start. Seeded.

    ## Episode End
    - Termination: never.
    - Truncation: after 30 steps (3 s).
    - ``info["is_success"]``: both tips within 5 cm of their targets.
    """,
)

register_task(
    shipped_task_config("go1_velocity"),
    # PPO as the field trains legged robots (legged_gym, rsl_rl), scaled to 2 CPU cores: 64 envs x 32
    # steps per rollout, 5 epochs of minibatches of 512, ELU 256-128 actor and critic, log std -0.5.
    recipe={
        "algo": "ppo",
        "total_timesteps": 3_000_000,
        "num_envs": 64,
        "eval_every": 500_000,
        "eval_episodes": 10,
        "checkpoint_every": 500_000,
        "hyperparams": {
            "n_steps": 32,
            "batch_size": 512,
            "n_epochs": 5,
            "learning_rate": 3e-4,
            "gamma": 0.99,
            "gae_lambda": 0.95,
            "ent_coef": 0.005,
            "clip_range": 0.2,
            "max_grad_norm": 1.0,
            "net_arch": {"pi": [256, 128], "vf": [256, 128]},
            "activation": "elu",
            "log_std_init": -0.5,
        },
    },
    doc="""A Unitree Go1 quadruped tracks base-velocity commands (forward, lateral, yaw rate) on flat ground.

    ## Description
    The robot is ``go1_description/urdf/go1.urdf`` of the ``example-robot-data`` package, unmodified
    (``pip install 'clankers[robots]'``): a 13.1 kg robot on a floating base, 12 joints (hip, thigh, calf per leg),
    23.7-35.55 N m motors, spherical feet. 5 ms physics (Euler; 0.01 kg m^2 rotor armature), 50 Hz
    control. Each episode draws a command, forward in [0, 1.0] m/s, lateral in [-0.2, 0.2] m/s and
    yaw rate in [-0.5, 0.5] rad/s (10% of them "stand still"), and redraws it every 5 s; a trot clock
    (2 Hz, diagonal feet together) paces the feet. ``gym.make(id, command="evaluation")`` fixes the
    command to the evaluation setting, walk forward at 0.5 m/s (``command=[vx, vy, yaw_rate]`` any
    other). Terms are evaluated batched (``batched = true``). Config: ``assets/tasks/go1_velocity.toml``.

    ## Action Space
    ``Box(-1, 1, (12,), float32)``: joint position targets ``home + 0.5 rad x action`` tracked by a PD
    loop (kp 50 N m/rad, kd 1 N m s/rad, clamped to the motor's torque) in every physics substep. Joints
    in layout (alphabetical) order: ``FL_calf``, ``FL_hip``, ``FL_thigh``, ``FR_...``, ``RL_...``,
    ``RR_...``; home pose hip 0, thigh 0.9, calf -1.8 rad.

    ## Observation Space
    ``Box(-inf, inf, (47,), float32)``, base frame:

    | index | observation                                  | scale        |
    |-------|----------------------------------------------|--------------|
    | 0-2   | base angular velocity (rad/s)                | 0.25         |
    | 3-5   | projected gravity (unit vector)              | 1            |
    | 6-8   | command: forward, lateral (m/s), yaw rate (rad/s) | 2, 2, 0.25 |
    | 9-20  | joint positions minus home (rad)             | 1            |
    | 21-32 | joint velocities (rad/s)                     | 0.05         |
    | 33-44 | last action                                  | 1            |
    | 45-46 | gait clock: sin, cos of 2 pi phase           | 1            |

    ## Rewards
    Per step (the field's per-second weights x 0.02 s, linear tracking doubled): ``0.04 exp(-|cmd_xy - v_xy|^2 / 0.25)
    + 0.01 exp(-(cmd_yaw - w_z)^2 / 0.25) - 0.04 v_z^2 - 0.001 (w_x^2 + w_y^2) - 4e-6 |tau|^2
    - 5e-9 |qddot|^2 - 2e-4 |a - a_prev|^2 - 0.2 (z - 0.27)^2 - 0.02 (g_x^2 + g_y^2)
    + 0.02 feet_gait``, where ``feet_gait = exp(-sum((clearance - swing)^2) / 0.01)`` asks each foot
    to follow the trot clock (8 cm swings, planted in stance) while the command asks to move.
    ``feet_air_time`` and ``undesired_contacts`` are in the breakdown with weight 0.
    ``info["reward_terms"]`` has every weighted term.

    ## Starting State
    Standing on the home pose (base at 0.285 m), each joint offset uniformly by up to 0.1 rad. Per
    episode: foot friction uniform in [0.6, 1.25], a payload of -0.5 to 1.0 kg on the trunk, pushes of
    10-40 N for 0.1 s about every 6 s (``info["randomization"]`` at reset). Seeded.

    ## Episode End
    - Termination: the trunk or a thigh touches the ground (``illegal_contact``), or the base is below
      0.15 m or tilted by more than 60 degrees (``fall``).
    - Truncation: after 500 steps (10 s).
    - No success condition.
    """,
)
