"""The ``clankers`` command: wiring only.

Each subcommand parses its arguments, calls into the package, and renders the result with rich. Logic
lives in the subpackages so it is importable, testable and reusable without the CLI. Heavy imports
(torch, SB3) happen inside the commands that need them, so ``clankers check`` and ``clankers run`` stay
torch-free and start fast.

Errors take one path. A command raises a :class:`~clankers.errors.ClankersError` (never prints its own
error line, never picks its own exit code for bad input); every command registered on ``app`` is wrapped
so the error is rendered by :func:`fail`: ``error: <Type>: <message>`` and, when the error carries one,
``hint: <fix>`` on stderr, or one JSON object on stdout when the command was asked for ``--json``
(a command's JSON flag is the parameter ``json_output``). Exit codes, the same for every command:

| code | meaning                                                                                   |
|------|-------------------------------------------------------------------------------------------|
| 0    | done                                                                                      |
| 1    | done, and the verdict is "no" (``check``: the file does not conform; ``demo``: a stage failed) |
| 2    | the input cannot be used: every ClankersError (an OSError becomes a FileAccessError), and typer's own usage errors |
| 130  | interrupted (Ctrl-C)                                                                      |

JSON, the same for every command that has it: ``--json`` prints the machine-readable result (only it) to
stdout; ``--json-out PATH`` writes the same object to a file and keeps the human-readable output.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console

from clankers.errors import ClankersError, ConfigError, FileAccessError

#: Exit codes (see the module docstring).
EXIT_OK, EXIT_NO, EXIT_BAD_INPUT, EXIT_INTERRUPTED = 0, 1, 2, 130


def fail(err: ClankersError, *, as_json: bool = False, fields: dict[str, Any] | None = None) -> typer.Exit:
    """Render a clankers error the one way every command does, and return the exit to raise.

    Text: ``error: <Type>: <message>`` and ``hint: <fix>`` on stderr. JSON (``as_json``): one object
    ``{**fields, "error": message, "error_type": type, "hint": hint}`` on stdout, for tools.
    """
    hint = getattr(err, "hint", None)
    if as_json:
        payload = {**(fields or {}), "error": str(err), "error_type": type(err).__name__, "hint": hint}
        typer.echo(json.dumps(payload, indent=2))
    else:
        from rich.text import Text

        err_console.print(Text.assemble(("error: ", "bold red"), f"{type(err).__name__}: {err}"))
        if hint:
            err_console.print(Text.assemble(("hint: ", "bold"), hint))
    return typer.Exit(EXIT_BAD_INPUT)


def _reports_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a command so a ClankersError it raises leaves through :func:`fail` (the one error path)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ClankersError as err:
            raise fail(err, as_json=bool(kwargs.get("json_output"))) from err
        except OSError as err:  # a path the user gave (--out, --json-out, --video, ...) is not usable
            access = FileAccessError(
                f"{err.strerror or err}: {err.filename}" if err.filename else str(err),
                hint="check that the folder exists and is writable (or the file readable), or pass another path",
            )
            raise fail(access, as_json=bool(kwargs.get("json_output"))) from err
        except KeyboardInterrupt as err:
            err_console.print("interrupted")
            raise typer.Exit(EXIT_INTERRUPTED) from err

    return wrapper


class _App(typer.Typer):
    """A Typer app whose every command is wrapped by :func:`_reports_errors`."""

    def command(self, *args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        register = super().command(*args, **kwargs)

        def decorator(func: Callable[..., Any]) -> Callable[..., Any]:
            register(_reports_errors(func))
            return func

        return decorator


app = _App(
    name="clankers",
    help="Robot learning from a URDF to a deployed ONNX policy.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
err_console = Console(stderr=True)


@app.callback()
def _root() -> None:
    """Robot learning from a URDF to a deployed ONNX policy."""
    # A callback keeps `clankers` a command group even while only one subcommand exists.


@app.command()
def check(
    policy: str = typer.Argument(..., help="Path of the policy file (.onnx) to check."),
    json_output: bool = typer.Option(False, "--json", help="Print the report as JSON to stdout (only it)."),
    json_out: Path = typer.Option(None, "--json-out", help="Also write the report as JSON to this file."),
) -> None:
    """Check a policy file against the clanker policy format; exit code 0 only if it conforms."""
    from clankers.policy import check_policy

    try:
        report = check_policy(policy)
    except ClankersError as err:
        raise fail(
            err, as_json=json_output, fields={"path": policy, "conforms": False, "level": "none"}
        ) from err
    _emit_json(report.to_dict(), json_output, json_out)
    if not json_output:
        console.print(report)
    raise typer.Exit(EXIT_OK if report.conforms else EXIT_NO)


@app.command()
def inspect(
    urdf: Path = typer.Argument(..., help="The robot's URDF file."),
    base: str = typer.Option(None, "--base", help="fixed or floating (default: what the URDF declares)."),
    package_dir: list[str] = typer.Option(
        [],
        "--package-dir",
        help="NAME=PATH: where ROS package NAME lives, for package:// paths (repeatable).",
    ),
    visual: bool = typer.Option(True, "--visual/--no-visual", help="Load visual geometry (converts meshes)."),
    json_output: bool = typer.Option(
        False, "--json", help="Print the description as JSON to stdout (only it)."
    ),
) -> None:
    """Load a URDF as clankers simulates it: joint layout, masses, base, geometry, limits, import warnings."""
    import warnings

    from clankers.sim import load_robot
    from clankers.sim.inspect import describe_robot

    dirs = {}
    for item in package_dir:
        name, sep, path = item.partition("=")
        if not sep or not name or not path:
            raise ConfigError(
                f"--package-dir {item!r} is not NAME=PATH", hint="e.g. --package-dir go1_description=/opt/go1"
            )
        dirs[name] = path
    if base not in (None, "fixed", "floating"):
        raise ConfigError(
            f"--base {base!r} is not fixed or floating", hint="use --base fixed or --base floating"
        )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # every import warning is in the description
        robot = load_robot(urdf, base=base, package_dirs=dirs, visual=visual)  # type: ignore[arg-type]
    info = describe_robot(robot)
    if json_output:
        _emit_json(info, True, None)
        return
    _print_robot(info)


def _print_robot(info: dict[str, Any]) -> None:
    from rich.table import Table

    def num(value: float | None, digits: int = 4) -> str:
        return "-" if value is None else f"{value:.{digits}g}"

    geometry = info["geometry"]
    console.print(
        f"[bold]{info['name']}[/bold]  {info['source']}\n"
        f"base {info['base']}"
        + (f" (starts at z = {info['base_position'][2]:.3f} m)" if info["base_position"] else "")
        + f", {info['dof']} actuated joints, total mass {info['total_mass']:.3f} kg, "
        f"{geometry['collision']} collision / {geometry['visual']} visual geoms, {geometry['meshes']} meshes "
        f"({geometry['converted_meshes']} converted)"
    )
    joints = Table(title="joints (action order; - = unlimited)", title_justify="left")
    for column in ("#", "joint", "kind", "range", "effort", "vel", "damp", "fric", "home"):
        justify = "left" if column in ("joint", "kind", "range") else "right"
        joints.add_column(column, justify=justify, overflow="fold", no_wrap=column != "joint")
    for i, j in enumerate(info["joints"]):
        joints.add_row(
            str(i),
            j["name"],
            j["kind"][:4],
            f"{num(j['lower'], 3)}..{num(j['upper'], 3)}",
            num(j["effort_limit"], 3),
            num(j["velocity_limit"], 3),
            num(j["damping"], 2),
            num(j["friction"], 2),
            num(j["home"], 3),
        )
    console.print(joints)
    bodies = Table(title="bodies (links fixed to their parent are merged into it)", title_justify="left")
    bodies.add_column("body")
    bodies.add_column("mass (kg)", justify="right")
    for body in info["bodies"]:
        bodies.add_row(body["name"], f"{body['mass']:.4g}")
    console.print(bodies)
    for name, mimic in info["mimic_joints"].items():
        console.print(f"mimic: {name} = {mimic['multiplier']:g} * {mimic['joint']} + {mimic['offset']:g}")
    if info["ignored_elements"]:
        console.print("ignored: " + ", ".join(f"{n} <{tag}>" for tag, n in info["ignored_elements"].items()))
    for warning in info["warnings"]:
        console.print(f"[yellow]warning:[/yellow] {warning}")


def _emit_json(payload: dict[str, Any], json_output: bool, json_out: Path | None) -> None:
    """The one JSON convention: ``--json`` prints the object to stdout, ``--json-out`` writes it (atomically)."""
    text = json.dumps(payload, indent=2)
    if json_output:
        typer.echo(text)
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        tmp = json_out.with_name(f".{json_out.name}.tmp")
        tmp.write_text(text + "\n")
        tmp.replace(json_out)


@app.command()
def serve(
    task: str = typer.Option(
        "cartpole", help="Task to serve: a short name (cartpole), a Gymnasium id or a task file."
    ),
    num_envs: int = typer.Option(
        1, "--num-envs", help="Envs per client (n_agents); batch requests need > 1."
    ),
    port: int = typer.Option(9877, help="TCP port (0 = any free port)."),
    host: str = typer.Option(
        "127.0.0.1", help="Address to bind; anything but loopback needs a token (or --insecure)."
    ),
    token_file: Path = typer.Option(
        None,
        "--token-file",
        help="File holding the token every client must send (else $CLANKERS_TOKEN); never on the command line.",
    ),
    insecure: bool = typer.Option(
        False, "--insecure", help="Allow a non-loopback --host without a token (a trusted network only)."
    ),
    tls_cert: Path = typer.Option(None, "--tls-cert", help="PEM certificate chain: serve over TLS."),
    tls_key: Path = typer.Option(None, "--tls-key", help="PEM private key of --tls-cert."),
    max_clients: int = typer.Option(
        64, "--max-clients", help="Sessions at once (then idle ones are reclaimed)."
    ),
    max_pending: int = typer.Option(64, "--max-pending", help="Connections still handshaking at once."),
    max_per_address: int = typer.Option(32, "--max-per-address", help="Connections from one IP address."),
    handshake_timeout: float = typer.Option(
        5.0, "--handshake-timeout", help="Seconds a new connection has to complete TLS and init."
    ),
    reclaim_after: float = typer.Option(
        60.0, "--reclaim-after", help="When full, reclaim a session idle (no env request) this long."
    ),
    idle_timeout: float = typer.Option(600.0, "--idle-timeout", help="Seconds a client may stay silent."),
) -> None:
    """Serve a task over the clankers wire protocol (docs/protocol.md) until interrupted.

    Security (docs/protocol.md §12): loopback only unless a token is set; --tls-cert/--tls-key encrypt.
    """
    import logging

    from clankers.server import PROTOCOL_VERSION, ServerConfig, env_source, load_token
    from clankers.server import serve as run_server

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    config = ServerConfig(
        host=host,
        port=port,
        num_envs=num_envs,
        token=load_token(token_file),
        insecure=insecure,
        tls_cert=tls_cert,
        tls_key=tls_key,
        max_clients=max_clients,
        max_pending=max_pending,
        max_per_address=max_per_address,
        handshake_timeout=handshake_timeout,
        reclaim_after=reclaim_after,
        idle_timeout=idle_timeout,
    )
    source = env_source(task)
    security = ", ".join(
        [
            "token required" if config.token is not None else "no token",
            "TLS" if config.tls else "plain TCP",
        ]
    )

    def announce(address: tuple[str, int]) -> None:
        console.print(
            f"serving [bold]{source.name}[/bold] x{num_envs} per client on {address[0]}:{address[1]} "
            f"(protocol {PROTOCOL_VERSION}, {security}); Ctrl-C to stop"
        )

    try:
        run_server(source, config, on_bound=announce)
    except KeyboardInterrupt:
        console.print("stopped")


@app.command()
def train(
    ctx: typer.Context,
    task: str = typer.Argument(
        None,
        help="Task to train: a short name (cartpole), a Gymnasium id or a task file (default cartpole).",
        show_default=False,
    ),
    out: Path = typer.Option(None, "--out", "-o", help="Run folder (default runs/<task>-train)."),
    algo: str = typer.Option(
        None, help="ppo or sac (default: the task's recipe; required for a task without one)."
    ),
    timesteps: int = typer.Option(None, help="Env-step budget (default: the task's recipe)."),
    seed: int = typer.Option(None, help="Seed for SB3, torch and every environment (default 0)."),
    num_envs: int = typer.Option(
        None, "--num-envs", help="Parallel environments (default: the task's recipe)."
    ),
    n_envs: int = typer.Option(None, "--n-envs", hidden=True, help="Deprecated name of --num-envs."),
    video_every: int = typer.Option(
        None,
        "--video-every",
        min=1,
        help="Film one deterministic episode every N env steps (and at the end) into <out>/videos/.",
    ),
    settings: list[str] = typer.Option(
        None,
        "--set",
        help="KEY=VALUE: a config field or hyperparameter, e.g. --set learning_rate=1e-3 (repeatable).",
    ),
    resume: bool = typer.Option(
        False, "--resume", help="Continue the run in the run folder from its last checkpoint."
    ),
    ray: bool = typer.Option(
        False, "--ray", help="Step the envs on Ray workers: a private local Ray, or RAY_ADDRESS's cluster."
    ),
    ray_address: str = typer.Option(
        None, "--ray-address", help="A Ray cluster to use (HEAD:6379, auto, ray://HOST:10001); implies --ray."
    ),
    num_workers: int = typer.Option(
        2, "--num-workers", min=1, help="Ray rollout workers (with --ray); each steps num_envs / K envs."
    ),
) -> None:
    """Train a task with Stable-Baselines3: model.zip, training.json, a curve, manifest.json, checkpoints."""
    import math

    from clankers.train import checkpoint_config, recipe_for
    from clankers.train import train as run_training
    from clankers.train.config import parse_overrides

    if n_envs is not None:
        if num_envs is not None and num_envs != n_envs:
            raise ConfigError("--n-envs and --num-envs disagree", hint="use --num-envs only")
        err_console.print("[yellow]--n-envs is deprecated; use --num-envs[/]")
        num_envs = n_envs
    name = task or "cartpole"
    stem = Path(name).stem if name.endswith((".toml", ".json")) else name.replace("/", "_")
    out = out or Path("runs") / f"{stem}-train"
    if resume:
        fixed = {"--algo": algo, "--seed": seed, "--num-envs": num_envs, "--set": settings or None}
        given = [flag for flag, value in fixed.items() if value is not None]
        if given:
            raise ConfigError(
                f"{', '.join(given)} cannot change a resumed run",
                hint="--resume continues the run's own config; only --timesteps may raise its budget",
            )
        config = checkpoint_config(out)
        if task is not None and task != config.task:
            raise ConfigError(
                f"the run in {out} trains {config.task!r}, not {task!r}",
                hint="name the run's task, or start a new run in another --out folder",
            )
        if timesteps is not None:
            config = config.replace(total_timesteps=timesteps)
    else:
        config = recipe_for(
            name,
            algo=algo,
            seed=seed or 0,
            total_timesteps=timesteps,
            num_envs=num_envs,
            overrides=parse_overrides(settings or []),
        )
    try:
        with (
            _ray_rollouts(ray, ray_address, num_workers) as vec_env,
            _progress_bar(f"training {config.task}", config.total_timesteps) as update,
        ):
            callbacks = []
            if video_every is not None:
                from clankers.viz.training import video_every as filming

                callbacks.append(filming(config.task, video_every, out / "videos", seed=config.seed))
            result = run_training(
                config,
                out,
                progress=update,
                resume=resume,
                invocation=_invocation(ctx),
                callbacks=callbacks,
                vec_env=vec_env,
            )
    except KeyboardInterrupt as err:
        err_console.print(
            f"interrupted; `clankers train {config.task} --out {out} --resume` continues from the last "
            "checkpoint"
            + ("" if config.checkpoint_every else " (this run wrote none: checkpoint_every is unset)")
        )
        raise typer.Exit(EXIT_INTERRUPTED) from err
    console.print(
        f"[bold]{config.task}[/] ({config.algo.upper()}): deterministic mean return {result.eval_mean:.1f} "
        f"± {result.eval_std:.1f} over {config.eval_episodes} episodes"
        + ("" if math.isnan(result.eval_success_rate) else f", success rate {result.eval_success_rate:.0%}")
        + f", after {result.env_steps} env steps in {result.wall_time_s:.1f} s "
        f"({'solved' if result.solved else 'not solved'})"
    )
    console.print(
        f"model: {result.model_path}\ncurve: {result.curve_path}\nmanifest: {out / 'manifest.json'}"
    )


@app.command()
def export(
    model: Path = typer.Argument(
        ...,
        help="SB3 model.zip (any SB3 version, gym or Gymnasium), or an RL Zoo-style experiment folder holding "
        "it; a pickle container: trusted files only.",
    ),
    output: Path = typer.Option(..., "--output", "-o", help="Policy file to write (.onnx)."),
    # The options below are ExportOptions' fields, with its names and defaults (a test holds them equal).
    algo: str = typer.Option(
        None, help="Algorithm (PPO, SAC, RecurrentPPO, ...), when detection from the zip is not wanted."
    ),
    env: str = typer.Option(
        None,
        help="Task whose real episodes add parity observations: a short name (cartpole), a Gymnasium id or a task file.",
    ),
    vecnormalize: Path = typer.Option(
        None,
        help="VecNormalize statistics (VecNormalize.save) to bake into the graph; found beside the model "
        "when exporting an experiment folder.",
    ),
    verify_env: str = typer.Option(
        None,
        "--verify-env",
        help="Run the file and the model closed-loop in this task (short name, Gymnasium id or task file) on the same seeds and record the result.",
    ),
    verify_episodes: int = typer.Option(3, min=1, help="Episodes of the closed-loop check."),
    trajectory_tolerance: float = typer.Option(
        1e-3, help="Closed loop: largest |onnx - SB3| / max(1, |SB3|) on any observation and return."
    ),
    image_layout: str = typer.Option(
        None, help="Layout of image inputs: HWC (camera frames, default) or CHW."
    ),
    n_samples: int = typer.Option(
        1000,
        "--n-samples",
        "--samples",
        help="Parity observations drawn from the model's operating region (VecNormalize statistics, sane "
        "bounds); the verified level needs >= 1000.",
    ),
    n_episode_states: int = typer.Option(
        1000,
        "--n-episode-states",
        "--episode-states",
        help="Parity observations from real episodes (with --env or --verify-env).",
    ),
    seed: int = typer.Option(0, help="Seed of the parity samples and episodes."),
    tolerance: float = typer.Option(
        1e-4,
        help="Relative parity tolerance: |onnx - SB3| <= tolerance * scale per action component (scale: half "
        "the action range, or the output's magnitude when larger); discrete actions match exactly.",
    ),
    opset: int = typer.Option(17, help="ONNX opset to export with (recorded in the metadata)."),
) -> None:
    """Export an SB3 model (zip or experiment folder) to a verified clanker policy file; nothing is
    written if a check fails."""
    given = dict(locals())  # the flags, by ExportOptions' field names
    from rich.markup import escape

    from clankers.export import ExportOptions, export_sb3

    options = ExportOptions(**{k: v for k, v in given.items() if k in ExportOptions.model_fields})
    with console.status(f"exporting {model}"):
        report = export_sb3(model, output, options)
    for note in report.notes:
        console.print(f"  [dim]·[/] {escape(note)}")
    console.print(
        f"[bold green]wrote[/] {report.path} ({report.algorithm}, {report.exporter} exporter, "
        f"opset {report.opset}, level {report.level}, {report.seconds:.1f} s)"
    )
    for line in report.checks:
        console.print(f"  [green]✓[/] {escape(line)}")  # lines hold tensor shapes like obs[batch, 4]


@app.command()
def run(
    policy: Path = typer.Argument(
        None, help="Policy file (.onnx) to run closed-loop (or --policy).", show_default=False
    ),
    policy_spec: str = typer.Option(
        None,
        "--policy",
        help="The policy: a file (.onnx), or a baseline: zero, random, scripted:module:attr.",
    ),
    env: str = typer.Option(
        "cartpole", help="Task to run in: a short name (cartpole), a Gymnasium id or a task file."
    ),
    episodes: int = typer.Option(20, min=1, help="Episodes, seeded seed, seed+1, ..."),
    seed: int = typer.Option(0, help="Seed of the first episode (and of the random baseline)."),
    compare: Path = typer.Option(None, help="SB3 model.zip to run on the same seeds and compare with."),
    baselines: list[str] = typer.Option(
        None,
        "--baseline",
        help="Also run this baseline (zero, random, scripted:module:attr) on the same seeds and report "
        "what the policy gains over it (repeatable).",
    ),
    json_output: bool = typer.Option(
        False, "--json", help="Print the evaluation as JSON to stdout (only it)."
    ),
    json_out: Path = typer.Option(None, "--json-out", help="Also write the evaluation as JSON to this file."),
    record: Path = typer.Option(
        None,
        help="Record every step to this MCAP file: physics state, obs, action, reward (replayable; "
        "Foxglove shows the robot).",
    ),
    video: Path = typer.Option(
        None, "--video", help="Film the episodes into this .mp4 or .gif (frames at the control rate)."
    ),
    video_fps: float = typer.Option(
        None, "--video-fps", help="Frames per second of --video (<= control rate)."
    ),
    video_size: str = typer.Option("640x480", "--video-size", help="WIDTHxHEIGHT of --video frames."),
    overlay: bool = typer.Option(
        False, "--overlay", help="Write episode, step, return and action on --video."
    ),
    plot: Path = typer.Option(
        None,
        "--plot",
        help="Plot the first episodes' trajectories (observations, actions over time; the SB3 model "
        "overlaid with --compare) to this PNG.",
    ),
    remote: str = typer.Option(
        None, help="HOST:PORT of a clankers wire-protocol server (a simulator or a robot bridge) to run on."
    ),
    tls: bool = typer.Option(False, "--tls", help="--remote over TLS, verified against the system's CAs."),
    ca_file: Path = typer.Option(
        None,
        "--ca-file",
        help="--remote over TLS, verified against this PEM CA bundle (self-signed servers).",
    ),
    token_file: Path = typer.Option(
        None, "--token-file", help="File with the --remote server's token (else $CLANKERS_TOKEN)."
    ),
) -> None:
    """Run a policy closed-loop (a file with onnxruntime alone, no torch; or a baseline) and report returns."""
    from rich.table import Table

    from clankers.envs.rollout import compare_evaluations, evaluate

    say = _quiet if json_output else console.print
    spec = _one_policy(policy, policy_spec)
    make = _env_factory(env, remote, {"token_file": token_file, "tls": tls, "ca_file": ca_file})
    with _remote_errors(remote, env):
        first_env = make()
        if video is not None or record is not None:
            first_env, recorder = _watched(
                first_env, env, remote, video, record, video_fps, video_size, overlay
            )
        act, reset = _load_policy(spec, first_env, env, seed)
        evaluation = evaluate(
            act,
            env,
            episodes,
            seed,
            record=compare is not None or plot is not None,  # (--record: the StateRecorder keeps all)
            env_factory=lambda: first_env,
            on_reset=reset,
        )
    table = Table(title=f"{spec} on {env}")
    for column in ("episode", "seed", "return", "length", "end"):
        table.add_column(column, justify="right")
    for i, ep in enumerate(evaluation.episodes):
        table.add_row(
            str(i),
            str(ep.seed),
            f"{ep.episode_return:.1f}",
            str(ep.length),
            "terminated" if ep.terminated else "truncated",
        )
    say(table)
    say(
        f"mean return [bold]{evaluation.mean_return:.2f}[/] ± {evaluation.returns.std():.2f} "
        f"over {episodes} episodes"
    )
    summary = {"policy": spec, **evaluation.to_dict()}
    for name in baselines or []:
        with _remote_errors(remote, env):
            base_env = make()
            base_act, base_reset = _load_policy(name, base_env, env, seed)
            base = evaluate(
                base_act, env, episodes, seed, env_factory=lambda e=base_env: e, on_reset=base_reset
            )
        gain = evaluation.mean_return - base.mean_return
        summary.setdefault("baselines", {})[name] = {
            "mean_return": base.mean_return,
            "std_return": float(base.returns.std()),
            "returns": base.returns.tolist(),
            "gain": gain,
        }
        say(f"baseline {name}: mean return {base.mean_return:.2f} (the policy gains [bold]{gain:+.2f}[/])")
    if compare is not None:
        from clankers.export.sb3 import load_model

        sb3_model = load_model(compare)
        reference = evaluate(
            lambda o: sb3_model.predict(o, deterministic=True)[0], env, episodes, seed, record=True
        )
        comparison = compare_evaluations(evaluation, reference)
        summary["comparison"] = comparison.to_dict()
        say(
            f"vs SB3 predict: returns equal: [bold]{comparison.returns_equal}[/], trajectories match "
            f"(scaled |obs diff| ≤ {comparison.tolerance:g}): [bold]{comparison.trajectories_match}[/] "
            f"(max scaled obs diff {comparison.max_trajectory_diff:.3g}, max action diff "
            f"{comparison.max_action_diff:.3g})"
        )
    _emit_json(summary, json_output, json_out)
    if record is not None:
        from clankers.envs.recording import write_recording

        info = {"task": env, "policy": spec, "seed": str(seed), "episodes": str(episodes)}
        write_recording(record, recorder.finish(), first_env, info)
        say(f"recorded {sum(e.length for e in evaluation.episodes)} steps to {record}")
    if video is not None:
        say(f"video: {video}")
    if plot is not None:
        from clankers.viz.plots import plot_trajectories

        runs = {Path(str(spec)).name: evaluation}
        if compare is not None:
            runs["SB3 predict"] = reference
        raw = first_env.unwrapped
        plot_trajectories(
            runs,
            plot,
            observation_names=getattr(raw, "observation_names", None),
            action_names=getattr(getattr(raw, "layout", None), "names", None),
            episodes=tuple(range(min(3, episodes))),
            title=f"{spec} on {env}",
        )
        say(f"trajectories: {plot}")


def _watched(
    env: Any,
    task: str,
    remote: str | None,
    video: Path | None,
    record: Path | None,
    fps: float | None,
    size: str,
    overlay: bool,
) -> tuple[Any, Any]:
    """``env`` (rebuilt to render when filming) wrapped to film and/or record; and the state recorder."""
    from clankers.envs import make_env
    from clankers.envs.recording import StateRecorder
    from clankers.render.video import VideoRecorder

    if remote is not None:
        raise ConfigError(
            "--video and --record need the simulation here, not a --remote one",
            hint="drop --remote, or record on the server's side",
        )
    recorder = None
    if video is not None:
        width, height = _size(size)
        env.close()
        env = make_env(task, render_mode="rgb_array", width=width, height=height)
    if record is not None:
        env = recorder = StateRecorder(env)
    if video is not None:
        env = VideoRecorder(env, video, fps=fps, overlay=overlay)
    return env, recorder


def _size(text: str) -> tuple[int, int]:
    width, _, height = text.lower().partition("x")
    if not (width.isdigit() and height.isdigit() and int(width) > 0 and int(height) > 0):
        raise ConfigError(f"video size {text!r} is not WIDTHxHEIGHT", hint="e.g. --video-size 640x480")
    return int(width), int(height)


def _invocation(ctx: typer.Context) -> dict[str, Any]:
    """The command and its options as parsed (a run's manifest records them beside ``sys.argv``)."""
    return {"command": ctx.info_name, "options": {k: _jsonable(v) for k, v in ctx.params.items()}}


def _jsonable(value: Any) -> Any:
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def _quiet(*_args: Any, **_kwargs: Any) -> None:
    """The console under ``--json``: stdout carries the JSON object only."""


def _one_policy(path: Path | None, spec: str | None) -> str:
    if path is not None and spec is not None:
        raise ConfigError(
            "two policies given (a file and --policy)", hint="pass the policy file or --policy, not both"
        )
    if path is None and spec is None:
        raise ConfigError(
            "no policy given",
            hint="pass a policy file (clankers run policy.onnx) or a baseline (--policy zero|random|"
            "scripted:module:attr)",
        )
    return str(path) if path is not None else str(spec)


def _load_policy(
    spec: str, env: Any, task: str, seed: int
) -> tuple[Callable[[Any], Any], Callable[[], None] | None]:
    """``(act, on_reset)`` of a baseline or a policy file; a file trained for another task is refused
    here, naming both observation layouts."""
    from clankers.envs.baselines import baseline_policy, is_baseline

    if is_baseline(spec):
        baseline = baseline_policy(spec, env.action_space, seed)
        return baseline.act, baseline.reset
    from clankers.envs.rollout import check_observation_fit
    from clankers.policy import OnnxPolicy

    onnx_policy = OnnxPolicy(spec)
    check_observation_fit(
        env,
        onnx_policy.metadata.observation_layout,
        None if onnx_policy.is_dict else onnx_policy.obs_shape,
        Path(spec).name,
        task,
    )
    return onnx_policy.act, onnx_policy.reset if onnx_policy.recurrent else None


def _env_factory(task: str, remote: str | None, security: dict[str, Any]) -> Callable[[], Any]:
    """A function making the env to run in: the task here, or a remote one at ``HOST:PORT``."""
    if remote is None:
        from clankers.envs import make_env

        return lambda: make_env(task)
    from clankers.server import load_token
    from clankers.server.remote_env import RemoteEnv

    host, _, port = remote.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--remote {remote!r} is not HOST:PORT", hint="e.g. --remote 127.0.0.1:9877")
    token_file = security.pop("token_file")
    options = {"token": load_token(token_file), **security}
    return lambda: RemoteEnv(host, int(port), **options)


@contextmanager
def _remote_errors(remote: str | None, task: str = "cartpole") -> Iterator[None]:
    """A socket error talking to ``--remote`` becomes a RemoteConnectionError naming the address."""
    from clankers.errors import RemoteConnectionError

    try:
        yield
    except ConnectionRefusedError as err:
        if remote is None:
            raise
        raise RemoteConnectionError(
            f"nothing accepts connections at {remote} (connection refused)",
            hint=f"start one there (clankers serve --task {task} --port {remote.rpartition(':')[2]}), "
            "or check --remote",
        ) from err
    except ClankersError:
        raise
    except OSError as err:
        if remote is None:
            raise
        raise RemoteConnectionError(
            f"the connection to {remote} failed: {err}",
            hint="check that a clankers server (clankers serve) runs there and is reachable",
        ) from err


@app.command()
def demo(
    name: str = typer.Option("demo", help="Run name: everything goes to runs/<name>/."),
    seed: int = typer.Option(0, help="Seed of training and evaluation."),
    timesteps: int = typer.Option(
        None, help="Training budget in env steps (default: the recipe's; stops early when solved)."
    ),
    episodes: int = typer.Option(20, help="Evaluation episodes of the exported policy."),
) -> None:
    """The main job: train -> export -> check -> run on the cart-pole, all artifacts in runs/<name>/."""
    from rich.table import Table

    from clankers.demo import TASK, run_demo
    from clankers.train import recipe_for

    budget = timesteps if timesteps is not None else recipe_for(TASK).total_timesteps
    with _progress_bar("training cartpole", budget) as update:
        summary = run_demo(
            Path("runs") / name,
            seed=seed,
            timesteps=timesteps,
            episodes=episodes,
            progress=update,
            log=console.print,
        )
    table = Table(title=f"clankers demo: runs/{name}")
    table.add_column("stage")
    table.add_column("result")
    for stage, result in summary.rows():
        table.add_row(stage, result)
    console.print(table)
    if not summary.ok:
        raise typer.Exit(EXIT_NO)


@app.command()
def replay(
    recording: Path = typer.Argument(..., help="A recording (.mcap) written by `clankers run --record`."),
    video: Path = typer.Option(..., "--video", help="Video to write (.mp4 or .gif)."),
    episodes: str = typer.Option(None, help="Episodes to replay, e.g. 0,2 (default: all)."),
    video_fps: float = typer.Option(None, "--video-fps", help="Frames per second (<= the control rate)."),
    video_size: str = typer.Option("640x480", "--video-size", help="WIDTHxHEIGHT of the frames."),
    overlay: bool = typer.Option(
        False, "--overlay", help="Write episode, step, return and action on frames."
    ),
) -> None:
    """Render a recording again from its recorded states (no re-simulation) into a video."""
    from clankers.viz.replay import replay_video

    chosen = None
    if episodes:
        try:
            chosen = [int(e) for e in episodes.split(",")]
        except ValueError as err:
            raise ConfigError(
                f"--episodes {episodes!r} is not a list of integers", hint="e.g. --episodes 0,2"
            ) from err
    width, height = _size(video_size)
    result = replay_video(
        recording, video, episodes=chosen, fps=video_fps, overlay=overlay, width=width, height=height
    )
    console.print(f"replayed {len(result.episodes)} episodes, {result.frames} frames: {result.path}")


# --- beyond one machine: Ray (clankers.distributed, the `ray` extra) -------------------------------------


@contextmanager
def _ray_connection(use_ray: bool, address: str | None, cpus: int) -> Iterator[bool]:
    """Connected to Ray for the block when asked (``--ray``/``--ray-address``); yields whether it is.

    A private local instance gets at least ``cpus`` CPUs, so the requested workers always fit."""
    if not use_ray and address is None:
        yield False
        return
    import os

    from clankers.distributed.cluster import ray_session

    with ray_session(address, num_cpus=max(cpus, os.cpu_count() or 1)):
        yield True


@contextmanager
def _ray_rollouts(use_ray: bool, address: str | None, num_workers: int) -> Iterator[Any]:
    """``train --ray``: the training envs' factory on Ray workers, or ``None`` (local envs)."""
    with _ray_connection(use_ray, address, num_workers) as connected:
        if not connected:
            yield None
            return
        from clankers.distributed.sb3 import ray_vec_env

        yield ray_vec_env(num_workers)


@app.command(name="eval")
def evaluate_policy(
    policy: Path = typer.Argument(..., help="Policy file (.onnx) to evaluate (onnxruntime only, no torch)."),
    env: str = typer.Option("cartpole", "--env", help="Task to evaluate in."),
    episodes: int = typer.Option(100, min=1, help="Episodes; episode i is seeded seed + i."),
    seed: int = typer.Option(0, help="Seed of the first episode."),
    ray: bool = typer.Option(
        False, "--ray", help="Run the episodes on Ray workers (local Ray or RAY_ADDRESS)."
    ),
    ray_address: str = typer.Option(
        None, "--ray-address", help="A Ray cluster to use (HEAD:6379, auto, ray://HOST:10001); implies --ray."
    ),
    chunk_size: int = typer.Option(
        None, "--chunk-size", min=1, help="Episodes per Ray task (default: ~4 tasks per CPU, at most 50)."
    ),
    per_seed: bool = typer.Option(False, "--per-seed", help="Print every episode (always in the JSON)."),
    json_output: bool = typer.Option(False, "--json", help="Print the report as JSON (only it)."),
    json_out: Path = typer.Option(None, "--json-out", help="Also write the report as JSON here."),
) -> None:
    """Evaluate a policy file on many seeded episodes: mean, 95% CI, success rate, per-seed results.

    Locally, or with --ray on torch-free Ray workers; both give the same numbers, episode for episode.
    """
    from rich.table import Table

    from clankers.distributed.evaluation import check_inputs, evaluate_policy_file

    out = _quiet if json_output else console.print
    check_inputs(policy, env, episodes)  # before Ray starts: a bad file or task fails at once
    with _ray_connection(ray, ray_address, 1) as connected:
        report = evaluate_policy_file(policy, env, episodes, seed, use_ray=connected, chunk_size=chunk_size)
    low, high = report.ci95
    lines = [
        f"mean return [bold]{report.mean:.2f}[/] ± {report.std:.2f} (std), 95% CI [{low:.2f}, {high:.2f}] "
        f"over {episodes} episodes (seeds {seed}..{seed + episodes - 1})"
    ]
    if report.success_rate is not None and report.success_ci95 is not None:
        s_low, s_high = report.success_ci95
        lines.append(f"success rate [bold]{report.success_rate:.1%}[/] (95% CI {s_low:.1%}-{s_high:.1%})")
    where = (
        "this process"
        if report.backend == "local"
        else f"{len(report.workers)} Ray workers on {len({w['node'] for w in report.workers})} node(s)"
    )
    lines.append(f"ran in {report.wall_time_s:.1f} s on {where}")
    for failure in report.failures:
        lines.append(
            f"[yellow]worker lost[/] on seeds {failure['seeds'][0]}..{failure['seeds'][1]} "
            f"(attempt {failure['attempt']}, {failure['error']}): re-run, counted once"
        )
    if per_seed or episodes <= 20:
        table = Table(title=f"{policy} on {env}")
        for column in ("seed", "return", "length", "end", "success"):
            table.add_column(column, justify="right")
        for ep in report.episodes:
            table.add_row(
                str(ep["seed"]),
                f"{ep['return']:.2f}",
                str(ep["length"]),
                "terminated" if ep["terminated"] else "truncated",
                "-" if ep["success"] is None else str(ep["success"]),
            )
        out(table)
    for line in lines:
        out(line)
    _emit_json(report.to_dict(), json_output, json_out)


@app.command()
def sweep(
    task: str = typer.Argument(..., help="Task to train (as clankers train takes it)."),
    param: list[str] = typer.Option(
        ...,
        "--param",
        help="NAME=DIST: loguniform(a,b), uniform(a,b), randint(a,b), choice(x,y,..) or a value (repeatable).",
    ),
    trials: int = typer.Option(10, min=1, help="Hyperparameter sets to try."),
    seeds: int = typer.Option(3, min=1, help="Training seeds per trial (0 .. seeds-1)."),
    timesteps: int = typer.Option(None, help="Env-step budget of every run (default: the task's recipe)."),
    metric: str = typer.Option("eval_mean", help="eval_mean (final deterministic return) or success_rate."),
    search: str = typer.Option("optuna", help="optuna (TPE) or random."),
    scheduler: str = typer.Option("asha", help="asha (stop trials whose first seeds score low) or none."),
    max_concurrent: int = typer.Option(
        None, "--max-concurrent", min=1, help="Trials at once (default: as CPUs allow)."
    ),
    out: Path = typer.Option(
        None, "--out", "-o", help="Sweep folder (default runs/<task>-sweep); shared by every node."
    ),
    no_export: bool = typer.Option(
        False, "--no-export", help="Do not export the best model to best/policy.onnx."
    ),
    ray_address: str = typer.Option(
        None,
        "--ray-address",
        help="A Ray cluster to use (HEAD:6379, auto); default RAY_ADDRESS or a local Ray.",
    ),
    json_output: bool = typer.Option(False, "--json", help="Print the result as JSON (only it)."),
) -> None:
    """Sweep hyperparameters on Ray Tune: every trial trains each seed as a normal run (manifest and all);
    writes sweep.json, results.csv, best_trials.png and the best model (exported) to the sweep folder."""
    import math

    from rich.table import Table

    from clankers.distributed.sweep import SweepConfig, parse_param, run_sweep

    config = SweepConfig(
        task=task,
        params=[parse_param(p) for p in param],
        trials=trials,
        seeds=seeds,
        timesteps=timesteps,
        metric=metric,
        search=search,
        scheduler=scheduler,
        max_concurrent=max_concurrent,
        export_best=not no_export,
    )
    config.validate()
    folder = out or Path("runs") / f"{task.replace('/', '_')}-sweep"
    say = _quiet if json_output else console.print
    import contextlib
    import sys

    # Ray Tune prints its own tables: to stderr under --json, so stdout carries the JSON object only.
    chatter = contextlib.redirect_stdout(sys.stderr) if json_output else contextlib.nullcontext()
    with _ray_connection(True, ray_address, 1), chatter:
        result = run_sweep(config, folder, log=say)
    if json_output:
        _emit_json(result.to_dict(), True, None)
        return
    names = [p.name for p in config.params]
    table = Table(title=f"sweep of {task}: {metric}, mean over seeds (best first)")
    for column in ("rank", "trial", *names, "score", "per seed", "status"):
        table.add_column(column, justify="right")
    for rank, row in enumerate(result.rows, 1):
        table.add_row(
            str(rank),
            row.trial_id,
            *[
                f"{row.values[n]:.4g}" if isinstance(row.values[n], float) else str(row.values[n])
                for n in names
            ],
            "-" if math.isnan(row.score) else f"{row.score:.2f}",
            " ".join(f"{s:.1f}" for s in row.seed_scores),
            row.status,
        )
    console.print(table)
    console.print(f"{len(result.rows)} trials in {result.wall_time_s:.0f} s on {len(result.nodes)} node(s)")
    if result.best is not None:
        console.print(f"best: {result.best.trial_id} {result.best.values} -> {result.best.score:.2f}")
        console.print(
            f"best model: {result.best_model}"
            + (f", policy: {result.best_policy}" if result.best_policy else "")
        )
    console.print(f"table: {result.out_dir / 'results.csv'}\nplot: {result.plot}")


@app.command()
def view(
    target: str = typer.Argument(
        ..., help="A policy file (.onnx) or baseline (zero, random) to run live, or a recording (.mcap)."
    ),
    env: str = typer.Option("cartpole", help="Task to run a policy in (ignored for a recording)."),
    seed: int = typer.Option(0, help="Seed of the first live episode."),
    host: str = typer.Option("127.0.0.1", help="Address to serve on (127.0.0.1: this machine only)."),
    port: int = typer.Option(8080, help="TCP port of the page (0: any free port)."),
    duration: float = typer.Option(None, help="Stop after this many seconds (default: until Ctrl-C)."),
) -> None:
    """Watch a robot in the browser (viser): a policy live, or a recording with a timeline; play/pause/step."""
    from clankers.viz.viewer import view_policy, view_recording

    if target.endswith(".mcap"):
        view_recording(target, host=host, port=port, duration=duration, announce=console.print)
    else:
        view_policy(target, env, seed=seed, host=host, port=port, duration=duration, announce=console.print)


dataset_app = _App(
    name="dataset",
    help="Datasets from recordings (LeRobot's format).",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(dataset_app, name="dataset")


@dataset_app.command("export")
def dataset_export(
    paths: list[Path] = typer.Argument(
        ..., help="Recordings (.mcap from `clankers run --record`), then the output folder."
    ),
    format: str = typer.Option("lerobot", "--format", help="Dataset format: lerobot (LeRobotDataset v3.0)."),
    video_size: str = typer.Option("320x240", "--video-size", help="WIDTHxHEIGHT of the camera videos."),
    task: str = typer.Option(None, help="The episodes' task instruction (default: the task's description)."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace an existing output folder."),
) -> None:
    """Export recordings as a dataset: `clankers dataset export recordings/*.mcap --format lerobot OUT/`."""
    from clankers.viz.dataset import export_lerobot

    if format != "lerobot":
        raise ConfigError(f"unknown dataset format {format!r}", hint="use --format lerobot")
    if len(paths) < 2:
        raise ConfigError("give the recordings and then the output folder", hint="e.g. runs/*.mcap data/cp")
    *recordings, out = paths
    width, height = _size(video_size)
    info = export_lerobot(recordings, out, width=width, height=height, task=task, overwrite=overwrite)
    console.print(
        f"wrote {out}: LeRobotDataset {info['codebase_version']}, {info['total_episodes']} episodes, "
        f"{info['total_frames']} frames at {info['fps']} fps"
    )


@app.command()
def sim2sim(
    policy: str = typer.Argument(
        ..., help="Policy file (.onnx), run with onnxruntime alone; or a baseline (zero, random)."
    ),
    env: str = typer.Option(
        "go1_velocity", help="Locomotion task: a short name, a Gymnasium id or a task file."
    ),
    episodes: int = typer.Option(5, min=1, help="Episodes per setting (seeds seed, seed+1, ...)."),
    duration: float = typer.Option(10.0, min=0.02, help="Seconds per episode."),
    seed: int = typer.Option(0, help="Seed of the first episode (the same in every setting)."),
    settings: list[str] = typer.Option(
        None, "--setting", help="Run only these settings (repeatable; default: all). Names as in the table."
    ),
    json_output: bool = typer.Option(False, "--json", help="Print the results as JSON to stdout (only it)."),
    json_out: Path = typer.Option(None, "--json-out", help="Also write the results as JSON to this file."),
) -> None:
    """Run a policy in other physics settings (physics step and integrator, friction x0.5 and x1.5,
    a payload, pushes) on the task's evaluation command, and report forward speed and falls per setting."""
    import numpy as np
    from rich.table import Table

    from clankers.envs import find_task, make_env
    from clankers.envs.sim2sim import DEFAULT_SETTINGS
    from clankers.envs.sim2sim import sim2sim as run_sim2sim

    chosen = list(DEFAULT_SETTINGS)
    if settings:
        known = {s.name: s for s in DEFAULT_SETTINGS}
        unknown = [name for name in settings if name not in known]
        if unknown:
            raise ConfigError(f"unknown setting(s) {unknown}", hint=f"choose from {sorted(known)}")
        chosen = [known[name] for name in settings]
    entry = find_task(env)
    probe = make_env(env)
    try:
        act, _ = _load_policy(policy, probe, env, seed)
    finally:
        probe.close()
    from clankers.envs.baselines import is_baseline

    if is_baseline(policy):
        single = act

        def act(obs: Any) -> Any:  # a baseline acts on one observation at a time
            return np.stack([np.asarray(single(o), dtype=np.float64) for o in obs])

    else:
        from clankers.policy import OnnxPolicy

        act = OnnxPolicy(policy).act_batch
    say = _quiet if json_output else console.print
    table = Table(title=f"{Path(policy).name} on {entry.name if entry else env}: sim-to-sim")
    for column in ("setting", "forward speed (m/s)", "lateral (m/s)", "falls", "mean duration (s)"):
        table.add_column(column, justify="right")

    def progress(result: Any) -> None:
        row = result.as_dict()
        say(
            f"{row['setting']}: {row['mean_speed']:+.3f} m/s, {row['falls']}/{row['episodes']} fell",
        )

    results = run_sim2sim(
        act, env, chosen, episodes=episodes, duration=duration, seed=seed, progress=progress
    )
    rows = [r.as_dict() for r in results]
    for row in rows:
        table.add_row(
            row["setting"],
            f"{row['mean_speed']:+.3f} ± {row['std_speed']:.3f}",
            f"{row['mean_lateral']:+.3f}",
            f"{row['falls']}/{row['episodes']}",
            f"{row['mean_duration']:.1f}",
        )
    say(table)
    _emit_json(
        {
            "policy": policy,
            "task": env,
            "episodes": episodes,
            "duration": duration,
            "seed": seed,
            "settings": rows,
        },
        json_output,
        json_out,
    )


@contextmanager
def _progress_bar(description: str, total: int) -> Iterator[Callable[[int, int, str], None]]:
    """A rich progress bar driven by ``update(done, total, status)`` callbacks."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("{task.fields[status]}"),
        console=console,
        transient=False,
    ) as bar:
        task_id = bar.add_task(description, total=total, status="")

        def update(done: int, total: int, status: str) -> None:
            bar.update(task_id, completed=min(done, total), total=total, status=status)

        yield update


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
