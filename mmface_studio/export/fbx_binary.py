"""A small generic writer for the binary FBX container: a tree of :class:`Node` -> bytes.

There is no maintained open FBX writer on PyPI, and the binary layout is simple and publicly
documented (Blender's 2013 specification): a 27-byte header, then node records (end offset,
property count, property bytes, name, properties, nested nodes closed by a null record), a
null record closing the top level, and a fixed footer. From version 7500 on, the three record
header fields are 64-bit. Besides the encoder this module holds FBX's generic conventions
(``Properties70`` records, ``KTime``, Euler XYZ, matrix layout, geometry layers, the top-level
document sections); it knows nothing about heads or rigs: ``fbx.py`` builds the scene.

Property values are typed by their Python type: ``bool`` -> C, ``int`` -> I (int32), ``float``
-> D, ``str`` -> S, ``bytes`` -> R, :class:`Int16` -> Y, :class:`Int64` -> L, :class:`Float32`
-> F, and numpy arrays by dtype (float64 d, float32 f, int64 l, int32 i, bool b). Arrays are
written from the numpy buffer in one piece (no per-element Python work) and zlib-compressed
when large, which is what keeps a one-minute export well under a second.
"""

from __future__ import annotations

import struct
import time as _time
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: File magic: "Kaydara FBX Binary", two spaces, NUL, then 0x1A 0x00.
MAGIC = b"Kaydara FBX Binary  \x00\x1a\x00"
#: The footer's 16-byte code is derived from the header's ``CreationTime``; this pair (the Unix-epoch
#: time with its code and a matching ``FileId``) is what open writers use so the FBX SDK accepts the file.
CREATION_TIME = "1970-01-01 10:00:00:000"
FILE_ID = bytes.fromhex("28b32aebb624ccc2bfc8b02aa92bfcf1")
FOOTER_ID = bytes.fromhex("fabcab09d0c8d466b176fb831cf7267e")
FOOTER_MAGIC = bytes.fromhex("f85a8c6adef5d97eece90ce3758f290b")
#: FBX's time unit: ticks per second of a ``KTime`` value.
KTIME_PER_SECOND = 46_186_158_000

SUPPORTED_VERSIONS = (7400, 7500)
#: FBX ``TimeMode`` values of the standard frame rates; any other rate is "custom" (14) + ``CustomFrameRate``.
TIME_MODES = {120.0: 1, 100.0: 2, 60.0: 3, 50.0: 4, 48.0: 5, 30.0: 6, 30000 / 1001: 9, 25.0: 10, 24.0: 11,
              1000.0: 12, 24000 / 1001: 13, 96.0: 15, 72.0: 16, 60000 / 1001: 17}
TIME_MODE_CUSTOM = 14
#: Arrays smaller than this are stored raw: zlib's header and checksum would outweigh the gain.
COMPRESS_MIN_BYTES = 128

_ARRAY_CODES = {
    np.dtype("<f8"): b"d", np.dtype("<f4"): b"f", np.dtype("<i8"): b"l", np.dtype("<i4"): b"i", np.dtype("bool"): b"b",
}
_INT32 = struct.Struct("<i")
_ARRAY_HEAD = struct.Struct("<III")


class Int16(int):
    """An integer stored as FBX type Y (int16)."""


class Int64(int):
    """An integer stored as FBX type L (int64): object ids, KTime values."""


class Float32(float):
    """A float stored as FBX type F (float32)."""


@dataclass
class Node:
    """One FBX node record: a name, typed property values and nested nodes.

    ``block`` forces the closing null record even when the node has no children (some readers expect
    it on empty object bodies); a node with children, or with no properties, always gets one.
    """

    name: str
    props: list[Any] = field(default_factory=list)
    children: list[Node] = field(default_factory=list)
    block: bool = False

    def add(self, name: str, *props: Any) -> Node:
        """Append and return a child node."""
        child = Node(name, list(props))
        self.children.append(child)
        return child


def name_class(name: str, cls: str) -> str:
    """The binary form of an object's ``Class::Name`` string: name, NUL, 0x01, class."""
    return f"{name}\x00\x01{cls}"


# --- Properties70 helpers (generic FBX property records) ----------------------------------------------


def p70(parent: Node, name: str, type_name: str, label: str, flags: str, *values: Any) -> Node:
    """One ``P:`` record of a ``Properties70`` block (name, type, label, flags, values)."""
    return parent.add("P", name, type_name, label, flags, *values)


def p_int(parent: Node, name: str, value: int) -> Node:
    return p70(parent, name, "int", "Integer", "", int(value))


def p_enum(parent: Node, name: str, value: int) -> Node:
    return p70(parent, name, "enum", "", "", int(value))


def p_double(parent: Node, name: str, value: float) -> Node:
    return p70(parent, name, "double", "Number", "", float(value))


def p_time(parent: Node, name: str, ticks: int) -> Node:
    return p70(parent, name, "KTime", "Time", "", Int64(ticks))


def p_string(parent: Node, name: str, value: str) -> Node:
    return p70(parent, name, "KString", "", "", value)


def p_vector(parent: Node, name: str, type_name: str, values: Iterable[float], flags: str = "A") -> Node:
    """A three-double property: ``Lcl Translation``, ``Lcl Rotation``, ``Lcl Scaling``, ``Color``..."""
    x, y, z = (float(v) for v in values)
    return p70(parent, name, type_name, "", flags, x, y, z)


# --- FBX conventions: rotations, matrices, geometry layers ---------------------------------------------


def euler_xyz_degrees(rotations: np.ndarray) -> np.ndarray:
    """Rotation matrices (..., 3, 3) -> FBX ``eEulerXYZ`` angles in degrees (R = Rz @ Ry @ Rx)."""
    r = np.asarray(rotations, dtype=np.float64)
    x = np.arctan2(r[..., 2, 1], r[..., 2, 2])
    y = np.arctan2(-r[..., 2, 0], np.hypot(r[..., 0, 0], r[..., 1, 0]))
    z = np.arctan2(r[..., 1, 0], r[..., 0, 0])
    return np.degrees(np.stack([x, y, z], axis=-1))


def layer_element(geometry: Node, kind: str, name: str, mapping: str, reference: str, **arrays: np.ndarray) -> None:
    """A geometry layer element (normals, UVs, materials): how its arrays map onto the mesh, then the arrays."""
    layer = geometry.add(kind, 0)
    for key, value in (("Version", 101), ("Name", name), ("MappingInformationType", mapping),
                       ("ReferenceInformationType", reference), *arrays.items()):
        layer.add(key, value)


def translation_matrix(t: np.ndarray) -> np.ndarray:
    """FBX stores 4x4 matrices with the translation in elements 12..14."""
    m = np.eye(4)
    m[3, :3] = t
    return m.ravel()


# --- Encoding ------------------------------------------------------------------------------------------


class _Encoder:
    """Appends node records to one bytearray and patches each record's header once its end is known."""

    def __init__(self, version: int, level: int) -> None:
        self.out = bytearray(MAGIC)
        self.out += struct.pack("<I", version)
        self.head = struct.Struct("<QQQ" if version >= 7500 else "<III")
        self.null = bytes(self.head.size + 1)
        self.level = level

    def node(self, node: Node, after_child: Callable[[], None] | None = None) -> None:
        out = self.out
        start = len(out)
        name = node.name.encode("ascii")
        if len(name) > 255:
            raise ValueError(f"FBX node names are at most 255 bytes: {node.name[:40]!r}...")
        out += bytes(self.head.size)
        out.append(len(name))
        out += name
        props_start = len(out)
        for value in node.props:
            self.prop(value)
        props_len = len(out) - props_start
        if node.children or not node.props or node.block:
            for child in node.children:
                self.node(child)
                if after_child is not None:
                    after_child()
            out += self.null
        self.head.pack_into(out, start, len(out), len(node.props), props_len)

    def prop(self, value: Any) -> None:
        out = self.out
        if isinstance(value, np.ndarray):
            self.array(value)
        elif isinstance(value, bool | np.bool_):
            out += b"C\x01" if value else b"C\x00"
        elif isinstance(value, Int16):
            out += b"Y" + struct.pack("<h", value)
        elif isinstance(value, Int64):
            out += b"L" + struct.pack("<q", value)
        elif isinstance(value, int | np.integer):
            out += b"I" + _INT32.pack(int(value))
        elif isinstance(value, Float32):
            out += b"F" + struct.pack("<f", value)
        elif isinstance(value, float | np.floating):
            out += b"D" + struct.pack("<d", float(value))
        elif isinstance(value, str):
            data = value.encode("utf-8")
            out += b"S" + _INT32.pack(len(data)) + data
        elif isinstance(value, bytes | bytearray):
            out += b"R" + _INT32.pack(len(value)) + value
        else:
            raise TypeError(f"No FBX property type for {type(value).__name__}.")

    def array(self, values: np.ndarray) -> None:
        dtype = values.dtype.newbyteorder("<") if values.dtype.byteorder == ">" else values.dtype
        code = _ARRAY_CODES.get(np.dtype(dtype))
        if code is None:
            raise TypeError(f"No FBX array type for dtype {values.dtype} (use float64/32, int64/32 or bool).")
        raw = np.ascontiguousarray(values, dtype=dtype).tobytes()
        encoding = 0
        if len(raw) >= COMPRESS_MIN_BYTES and self.level > 0:
            raw, encoding = zlib.compress(raw, self.level), 1
        self.out += code + _ARRAY_HEAD.pack(values.size, encoding, len(raw))
        self.out += raw

    def footer(self, version: int) -> bytes:
        out = self.out
        out += self.null
        out += FOOTER_ID + bytes(4)
        pad = -len(out) % 16
        out += bytes(pad or 16)
        out += struct.pack("<I", version) + bytes(120) + FOOTER_MAGIC
        return bytes(out)


def encode(nodes: list[Node], version: int = 7400, level: int = 1,
           on_node: Callable[[int, int], None] | None = None) -> bytes:
    """The complete binary FBX file for a list of top-level nodes.

    ``level`` is the zlib level for large arrays (0 stores them raw). ``on_node(done, total)`` is
    called after each second-level node (each object, each connection...), so a caller can report
    progress and raise to cancel between them.
    """
    if version not in SUPPORTED_VERSIONS:
        raise ValueError(f"FBX version must be one of {SUPPORTED_VERSIONS}, got {version}.")
    enc = _Encoder(version, level)
    total = sum(len(n.children) for n in nodes)
    done = 0

    def step() -> None:
        nonlocal done
        done += 1
        if on_node is not None:
            on_node(done, total)

    for top in nodes:
        enc.node(top, step)
    return enc.footer(version)


def ktime(seconds: np.ndarray | float) -> np.ndarray:
    """Seconds -> FBX ticks (int64), rounded to the nearest tick."""
    return np.rint(np.asarray(seconds, dtype=np.float64) * KTIME_PER_SECOND).astype(np.int64)


def time_mode(fps: float) -> int:
    """The ``TimeMode`` enum for a frame rate (custom when it is not one of FBX's standard rates)."""
    return next((mode for rate, mode in TIME_MODES.items() if abs(rate - fps) < 1e-6 * fps), TIME_MODE_CUSTOM)


# --- Document scaffolding: the top-level sections around Objects and Connections -----------------------


def document(objects: Node, connections: Node, *, version: int, creator: str, axes: tuple[int, ...],
             unit_cm: float, fps: float, span: tuple[float, float], take: str) -> list[Node]:
    """Every top-level node of a file with one scene and one take, in the order the FBX SDK writes them.

    ``axes``: (UpAxis, UpAxisSign, FrontAxis, FrontAxisSign, CoordAxis, CoordAxisSign). ``unit_cm``:
    centimetres per file unit (FBX's ``UnitScaleFactor``). ``span``: first and last time in seconds.
    ``Definitions`` is derived from ``objects`` (object counts per type, no property templates: every
    property the scene relies on is written on the objects themselves).
    """
    now = _time.localtime()
    header = Node("FBXHeaderExtension")
    header.add("FBXHeaderVersion", 1003)
    header.add("FBXVersion", version)
    header.add("EncryptionType", 0)
    stamp = header.add("CreationTimeStamp")
    stamp.add("Version", 1000)
    for key, value in (("Year", now.tm_year), ("Month", now.tm_mon), ("Day", now.tm_mday), ("Hour", now.tm_hour),
                       ("Minute", now.tm_min), ("Second", now.tm_sec), ("Millisecond", 0)):
        stamp.add(key, value)
    header.add("Creator", creator)
    start, stop = (int(t) for t in ktime(np.array(span)))

    settings = Node("GlobalSettings")
    settings.add("Version", 1000)
    props = settings.add("Properties70")
    names = ("UpAxis", "UpAxisSign", "FrontAxis", "FrontAxisSign", "CoordAxis", "CoordAxisSign",
             "OriginalUpAxis", "OriginalUpAxisSign")
    for name, value in zip(names, tuple(axes) + tuple(axes[:2]), strict=True):
        p_int(props, name, value)
    p_double(props, "UnitScaleFactor", unit_cm)
    p_double(props, "OriginalUnitScaleFactor", unit_cm)
    p_vector(props, "AmbientColor", "ColorRGB", (0, 0, 0), flags="")
    p_string(props, "DefaultCamera", "Producer Perspective")
    p_enum(props, "TimeMode", time_mode(fps))
    p_enum(props, "TimeProtocol", 2)
    p_enum(props, "SnapOnFrameMode", 0)
    p_time(props, "TimeSpanStart", start)
    p_time(props, "TimeSpanStop", stop)
    p_double(props, "CustomFrameRate", fps)

    documents = Node("Documents")
    documents.add("Count", 1)
    doc = documents.add("Document", Int64(1), "Scene", "Scene")
    props = doc.add("Properties70")
    p70(props, "SourceObject", "object", "", "")
    p_string(props, "ActiveAnimStackName", take)
    doc.add("RootNode", Int64(0))

    counts: dict[str, int] = {"GlobalSettings": 1}
    for node in objects.children:
        counts[node.name] = counts.get(node.name, 0) + 1
    definitions = Node("Definitions")
    definitions.add("Version", 100)
    definitions.add("Count", sum(counts.values()))
    for name, count in counts.items():
        definitions.add("ObjectType", name).add("Count", count)

    takes = Node("Takes")
    takes.add("Current", take)
    entry = takes.add("Take", take)
    entry.add("FileName", take.replace(" ", "_") + ".tak")
    entry.add("LocalTime", Int64(start), Int64(stop))
    entry.add("ReferenceTime", Int64(start), Int64(stop))
    return [header, Node("FileId", [FILE_ID]), Node("CreationTime", [CREATION_TIME]), Node("Creator", [creator]),
            settings, documents, Node("References"), definitions, objects, connections, takes]
