"""torch module -> ONNX bytes -> policy file, atomically.

The TorchScript-based exporter (``dynamo=False``) handles SB3 policies; the dynamo exporter (torch's
default since 2.9) trips on data-dependent guards in SB3's distribution code, so it is only the fallback.
Whichever succeeded, and the opset, are returned so they can be recorded.
"""

from __future__ import annotations

import io
import os
import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import onnx
import torch

from clankers.errors import ExportError
from clankers.export.options import DEFAULT_OPSET, EXPORTERS


def model_opset(model: onnx.ModelProto) -> int:
    """The default-domain opset the exported model actually declares (dynamo may pick a newer one)."""
    versions = [o.version for o in model.opset_import if o.domain in ("", "ai.onnx")]
    return max(versions) if versions else 0


def torch_to_onnx(
    module: torch.nn.Module,
    example_inputs: tuple[torch.Tensor, ...],
    input_names: Sequence[str],
    output_names: Sequence[str],
    opset: int = DEFAULT_OPSET,
    batch_axes: Mapping[str, int] | None = None,
    exporters: Sequence[str] = EXPORTERS,
) -> tuple[onnx.ModelProto, str]:
    """Export ``module`` with a dynamic batch dimension named ``batch`` on every input and output.

    The batch is axis 0 unless ``batch_axes`` names another (an LSTM state is ``[layers, batch, hidden]``).
    ``exporters`` are tried in order (default: TorchScript, then dynamo). Returns the model and the name
    of the exporter that produced it (``torchscript`` or ``dynamo``).
    """
    axes = dict(batch_axes or {})
    dynamic_axes = {name: {axes.get(name, 0): "batch"} for name in (*input_names, *output_names)}
    module = module.eval()
    errors: list[str] = []
    unknown = [e for e in exporters if e not in EXPORTERS]
    if unknown or not exporters:
        raise ExportError(f"unknown exporter(s) {unknown or exporters}; choose from {', '.join(EXPORTERS)}")
    for exporter in exporters:
        buffer = io.BytesIO()
        try:
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation warning
                if exporter == "torchscript":
                    torch.onnx.export(
                        module,
                        example_inputs,
                        buffer,
                        input_names=list(input_names),
                        output_names=list(output_names),
                        dynamic_axes=dynamic_axes,
                        opset_version=opset,
                        dynamo=False,
                    )
                else:
                    batch = torch.export.Dim("batch", min=1)
                    per_input = tuple({axes.get(name, 0): batch} for name in input_names)
                    # torch.export specializes a size-1 example dimension to the constant 1, so trace with
                    # a batch of two (the example repeated along its batch axis).
                    doubled = tuple(
                        torch.cat([x, x], dim=axes.get(name, 0))
                        for x, name in zip(example_inputs, input_names, strict=True)
                    )
                    program = torch.onnx.export(
                        module,
                        doubled,
                        input_names=list(input_names),
                        output_names=list(output_names),
                        dynamic_shapes=_dynamic_shapes(module, per_input),
                        opset_version=opset,
                        dynamo=True,
                    )
                    program.save(buffer)
            model = onnx.load_from_string(buffer.getvalue())
            return model, exporter
        except Exception as exc:  # each exporter fails in its own ways; keep both messages
            errors.append(f"{exporter}: {type(exc).__name__}: {str(exc)[:500]}")
    raise ExportError(
        "torch could not export the policy to ONNX:\n  " + "\n  ".join(errors),
        hint="try another --opset; if both exporters fail on a standard SB3 policy, report it with the "
        "model's SB3 and torch versions",
    )


def _dynamic_shapes(module: torch.nn.Module, per_input: tuple[dict[int, object], ...]) -> tuple[object, ...]:
    """``dynamic_shapes`` in the structure of ``module.forward``'s parameters (a ``*inputs`` parameter
    takes all inputs as one tuple; named parameters take one spec each)."""
    import inspect

    parameters = list(inspect.signature(module.forward).parameters.values())
    if parameters and parameters[0].kind is inspect.Parameter.VAR_POSITIONAL:
        return (per_input,)
    return per_input


def pin_shapes(model: onnx.ModelProto, shapes: Mapping[str, Sequence[int | str]]) -> None:
    """Declare the exact shape of graph inputs/outputs (a name for the dynamic axis, sizes elsewhere).

    The TorchScript exporter sometimes gives an output symbolic feature dimensions (``Addaction_dim_1``)
    when its own shape inference loses track (an affine map with initializer operands after a Reshape);
    the format requires fixed feature sizes, and the exporter knows them. ``onnx.checker``'s full check
    afterwards confirms the declared shapes agree with ONNX shape inference.
    """
    for value in (*model.graph.input, *model.graph.output):
        if value.name not in shapes:
            continue
        dims = value.type.tensor_type.shape.dim
        del dims[:]
        for size in shapes[value.name]:
            dim = dims.add()
            if isinstance(size, str):
                dim.dim_param = size
            else:
                dim.dim_value = int(size)


def set_metadata(model: onnx.ModelProto, props: Mapping[str, str]) -> None:
    """Replace the model's ``metadata_props`` with ``props`` (every value must already be a string)."""
    del model.metadata_props[:]
    for key, value in props.items():
        if not isinstance(value, str):
            raise ExportError(f"metadata value for {key!r} must be a string, got {type(value).__name__}")
        entry = model.metadata_props.add()
        entry.key, entry.value = key, value


@contextmanager
def staged_file(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it to ``path`` only if the block succeeds.

    Used as: write the candidate file, run every check on it, leave the block. A failed check (an
    exception) deletes the candidate, so no half-written or unverified policy ever has the final name.
    """
    target = Path(path)
    if target.is_dir():
        raise ExportError(f"output {target} is a folder", hint="pass a file name such as policy.onnx")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ExportError(
            f"cannot create the folder of {target} ({exc})", hint="choose a writable output path"
        ) from exc
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        yield tmp
        try:
            os.replace(tmp, target)
        except OSError as exc:
            raise ExportError(f"cannot write {target} ({exc})", hint="choose a writable output path") from exc
    finally:
        tmp.unlink(missing_ok=True)
