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
| 2    | the input cannot be used: every ClankersError, and typer's own usage errors                |
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

from clankers.errors import ClankersError

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


def _fail(err: ClankersError, code: int = EXIT_BAD_INPUT) -> typer.Exit:
    """Older name of :func:`fail` (kept while the commands move to raising)."""
    fail(err)
    return typer.Exit(code)


def _reports_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a command so a ClankersError it raises leaves through :func:`fail` (the one error path)."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except ClankersError as err:
            raise fail(err, as_json=bool(kwargs.get("json_output"))) from err
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
    task: str = typer.Argument(
        "cartpole", help="Task to train (short name, e.g. cartpole, or a Gymnasium id)."
    ),
    out: Path = typer.Option(None, "--out", "-o", help="Output folder (default runs/<task>-train)."),
    timesteps: int = typer.Option(None, help="Env-step budget (default: the task's recipe)."),
    seed: int = typer.Option(0, help="Seed for SB3, torch and every environment."),
    n_envs: int = typer.Option(None, help="Parallel environments (default: the task's recipe)."),
) -> None:
    """Train a task with Stable-Baselines3; saves model.zip, training.json and training_curve.png."""
    import math

    from clankers.errors import ClankersError
    from clankers.train import recipe_for
    from clankers.train import train as run_training

    try:
        config = recipe_for(task, seed=seed, total_timesteps=timesteps, n_envs=n_envs)
        out = out or Path("runs") / f"{task.replace('/', '_')}-train"
        with _progress_bar(f"training {task}", config.total_timesteps) as update:
            result = run_training(config, out, progress=update)
    except ClankersError as err:
        raise _fail(err) from err
    console.print(
        f"[bold]{task}[/]: deterministic mean return {result.eval_mean:.1f} ± {result.eval_std:.1f} over "
        f"{config.eval_episodes} episodes"
        + ("" if math.isnan(result.eval_success_rate) else f", success rate {result.eval_success_rate:.0%}")
        + f", after {result.env_steps} env steps in {result.wall_time_s:.1f} s "
        f"({'solved' if result.solved else 'not solved'})"
    )
    console.print(f"model: {result.model_path}\ncurve: {result.curve_path}")


@app.command()
def export(
    model: Path = typer.Argument(..., help="SB3 model.zip (a pickle container: trusted files only)."),
    output: Path = typer.Option(..., "--output", "-o", help="Policy file to write (.onnx)."),
    algo: str = typer.Option(
        None, help="Algorithm (PPO, SAC, RecurrentPPO, ...), when detection from the zip is not wanted."
    ),
    env: str = typer.Option(
        None,
        help="Task whose real episodes add parity observations: a short name (cartpole), a Gymnasium id or a task file.",
    ),
    vecnormalize: Path = typer.Option(
        None, help="VecNormalize statistics (VecNormalize.save) to bake into the graph."
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
    samples: int = typer.Option(1000, help="Random parity observations."),
    episode_states: int = typer.Option(
        1000, help="Parity observations from real episodes (with --env or --verify-env)."
    ),
    seed: int = typer.Option(0, help="Seed of the parity samples and episodes."),
    opset: int = typer.Option(17, help="ONNX opset to export with (recorded in the metadata)."),
) -> None:
    """Export an SB3 model to a verified clanker policy file (nothing is written if a check fails)."""
    from clankers.errors import ClankersError
    from clankers.export import export_sb3

    try:
        with console.status(f"exporting {model}"):
            report = export_sb3(
                model,
                output,
                algo=algo,
                env=env,
                vecnormalize=vecnormalize,
                verify_env=verify_env,
                verify_episodes=verify_episodes,
                trajectory_tolerance=trajectory_tolerance,
                image_layout=image_layout,
                n_samples=samples,
                n_episode_states=episode_states,
                seed=seed,
                opset=opset,
            )
    except ClankersError as err:
        raise _fail(err) from err
    console.print(
        f"[bold green]wrote[/] {report.path} ({report.algorithm}, {report.exporter} exporter, "
        f"opset {report.opset}, level {report.level}, {report.seconds:.1f} s)"
    )
    from rich.markup import escape

    for line in report.checks:
        console.print(f"  [green]✓[/] {escape(line)}")  # lines hold tensor shapes like obs[batch, 4]


@app.command()
def run(
    policy: Path = typer.Argument(..., help="Policy file (.onnx) to run closed-loop."),
    env: str = typer.Option(
        "cartpole", help="Task to run in: a short name (cartpole), a Gymnasium id or a task file."
    ),
    episodes: int = typer.Option(20, min=1, help="Episodes, seeded seed, seed+1, ..."),
    seed: int = typer.Option(0, help="Seed of the first episode."),
    compare: Path = typer.Option(None, help="SB3 model.zip to run on the same seeds and compare with."),
    json_out: Path = typer.Option(None, "--json", help="Also write the evaluation as JSON here."),
    record: Path = typer.Option(None, help="Record every step (obs, action, reward) to this MCAP file."),
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
    """Run a policy file with onnxruntime alone (no torch) and report returns; optionally compare to SB3."""
    import json

    from rich.table import Table

    from clankers.envs.rollout import compare_evaluations, evaluate
    from clankers.errors import ClankersError
    from clankers.policy import OnnxPolicy

    try:
        onnx_policy = OnnxPolicy(policy)
        env_factory = None
        if remote is not None:
            from clankers.server import load_token
            from clankers.server.remote_env import RemoteEnv

            host, _, port = remote.rpartition(":")
            if not host or not port.isdigit():
                raise typer.BadParameter(f"--remote {remote!r} must be HOST:PORT, e.g. 127.0.0.1:9877")
            security = {"token": load_token(token_file), "tls": tls, "ca_file": ca_file}
            env_factory = lambda: RemoteEnv(host, int(port), **security)  # noqa: E731
        evaluation = evaluate(
            onnx_policy.act,
            env,
            episodes,
            seed,
            record=compare is not None or record is not None,
            env_factory=env_factory,
        )
    except (ClankersError, OSError) as err:  # OSError: the remote server is unreachable or went away
        raise _fail(err) from err
    table = Table(title=f"{policy} on {env}")
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
    console.print(table)
    console.print(
        f"mean return [bold]{evaluation.mean_return:.2f}[/] ± {evaluation.returns.std():.2f} "
        f"over {episodes} episodes"
    )
    summary = evaluation.to_dict()
    if compare is not None:
        from clankers.export.sb3 import load_model

        sb3_model = load_model(compare)
        reference = evaluate(
            lambda o: sb3_model.predict(o, deterministic=True)[0], env, episodes, seed, record=True
        )
        comparison = compare_evaluations(evaluation, reference)
        summary["comparison"] = comparison.to_dict()
        console.print(
            f"vs SB3 predict: returns equal: [bold]{comparison.returns_equal}[/], trajectories match "
            f"(scaled |obs diff| ≤ {comparison.tolerance:g}): [bold]{comparison.trajectories_match}[/] "
            f"(max scaled obs diff {comparison.max_trajectory_diff:.3g}, max action diff "
            f"{comparison.max_action_diff:.3g})"
        )
    if json_out is not None:
        json_out.write_text(json.dumps(summary, indent=2))
    if record is not None:
        from clankers.envs.recording import write_mcap

        write_mcap(evaluation, record, {"policy": str(policy), "seed": str(seed), "episodes": str(episodes)})
        console.print(f"recorded {sum(e.length for e in evaluation.episodes)} steps to {record}")


@app.command()
def demo(
    name: str = typer.Option("demo", help="Run name: everything goes to runs/<name>/."),
    seed: int = typer.Option(0, help="Seed of training and evaluation."),
    timesteps: int = typer.Option(30_000, help="Training budget in env steps (stops early when solved)."),
    episodes: int = typer.Option(20, help="Evaluation episodes of the exported policy."),
) -> None:
    """The main job: train -> export -> check -> run on the cart-pole, all artifacts in runs/<name>/."""
    from rich.table import Table

    from clankers.demo import run_demo
    from clankers.errors import ClankersError

    try:
        with _progress_bar("training cartpole", timesteps) as update:
            summary = run_demo(
                Path("runs") / name,
                seed=seed,
                timesteps=timesteps,
                episodes=episodes,
                progress=update,
                log=console.print,
            )
    except ClankersError as err:
        raise _fail(err) from err
    table = Table(title=f"clankers demo: runs/{name}")
    table.add_column("stage")
    table.add_column("result")
    for stage, result in summary.rows():
        table.add_row(stage, result)
    console.print(table)
    if not summary.ok:
        raise typer.Exit(1)


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
