"""Protobuf messages and MCAP chunks encoded for many steps at once, with numpy.

Why this exists: a recording holds three messages per control step (state, ``/tf``, ``/joint_states``).
Encoding them one at a time costs, on the project's machine, about 9 µs per message in ``mcap``'s
``Writer.add_message`` and 5 to 30 µs per message in protobuf's Python message classes (a field set
is a Python call): writing a cart-pole step cost as much as simulating it, against a target of 10% of
the run, recording included (``benchmarks/bench_render.py``). Yet every message of a channel has the
same fields in the same order; only numbers change. So a message is a byte *template* with *slots*
(:class:`Template`), and a block of steps is encoded by copying the template once per step and filling
each slot for all steps with one numpy assignment (:func:`fill`); the few parts whose width varies (a
timestamp's varints, a field absent at an episode's first step, the lengths that depend on them) are
*regions* worked out once per combination of widths, and the bytes they drop are taken out at the end.
The cost falls to well under a microsecond per message.

What comes out is ordinary protobuf and ordinary MCAP, read by their own libraries:

- Protobuf: fields in field-number order, as protobuf writes them; numbers that change from step to
  step (``double``, ``fixed32``) always present, zeros too (explicit default values are valid and
  decode as such; protobuf itself would leave zeros out), constant zeros left out; varints (lengths,
  timestamps) canonical. Field numbers and types come from the messages' descriptors, never typed in
  here. Without zero values the bytes are exactly protobuf's (``tests/test_mcap_batch.py``).
- MCAP: records are built by ``mcap``'s own record classes (header, schemas, channels, chunk headers,
  chunk indexes, statistics, metadata, attachments, summary, footer), except the two that number in
  the thousands, message records and message indexes, laid out here byte for byte as
  ``mcap.records.Message`` and ``MessageIndex`` write them. Chunks carry their CRC and may be
  compressed (lz4, zstd); messages are in log-time order; the summary repeats schemas and channels and
  indexes every chunk, metadata record and attachment, so indexed readers (Foxglove, ``mcap.reader``)
  seek as in any MCAP file (``tests/test_recording.py`` reads them back with ``mcap``'s readers, CRCs
  checked, and follows every message index entry).
"""

from __future__ import annotations

import itertools
import struct
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

import numpy as np
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from mcap.data_stream import RecordBuilder
from mcap.opcode import Opcode
from mcap.records import (
    Attachment,
    AttachmentIndex,
    Channel,
    Chunk,
    ChunkIndex,
    DataEnd,
    Footer,
    Header,
    Message,
    Metadata,
    MetadataIndex,
    Schema,
    Statistics,
    SummaryOffset,
)

MAGIC = b"\x89MCAP0\r\n"
MESSAGE_HEADER = 1 + 8 + 2 + 4 + 8 + 8  # opcode, record length, channel, sequence, log and publish time

# --- protobuf ---------------------------------------------------------------------------------------


def varint(value: int) -> bytes:
    """One canonical base-128 varint (protobuf's encoding of lengths and integers)."""
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def varints(values: np.ndarray, digits: int = 10) -> tuple[np.ndarray, np.ndarray]:
    """Canonical varints of non-negative integers below ``2 ** (7 * digits)``: bytes ``(n, digits)``
    (left-aligned) and widths ``(n,)``."""
    v = np.asarray(values, dtype=np.uint64)[:, None] >> (np.arange(digits, dtype=np.uint64) * np.uint64(7))
    widths = np.maximum((v > 0).sum(axis=1), 1)
    more = np.arange(digits) < (widths - 1)[:, None]
    return ((v & np.uint64(0x7F)) | (more * np.uint64(0x80))).astype(np.uint8), widths


def _tag(number: int, wire_type: int) -> bytes:
    return varint(number << 3 | wire_type)


def timestamps(descriptor: Descriptor, stamps_ns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``google.protobuf.Timestamp`` contents for nanosecond stamps (below 2**35 s): bytes ``(n, 12)``
    and widths. Zero seconds or nanoseconds are left out, as protobuf does, so the width varies (0 to 12
    bytes): seconds (tag and up to 5 varint bytes), then nanoseconds."""
    stamps = np.asarray(stamps_ns, dtype=np.int64)
    parts, widths = [], []
    for name, value in (("seconds", stamps // 1_000_000_000), ("nanos", stamps % 1_000_000_000)):
        if len(value) and value.max() >= 2**35:
            raise ValueError(f"timestamp {name} {value.max()} is out of range")
        part = np.empty((len(value), 6), np.uint8)
        part[:, 0] = _tag(descriptor.fields_by_name[name].number, 0)[0]
        part[:, 1:], width = varints(value, 5)
        parts.append(part)
        widths.append(np.where(value > 0, 1 + width, 0))
    out = np.zeros((len(stamps), 12), np.uint8)
    seconds = widths[0]
    ordered = bool(np.all(seconds[1:] >= seconds[:-1]))  # stamps in time order: runs of one width
    for shift in np.unique(seconds).tolist():  # the nanoseconds follow the seconds' bytes
        if ordered:
            rows: Any = slice(*np.searchsorted(seconds, [shift, shift + 1]).tolist())
        else:
            rows = seconds == shift
        out[rows, :shift] = parts[0][rows, :shift]
        out[rows, shift : shift + 6] = parts[1][rows]
    return out, seconds + widths[1]


@dataclass(frozen=True)
class Column:
    """A per-step value of a template: ``key`` names a column of :class:`Columns`.

    For a ``double`` or ``fixed32`` field one number, the ``at``-th of the column's row; for a
    ``repeated double`` field ``count`` of them from there (packed); for a message field (a timestamp)
    bytes already encoded, of a width given per step (see :func:`fill`)."""

    key: str
    count: int = 1
    at: int = 0


@dataclass(frozen=True)
class Present:
    """A field written only in the steps where the flag ``key`` (see :func:`fill`) is 1."""

    key: str
    value: Any


_names = itertools.count()


@dataclass
class Template:
    """A message's bytes laid out for its widest step, and what changes from step to step.

    - ``slots`` ``(offset, column, width, start)``: bytes copied from a column of :class:`Columns`;
    - ``regions`` ``(offset, key, widest, scale)``: of these ``widest`` bytes a step keeps the first
      ``widths[key] * scale`` (a timestamp's varints: its width; a :class:`Present` field: all or none);
    - ``counts`` ``(offset, width, key, regions, base)``: a length that depends on regions, written per
      step, as a varint of up to ``width`` bytes whose width becomes ``widths[key]`` (a protobuf length
      prefix; also a region) or, with no key, as 8 little-endian bytes (an MCAP record length). Its value
      is ``base`` less what each of ``regions`` drops.
    """

    data: bytearray = field(default_factory=bytearray)
    slots: list[tuple[int, str, int, int]] = field(default_factory=list)
    regions: list[tuple[int, str, int, int]] = field(default_factory=list)
    counts: list[tuple[int, int, str | None, tuple[tuple[str, int, int], ...], int]] = field(
        default_factory=list
    )

    def __len__(self) -> int:
        return len(self.data)

    def constant(self, data: bytes) -> None:
        self.data += data

    def slot(self, key: str, width: int, start: int = 0) -> None:
        self.slots.append((len(self.data), key, width, start))
        self.data += bytes(width)

    def extend(self, other: Template) -> None:
        base = len(self.data)
        self.slots += [(base + offset, *rest) for offset, *rest in other.slots]  # type: ignore[misc]
        self.regions += [(base + offset, *rest) for offset, *rest in other.regions]  # type: ignore[misc]
        self.counts += [(base + offset, *rest) for offset, *rest in other.counts]  # type: ignore[misc]
        self.data += other.data

    def region(self, key: str, inner: Template, scale: int = 1) -> None:
        """``inner``, of which a step keeps ``widths[key] * scale`` bytes."""
        if inner.regions:
            raise ValueError("regions do not nest")
        self.regions.append((len(self.data), key, len(inner), scale))
        self.extend(inner)

    def dependencies(self) -> tuple[tuple[str, int, int], ...]:
        """Its regions as ``(key, widest, scale)``: what its length depends on."""
        return tuple((key, widest, scale) for _, key, widest, scale in self.regions)

    def delimited(self, number: int, inner: Template) -> None:
        """A length-delimited field: tag, length (a varint), ``inner``."""
        self.constant(_tag(number, 2))
        if not inner.regions:
            self.constant(varint(len(inner)))
            self.extend(inner)
            return
        width, key = len(varint(len(inner))), f"length{next(_names)}"
        count = (len(self.data), width, key, inner.dependencies(), len(inner))
        self.regions.append((len(self.data), key, width, 1))
        self.data += bytes(width)
        self.extend(inner)
        self.counts.append(count)  # after inner's own counts, whose widths it needs

    def record_length(self, offset: int, payload: Template, base: int) -> None:
        """An MCAP record length (8 bytes at ``offset``): ``base`` plus the bytes ``payload`` keeps.
        Called after ``payload`` is in, so that its own counts come first."""
        self.counts.append((offset, 8, None, payload.dependencies(), base + len(payload)))


def _is_repeated(fd: FieldDescriptor) -> bool:
    repeated = getattr(fd, "is_repeated", None)
    return bool(repeated) if repeated is not None else fd.label == FieldDescriptor.LABEL_REPEATED


def message_template(descriptor: Descriptor, spec: Mapping[str, Any], widest: Mapping[str, int]) -> Template:
    """The encoding of a message of type ``descriptor`` whose fields are ``spec``.

    ``spec`` maps field names to constants (``str``, ``float``, ``int``), :class:`Column`\\ s, nested
    specs (``dict``), lists of nested specs for repeated message fields, or any of these inside a
    :class:`Present`. Fields not in ``spec`` are left out. ``widest`` gives the most bytes an encoded
    message column (a timestamp) takes."""
    unknown = set(spec) - set(descriptor.fields_by_name)
    if unknown:
        raise KeyError(f"{descriptor.full_name} has no field(s) {sorted(unknown)}")
    out = Template()
    for fd in sorted(descriptor.fields, key=lambda f: f.number):
        if fd.name in spec:
            value = spec[fd.name]
            if isinstance(value, Present):
                inner = Template()
                _field(inner, fd, value.value, widest)
                out.region(value.key, inner, scale=len(inner))
            else:
                _field(out, fd, value, widest)
    return out


def _field(out: Template, fd: FieldDescriptor, value: Any, widest: Mapping[str, int]) -> None:
    if fd.type == FieldDescriptor.TYPE_MESSAGE:
        for item in value if _is_repeated(fd) else [value]:
            inner = Template()
            if isinstance(item, Column):
                encoded = Template()
                encoded.slot(item.key, widest[item.key])
                inner.region(item.key, encoded)
            else:
                inner = message_template(fd.message_type, item, widest)
            out.delimited(fd.number, inner)
    elif fd.type == FieldDescriptor.TYPE_STRING:
        out.delimited(fd.number, Template(bytearray(str(value).encode())))
    elif fd.type == FieldDescriptor.TYPE_DOUBLE and _is_repeated(fd):
        if value.count:
            inner = Template()
            inner.slot(value.key, 8 * value.count, 8 * value.at)
            out.delimited(fd.number, inner)
    elif fd.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FIXED32):
        wire, fmt = (1, "<d") if fd.type == FieldDescriptor.TYPE_DOUBLE else (5, "<I")
        if isinstance(value, Column):
            size = struct.calcsize(fmt)
            out.constant(_tag(fd.number, wire))
            out.slot(value.key, size, size * value.at)
        elif struct.pack(fmt, value) != bytes(struct.calcsize(fmt)):  # a constant zero is left out,
            out.constant(_tag(fd.number, wire) + struct.pack(fmt, value))  # as protobuf does
    else:
        raise TypeError(f"{fd.full_name}: field type {fd.type} is not supported here")


def message_bytes(channel_id: int, sequence: int, log_time: int, data: bytes) -> bytes:
    """One MCAP Message record (log and publish time alike), as ``mcap.records.Message.write`` lays it
    out; for the few messages written one by one."""
    header = struct.pack(
        "<BQHIQQ", Opcode.MESSAGE, MESSAGE_HEADER - 9 + len(data), channel_id, sequence, log_time, log_time
    )
    return header + data


def message_record(channel_id: int, payload: Template, sequence: str, stamp: str) -> Template:
    """An MCAP Message record around ``payload`` (as ``mcap.records.Message.write`` lays it out)."""
    out = Template()
    out.constant(struct.pack("<BQH", Opcode.MESSAGE, MESSAGE_HEADER - 9 + len(payload), channel_id))
    out.slot(sequence, 4)
    out.slot(stamp, 8)
    out.slot(stamp, 8)
    out.extend(payload)
    if payload.regions:
        out.record_length(1, payload, MESSAGE_HEADER - 9)
    return out


def as_bytes(values: np.ndarray, dtype: str) -> np.ndarray:
    """Rows of ``values`` as little-endian ``dtype`` bytes: ``(n, k * itemsize)`` uint8."""
    array = np.ascontiguousarray(np.asarray(values).reshape(len(values), -1), dtype=dtype)
    return array.view(np.uint8).reshape(len(values), -1)


class Columns:
    """Per-step values as bytes: for each key, one row of bytes per step.

    ``columns`` maps each key to ``(values, dtype)``: ``values`` has one row (or one number) per step,
    read as little-endian ``dtype`` (``"<f8"``, ``"<u4"``, ``"u1"`` for bytes already encoded). An
    array already of that dtype and laid out row by row is used in place, not copied."""

    def __init__(self, columns: Mapping[str, tuple[Any, str]]) -> None:
        self.arrays: dict[str, np.ndarray] = {}
        for key, (values, dtype) in columns.items():
            array = np.asarray(values, dtype=np.dtype(dtype))
            array = array.reshape(len(array), -1) if array.ndim != 2 else array
            if array.strides[-1] != array.itemsize:  # bytes of a row must follow one another
                array = np.ascontiguousarray(array)
            self.arrays[key] = array.view(np.uint8)

    def copies(self, template: Template) -> list[tuple[int, str, int, int]]:
        """``template``'s slots as ``(offset, key, start in a row of that column, width)``, neighbours
        merged (a run of slots filled from consecutive bytes of one column is one copy)."""
        copies: list[list[Any]] = []
        for offset, key, width, start in sorted(template.slots):
            last = copies[-1] if copies else None
            if last and last[1] == key and last[0] + last[3] == offset and last[2] + last[3] == start:
                last[3] += width
            else:
                copies.append([offset, key, start, width])
        return [(a, b, c, d) for a, b, c, d in copies]


@dataclass
class Filled:
    """Steps of a template, before the bytes that regions drop are taken out (``data[keep]``)."""

    data: np.ndarray  # (steps, len(template) + extra) uint8
    keep: np.ndarray  # same shape, bool: the bytes that stay
    sizes: np.ndarray  # bytes kept per step
    marks: np.ndarray  # (len(marks), steps): where each marked template offset lands in its step


def _variants(
    template: Template, variants: Sequence[Mapping[str, int]], marks: Sequence[int], extra: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """For each variant (the widths of its region keys: a timestamp's 0 to 12 bytes, a flag), the
    template's bytes with its counts written, which bytes stay, the kept size and where the marks land.
    A few variants, a few counts: plain Python."""
    data, keep = bytearray(), bytearray()
    sizes, moved = [], []
    for widths in variants:
        row, kept = bytearray(template.data) + bytes(extra), bytearray(b"\x01" * len(template) + bytes(extra))
        known = dict(widths)
        for offset, width, key, regions, base in template.counts:
            value = base + sum(known[name] * scale - widest for name, widest, scale in regions)
            encoded = struct.pack("<Q", value) if key is None else varint(value)
            assert len(encoded) <= width  # the widest a length can be was reserved
            row[offset : offset + len(encoded)] = encoded
            if key is not None:
                known[key] = len(encoded)
        for offset, key, widest, scale in template.regions:
            stays = known[key] * scale
            kept[offset + stays : offset + widest] = bytes(widest - stays)
        data += row
        keep += kept
        sizes.append(sum(kept))
        moved.append([sum(kept[:mark]) for mark in marks])
    shape = (len(variants), len(template) + extra)
    return (
        np.frombuffer(bytes(data), np.uint8).reshape(shape),
        np.frombuffer(bytes(keep), np.bool_).reshape(shape),
        np.array(sizes, dtype=np.int64),
        np.array(moved, dtype=np.int64).reshape(len(variants), len(marks)).T,
    )


def fill(
    template: Template,
    rows: slice,
    columns: Columns,
    widths: Mapping[str, np.ndarray],
    marks: Sequence[int] = (),
    extra: int = 0,
) -> Filled:
    """``template`` for the steps ``rows`` (a range of rows of ``columns``), with ``extra`` spare bytes
    at the end of each (dropped unless set kept). ``widths`` gives, per row, each region key's width
    (a timestamp's) or flag (0 or 1, for :class:`Present`); all below 64.

    Rows differ in their region widths in a few ways only, so the bytes that depend on them (lengths,
    which bytes stay) are worked out once per variant and copied to the rows by one gather; then each
    slot is one copy of a column for all rows."""
    values = {key: array[rows] for key, array in columns.arrays.items()}  # views: rows is a slice
    steps = len(next(iter(values.values())))
    keys = sorted(widths)
    code = np.zeros(steps, dtype=np.int64)
    for key in keys:  # one integer per combination of widths
        code = code * 64 + np.asarray(widths[key][rows], dtype=np.int64)
    codes, inverse = np.unique(code, return_inverse=True)
    variants = []
    for combined in codes.tolist():
        variant = {}
        for key in reversed(keys):
            combined, variant[key] = divmod(combined, 64)
        variants.append(variant)
    data, keep, sizes, moved = _variants(template, variants, marks, extra)
    out = data[inverse]
    for offset, key, start, width in columns.copies(template):
        view = f"V{width}"  # one element per row: a copy of `width` bytes
        out[:, offset : offset + width].view(view)[:, 0] = values[key][:, start : start + width].view(view)[
            :, 0
        ]
    return Filled(out, keep[inverse], sizes[inverse], moved[:, inverse])


# --- MCAP -------------------------------------------------------------------------------------------


def record_bytes(record: Any) -> bytes:
    """One record encoded by its ``mcap.records`` class."""
    builder = RecordBuilder()
    record.write(builder)
    return builder.end()


class BatchWriter:
    """An indexed MCAP file written chunk by chunk, each chunk handed over already encoded.

    The sequence of calls mirrors ``mcap.writer.Writer``: :meth:`start`, schemas, channels, metadata,
    attachments and chunks (:meth:`add_chunk` with the records' bytes and where each message starts,
    :meth:`add_messages` for a few ``Message`` records), then :meth:`finish`, which writes the summary.
    """

    def __init__(self, stream: IO[bytes], compression: str = "", chunk_size: int = 1 << 20) -> None:
        if compression not in ("zstd", "lz4", ""):
            raise ValueError(f"compression {compression!r}: use 'zstd', 'lz4' or ''")
        self.stream = stream
        self.compression = compression
        self.chunk_size = chunk_size
        self.position = 0
        self.schemas: list[Schema] = []
        self.channels: list[Channel] = []
        self.chunk_indexes: list[ChunkIndex] = []
        self.attachment_indexes: list[AttachmentIndex] = []
        self.metadata_indexes: list[MetadataIndex] = []
        self.statistics = Statistics(
            attachment_count=0,
            channel_count=0,
            channel_message_counts={},
            chunk_count=0,
            message_count=0,
            message_start_time=0,
            message_end_time=0,
            metadata_count=0,
            schema_count=0,
        )

    def _write(self, data: bytes) -> int:
        start = self.position
        self.stream.write(data)
        self.position += len(data)
        return start

    def start(self, profile: str = "", library: str = "clankers") -> None:
        self._write(MAGIC)
        self._write(record_bytes(Header(profile=profile, library=library)))

    def register_schema(self, name: str, encoding: str, data: bytes) -> int:
        schema = Schema(id=len(self.schemas) + 1, name=name, encoding=encoding, data=data)
        self.schemas.append(schema)
        self.statistics.schema_count += 1
        self._write(record_bytes(schema))
        return schema.id

    def register_channel(self, topic: str, message_encoding: str, schema_id: int) -> int:
        channel = Channel(
            id=len(self.channels) + 1,
            topic=topic,
            message_encoding=message_encoding,
            schema_id=schema_id,
            metadata={},
        )
        self.channels.append(channel)
        self.statistics.channel_count += 1
        self._write(record_bytes(channel))
        return channel.id

    def add_metadata(self, name: str, data: Mapping[str, str]) -> None:
        record = record_bytes(Metadata(name=name, metadata=dict(data)))
        offset = self._write(record)
        self.metadata_indexes.append(MetadataIndex(offset=offset, length=len(record), name=name))
        self.statistics.metadata_count += 1

    def add_attachment(self, name: str, media_type: str, data: bytes, log_time: int = 0) -> None:
        attachment = Attachment(create_time=0, log_time=log_time, name=name, media_type=media_type, data=data)
        record = record_bytes(attachment)
        offset = self._write(record)
        self.attachment_indexes.append(
            AttachmentIndex(
                offset=offset,
                length=len(record),
                create_time=0,
                log_time=log_time,
                data_size=len(data),
                name=name,
                media_type=media_type,
            )
        )
        self.statistics.attachment_count += 1

    def add_messages(self, messages: Iterable[Message]) -> None:
        """A chunk of a few messages (each encoded by ``mcap``'s record class)."""
        data = bytearray()
        index: dict[int, tuple[list[int], list[int]]] = {}
        for message in messages:
            times, offsets = index.setdefault(message.channel_id, ([], []))
            times.append(message.log_time)
            offsets.append(len(data))
            data += record_bytes(message)
        if data:
            self.add_chunk(
                bytes(data),
                {channel: (np.array(t), np.array(o)) for channel, (t, o) in index.items()},
            )

    def add_chunk(
        self, data: bytes | np.ndarray | Sequence[Any], index: Mapping[int, tuple[np.ndarray, np.ndarray]]
    ) -> None:
        """A chunk of message records: ``data`` (bytes, a uint8 array, or a sequence of those, one after
        another); ``index`` maps each channel with messages in it to their log times and offsets."""
        times = np.concatenate([t for t, _ in index.values()]).astype(np.uint64)
        start, end = int(times.min()), int(times.max())
        pieces = [
            memoryview(np.ascontiguousarray(piece, dtype=np.uint8))
            if isinstance(piece, np.ndarray)
            else piece
            for piece in (data if isinstance(data, (list, tuple)) else [data])
        ]
        size = sum(len(piece) for piece in pieces)
        crc = 0
        for piece in pieces:
            crc = zlib.crc32(piece, crc)
        if self.compression:
            raw = pieces[0] if len(pieces) == 1 else b"".join(pieces)
            if self.compression == "zstd":
                import zstandard

                pieces = [zstandard.ZstdCompressor().compress(raw)]
            else:
                import lz4.frame

                pieces = [lz4.frame.compress(raw)]
        stored = sum(len(piece) for piece in pieces)
        header = record_bytes(  # the chunk record without its records, then its records, written as they
            Chunk(  # are (mcap's Chunk.write would copy them twice); lengths set for the records that follow
                compression=self.compression,
                data=b"",
                message_start_time=start,
                message_end_time=end,
                uncompressed_crc=crc,
                uncompressed_size=size,
            )
        )
        header = (
            header[:1]
            + struct.pack("<Q", len(header) - 9 + stored)
            + header[9:-8]
            + struct.pack("<Q", stored)
        )
        chunk_start = self._write(header)
        for piece in pieces:
            self._write(piece)
        offsets = {}
        indexes = bytearray()
        for channel in sorted(index):
            log_times, positions = index[channel]
            entries = np.stack([np.asarray(log_times), np.asarray(positions)], axis=1).astype("<u8")
            offsets[channel] = self.position + len(indexes)
            indexes += struct.pack("<BQHI", Opcode.MESSAGE_INDEX, 6 + entries.nbytes, channel, entries.nbytes)
            indexes += entries.tobytes()
            counts = self.statistics.channel_message_counts
            counts[channel] = counts.get(channel, 0) + len(entries)
        self._write(bytes(indexes))
        self.chunk_indexes.append(
            ChunkIndex(
                message_start_time=start,
                message_end_time=end,
                chunk_start_offset=chunk_start,
                chunk_length=len(header) + stored,
                message_index_offsets=offsets,
                message_index_length=len(indexes),
                compression=self.compression,
                compressed_size=stored,
                uncompressed_size=size,
            )
        )
        stats = self.statistics
        stats.message_start_time = start if stats.message_count == 0 else min(start, stats.message_start_time)
        stats.message_end_time = max(end, stats.message_end_time)
        stats.message_count += len(times)
        stats.chunk_count += 1

    def finish(self) -> None:
        """The data end, the summary (schemas, channels, statistics, indexes, offsets) and the footer."""
        self._write(record_bytes(DataEnd(data_section_crc=0)))
        summary_start = self.position
        summary = bytearray()
        offsets = []
        groups: Sequence[tuple[int, Sequence[Any]]] = (
            (Opcode.SCHEMA, self.schemas),
            (Opcode.CHANNEL, self.channels),
            (Opcode.STATISTICS, [self.statistics]),
            (Opcode.CHUNK_INDEX, self.chunk_indexes),
            (Opcode.ATTACHMENT_INDEX, self.attachment_indexes),
            (Opcode.METADATA_INDEX, self.metadata_indexes),
        )
        for opcode, records in groups:
            if not records:
                continue
            group_start = len(summary)
            for record in records:
                summary += record_bytes(record)
            offsets.append(SummaryOffset(opcode, summary_start + group_start, len(summary) - group_start))
        offset_start = summary_start + len(summary)
        for offset in offsets:
            summary += record_bytes(offset)
        crc = zlib.crc32(bytes(summary))
        crc = zlib.crc32(struct.pack("<BQQQ", Opcode.FOOTER, 20, summary_start, offset_start), crc)
        self._write(bytes(summary))
        self._write(
            record_bytes(
                Footer(summary_start=summary_start, summary_offset_start=offset_start, summary_crc=crc)
            )
        )
        self._write(MAGIC)


__all__ = [
    "BatchWriter",
    "Column",
    "Columns",
    "Filled",
    "Present",
    "Template",
    "as_bytes",
    "fill",
    "message_bytes",
    "message_record",
    "message_template",
    "record_bytes",
    "timestamps",
    "varint",
    "varints",
]
