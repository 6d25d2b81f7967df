"""Reading a policy file's graph: loading bytes, finding the named tensors, interpreting their shapes.

Shared by the runtime (which must fail with a typed error) and the checker (which must describe what it
found), so both agree on what "the observation input" and "a dynamic batch" mean.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import onnx
from onnx import helper

from clankers.errors import MetadataError, NotAnOnnxModelError, PolicyFileNotFoundError, PolicyTensorError

#: Accepted names of the observation input, preferred first.
OBS_NAMES = ("obs", "observation")
#: Accepted names of the action output, preferred first.
ACTION_NAMES = ("action", "actions")

Dim = int | str | None


@dataclass(frozen=True)
class TensorInfo:
    """A graph input or output: its name, numpy dtype name and shape (int, symbolic name or None)."""

    name: str
    dtype: str
    shape: tuple[Dim, ...]

    def shape_text(self) -> str:
        return "[" + ", ".join("?" if d is None else str(d) for d in self.shape) + "]"


def load_model(path: str | Path) -> onnx.ModelProto:
    """Read and parse an ONNX file; raise a typed error naming the problem when it is not one."""
    path = Path(path)
    if not path.exists():
        raise PolicyFileNotFoundError(f"policy file {str(path)!r} does not exist; check the path.")
    if path.is_dir():
        raise NotAnOnnxModelError(f"{str(path)!r} is a directory; pass the path of a .onnx policy file.")
    try:
        data = path.read_bytes()
    except OSError as err:
        raise NotAnOnnxModelError(f"cannot read {str(path)!r}: {err}") from err
    return parse_model_bytes(data, str(path))


def parse_model_bytes(data: bytes, label: str = "<bytes>") -> onnx.ModelProto:
    """Parse serialized ONNX; protobuf accepts many byte strings, so also demand a graph and an opset."""
    hint = "re-export the policy, or check that the file was copied completely"
    if not data:
        raise NotAnOnnxModelError(f"{label!r} is empty, not an ONNX model; {hint}.")
    try:
        model = onnx.load_from_string(data)
    except Exception as err:  # protobuf DecodeError and friends: the bytes are not a ModelProto
        raise NotAnOnnxModelError(
            f"{label!r} is not an ONNX model ({type(err).__name__}: {err}); {hint}."
        ) from err
    if model.ir_version <= 0 or not model.opset_import or not model.graph.output:
        raise NotAnOnnxModelError(
            f"{label!r} parsed as protobuf but holds no ONNX graph (ir_version {model.ir_version}, "
            f"{len(model.opset_import)} opsets, {len(model.graph.output)} outputs); {hint}."
        )
    return model


def metadata_dict(model: onnx.ModelProto) -> dict[str, str]:
    """``metadata_props`` as a dict; a key given twice is ambiguous and refused."""
    props: dict[str, str] = {}
    for prop in model.metadata_props:
        if prop.key in props:
            raise MetadataError(
                f"metadata key {prop.key!r} appears more than once; write each key exactly once."
            )
        props[prop.key] = prop.value
    return props


def _dim(d: onnx.TensorShapeProto.Dimension) -> Dim:
    if d.HasField("dim_value"):
        return int(d.dim_value)
    if d.HasField("dim_param"):
        return d.dim_param
    return None


def _info(value: onnx.ValueInfoProto) -> TensorInfo:
    ttype = value.type.tensor_type if value.type.HasField("tensor_type") else None
    if ttype is None:
        return TensorInfo(value.name, "non-tensor", ())
    try:
        dtype = helper.tensor_dtype_to_np_dtype(ttype.elem_type).name
    except Exception:
        dtype = f"onnx-type-{ttype.elem_type}"
    shape: tuple[Dim, ...] = tuple(_dim(d) for d in ttype.shape.dim) if ttype.HasField("shape") else ()
    return TensorInfo(value.name, dtype, shape)


def graph_inputs(model: onnx.ModelProto) -> list[TensorInfo]:
    """Real inputs (older IR versions also list initializers as inputs; those are weights, not inputs)."""
    weights = {init.name for init in model.graph.initializer}
    return [_info(v) for v in model.graph.input if v.name not in weights]


def graph_outputs(model: onnx.ModelProto) -> list[TensorInfo]:
    return [_info(v) for v in model.graph.output]


def find_tensor(tensors: list[TensorInfo], names: tuple[str, ...], kind: str) -> TensorInfo:
    """The first tensor whose name is in ``names`` (in preference order), else a typed error."""
    by_name = {t.name: t for t in tensors}
    for name in names:
        if name in by_name:
            return by_name[name]
    present = ", ".join(repr(t.name) for t in tensors) or "none"
    wanted = " or ".join(repr(n) for n in names)
    raise PolicyTensorError(
        f"the graph has no {kind} named {wanted} (its {kind}s: {present}); "
        f"rename the tensor to {names[0]!r} when exporting."
    )


def batch_dim(info: TensorInfo, axis: int = 0) -> int | None:
    """The fixed batch size of a tensor (batch along ``axis``), or None when that axis is dynamic."""
    if len(info.shape) <= axis:
        raise PolicyTensorError(
            f"tensor {info.name!r} has shape {info.shape_text()}, without a batch axis {axis}; export with "
            "a batch axis."
        )
    first = info.shape[axis]
    if isinstance(first, int) and first > 0:
        if first != 1:
            raise PolicyTensorError(
                f"tensor {info.name!r} has a fixed batch of {first}; the format allows a dynamic batch "
                "dimension or a fixed batch of 1. Export with a dynamic axis 0."
            )
        return 1
    return None


def feature_shape(info: TensorInfo, *, min_rank: int = 2) -> tuple[int, ...]:
    """The per-sample shape (everything after the batch axis); each dimension must be a known integer."""
    if len(info.shape) < min_rank:
        raise PolicyTensorError(
            f"tensor {info.name!r} has shape {info.shape_text()}; the format needs [batch, ...] with "
            f"rank >= {min_rank}. Export with a leading batch axis."
        )
    dims = info.shape[1:]
    if not all(isinstance(d, int) and d > 0 for d in dims):
        raise PolicyTensorError(
            f"tensor {info.name!r} has unknown feature dimensions {info.shape_text()}; only the batch axis "
            "may be dynamic. Export with fixed feature sizes."
        )
    return tuple(int(d) for d in dims)  # type: ignore[arg-type]


def size_of(shape: tuple[int, ...]) -> int:
    return math.prod(shape)
