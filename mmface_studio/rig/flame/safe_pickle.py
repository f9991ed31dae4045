"""A restricted unpickler for FLAME model files.

FLAME 2020 (``generic_model.pkl``) and FLAME 2023 are Python 2 pickles whose
arrays are wrapped in chumpy objects (``chumpy.ch.Ch`` and, in related model
files, lazy chumpy nodes such as ``chumpy.reordering.Select``) with the joint
regressor as a ``scipy.sparse.csc.csc_matrix``; FLAME 2023 Open is a Python 3
protocol-5 pickle of numpy buffers and a ``scipy.sparse._csc.csc_matrix``.
chumpy no longer installs on current Python/numpy, and a plain
``pickle.load`` would run whatever callable a hostile file names. So every
global the file asks for goes through :meth:`FlamePickleLoader.find_class`:

* chumpy classes map to :class:`ChumpyNode` stand-ins that only *store* their
  pickled state; :func:`to_array` evaluates the few node kinds FLAME-family
  files use with plain numpy, afterwards.
* scipy sparse matrices map to :class:`SparseMatrixStub`, densified by
  :func:`to_array` straight from ``data``/``indices``/``indptr`` (no scipy
  object is ever built).
* numpy's array/dtype/scalar reconstruction functions map to small checked
  wrappers defined here, so even those cannot be called with unexpected types.
* every other global (``os.system``, ``builtins.eval``, ``subprocess.Popen``...)
  raises :class:`ForbiddenGlobalError` before anything is called.
"""

from __future__ import annotations

import io
import pickle
from collections.abc import Callable
from typing import Any, BinaryIO

import numpy as np

#: Largest array (in elements) a stand-in may densify; FLAME's biggest is 5023*3*400.
_MAX_DENSE_ELEMENTS = 50_000_000
#: Deepest chumpy expression evaluated; real files nest one or two levels.
_MAX_CHUMPY_DEPTH = 32


class ForbiddenGlobalError(pickle.UnpicklingError):
    """The pickle asked for a global (a function or class) that is not on the allow list."""

    def __init__(self, module: str, name: str) -> None:
        self.module = module
        self.name = name
        super().__init__(
            f"refused to import {module}.{name}: a FLAME model file only needs numpy arrays, "
            "chumpy arrays and scipy sparse matrices"
        )


class UnsupportedContentError(ValueError):
    """A stand-in object holds state this loader does not understand (e.g. an unknown chumpy node)."""


# --------------------------------------------------------------------------- stand-ins


class _StateHolder:
    """Base of the stand-ins: created empty, then filled by pickle's BUILD with a state dict."""

    origin: str = ""

    def __new__(cls, *args: Any, **kwargs: Any) -> _StateHolder:
        obj = object.__new__(cls)
        obj.__dict__["state"] = {}
        return obj

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def __setstate__(self, state: Any) -> None:
        # (dict, slots-dict) tuples come from classes with __slots__; FLAME never needs the slots.
        if isinstance(state, tuple) and len(state) == 2 and (state[0] is None or isinstance(state[0], dict)):
            state = state[0] or {}
        if not isinstance(state, dict):
            raise pickle.UnpicklingError(f"{self.origin} object has unexpected pickled state {type(state).__name__}")
        self.__dict__["state"] = {(k.decode("latin1") if isinstance(k, bytes) else k): v for k, v in state.items()}

    def __repr__(self) -> str:
        return f"<{self.origin} stand-in with {sorted(self.state)}>"


class ChumpyNode(_StateHolder):
    """Stand-in for a chumpy object: keeps its state (``x`` for ``Ch``; ``a``, ``b``, ... for ops)."""


class SparseMatrixStub(_StateHolder):
    """Stand-in for a scipy CSC/CSR matrix: keeps ``data``, ``indices``, ``indptr`` and the shape."""

    layout: str = "csc"


def _chumpy_class(module: str, name: str) -> type[ChumpyNode]:
    return type(name, (ChumpyNode,), {"origin": f"{module}.{name}", "__module__": __name__})


def _sparse_class(module: str, name: str, layout: str) -> type[SparseMatrixStub]:
    return type(name, (SparseMatrixStub,), {"origin": f"{module}.{name}", "layout": layout, "__module__": __name__})


# chumpy node kinds to_array can evaluate, by class name -> module paths they live in.
_CHUMPY_KINDS: dict[str, tuple[str, ...]] = {
    "Ch": ("chumpy.ch", "chumpy"),
    "Select": ("chumpy.reordering",),
    "transpose": ("chumpy.reordering",),
    "Reshape": ("chumpy.reordering",),
    "add": ("chumpy.ch_ops",),
    "subtract": ("chumpy.ch_ops",),
    "multiply": ("chumpy.ch_ops",),
}

_STANDINS: dict[tuple[str, str], type[_StateHolder]] = {}
for _name, _modules in _CHUMPY_KINDS.items():
    for _module in _modules:
        _STANDINS[(_module, _name)] = _chumpy_class(_module, _name)
for _layout in ("csc", "csr"):
    for _module in (f"scipy.sparse.{_layout}", f"scipy.sparse._{_layout}", "scipy.sparse"):
        for _kind in ("matrix", "array"):
            _STANDINS[(_module, f"{_layout}_{_kind}")] = _sparse_class(_module, f"{_layout}_{_kind}", _layout)
_STANDIN_TYPES = frozenset(_STANDINS.values())


# --------------------------------------------------------------------------- checked numpy helpers


class _NdarrayMarker:
    """What ``numpy.ndarray`` resolves to: only usable as ``_reconstruct``'s first argument.

    Handing out the real class would let a pickle call ``ndarray(shape=(10**12,))``.
    """

    def __new__(cls, *args: Any, **kwargs: Any) -> _NdarrayMarker:
        raise pickle.UnpicklingError("numpy.ndarray may only be used to rebuild a pickled array")


def _reconstruct(subtype: Any, shape: Any, dtype: Any) -> np.ndarray:
    """numpy's ``_reconstruct``: an empty array that the following BUILD fills via ``__setstate__``."""
    if subtype not in (_NdarrayMarker, np.ndarray):
        raise pickle.UnpicklingError(f"refused to rebuild an array of type {subtype!r}")
    return np.ndarray.__new__(np.ndarray, (0,), np.dtype("b"))


def _dtype(obj: Any, align: Any = False, copy: Any = False) -> np.dtype:
    if not isinstance(obj, str | bytes):
        raise pickle.UnpicklingError(f"refused dtype description of type {type(obj).__name__}")
    return np.dtype(obj.decode("latin1") if isinstance(obj, bytes) else obj, bool(align), bool(copy))


def _as_bytes(data: Any) -> bytes | bytearray | memoryview:
    # Python 2 str payloads arrive as latin-1 decoded str when loaded with encoding="latin1".
    if isinstance(data, str):
        return data.encode("latin1")
    if isinstance(data, bytes | bytearray | memoryview):
        return data
    raise pickle.UnpicklingError(f"expected raw bytes, got {type(data).__name__}")


def _scalar(dtype: Any, data: Any = None) -> Any:
    """numpy's ``scalar``: one value of ``dtype`` from its raw bytes."""
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise pickle.UnpicklingError("refused a numpy scalar of object or unknown dtype")
    raw = _as_bytes(data)
    if len(raw) != dtype.itemsize:
        raise pickle.UnpicklingError("numpy scalar has the wrong number of bytes")
    return np.frombuffer(raw, dtype=dtype, count=1)[0]


def _frombuffer(buf: Any, dtype: Any, shape: Any, order: Any) -> np.ndarray:
    """numpy's protocol-5 ``_frombuffer`` (used by FLAME 2023 Open): an array over in-band bytes."""
    if not isinstance(dtype, np.dtype) or dtype.hasobject:
        raise pickle.UnpicklingError("refused an array of object or unknown dtype")
    if isinstance(buf, pickle.PickleBuffer):
        raise pickle.UnpicklingError("the pickle expects out-of-band buffers, which a model file cannot provide")
    shape = tuple(int(s) for s in shape)
    if int(np.prod(shape, dtype=np.int64)) > _MAX_DENSE_ELEMENTS:
        raise pickle.UnpicklingError(f"array of shape {shape} is larger than any FLAME array")
    order = order.decode("latin1") if isinstance(order, bytes) else str(order)
    return np.frombuffer(_as_bytes(buf), dtype=dtype).reshape(shape, order="F" if order == "F" else "C")


def _codecs_encode(text: Any, encoding: Any = "utf-8") -> bytes:
    """``_codecs.encode`` as Python 3 writes bytes into protocol-2 pickles (latin-1 only)."""
    if not isinstance(text, str) or str(encoding).lower().replace("_", "-") not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("refused _codecs.encode other than str -> latin-1 bytes")
    return text.encode("latin1")


def _copyreg_reconstructor(cls: Any, base: Any, state: Any) -> Any:
    """``copy_reg._reconstructor`` (protocol 0/1 objects), restricted to the stand-in classes."""
    if cls not in _STANDIN_TYPES or base is not object or state is not None:
        raise pickle.UnpicklingError(f"refused copy_reg._reconstructor for {cls!r}")
    return cls.__new__(cls)


_ALLOWED: dict[tuple[str, str], Any] = {
    **_STANDINS,
    ("numpy.core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _reconstruct,
    ("numpy.core.multiarray", "scalar"): _scalar,
    ("numpy._core.multiarray", "scalar"): _scalar,
    ("numpy.core.numeric", "_frombuffer"): _frombuffer,
    ("numpy._core.numeric", "_frombuffer"): _frombuffer,
    ("numpy", "ndarray"): _NdarrayMarker,
    ("numpy", "dtype"): _dtype,
    ("copy_reg", "_reconstructor"): _copyreg_reconstructor,
    ("copyreg", "_reconstructor"): _copyreg_reconstructor,
    ("__builtin__", "object"): object,
    ("builtins", "object"): object,
    # chumpy stores its dirty-variable bookkeeping as a set.
    ("__builtin__", "set"): set,
    ("builtins", "set"): set,
    ("_codecs", "encode"): _codecs_encode,
}


class FlamePickleLoader(pickle.Unpickler):
    """Unpickler that resolves only the allow-listed globals above; nothing else can be imported."""

    def find_class(self, module: str, name: str) -> Any:
        try:
            return _ALLOWED[(module, name)]
        except KeyError:
            raise ForbiddenGlobalError(module, name) from None

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("model files never use persistent ids")


def safe_load(file: BinaryIO | bytes) -> Any:
    """Unpickle ``file`` (a binary stream or bytes) with :class:`FlamePickleLoader`.

    ``encoding="latin1"`` makes Python 2 ``str`` payloads (array bytes) round-trip byte for byte.
    """
    stream = io.BytesIO(file) if isinstance(file, bytes | bytearray) else file
    return FlamePickleLoader(stream, encoding="latin1").load()


# --------------------------------------------------------------------------- conversion to numpy


def to_array(value: Any, *, what: str = "value") -> np.ndarray:
    """Plain numpy array for a loaded value: ndarray, chumpy stand-in, sparse stand-in or list."""
    return _to_array(value, what, 0)


def _to_array(value: Any, what: str, depth: int) -> np.ndarray:
    if depth > _MAX_CHUMPY_DEPTH:
        raise UnsupportedContentError(f"{what}: chumpy expression is nested too deeply")
    if isinstance(value, np.ndarray):
        if value.dtype.hasobject:
            raise UnsupportedContentError(f"{what}: holds Python objects instead of numbers")
        return value
    if isinstance(value, SparseMatrixStub):
        return _sparse_to_dense(value, what)
    if isinstance(value, ChumpyNode):
        return _evaluate_chumpy(value, what, depth)
    if isinstance(value, list | tuple | int | float | np.generic):
        try:
            return np.asarray(value, dtype=np.float64) if not isinstance(value, np.generic) else np.asarray(value)
        except (TypeError, ValueError) as exc:
            raise UnsupportedContentError(f"{what}: is not a numeric array ({exc})") from None
    raise UnsupportedContentError(f"{what}: is a {type(value).__name__}, not an array")


_CHUMPY_EVAL: dict[str, Callable[[dict[str, Any], Callable[[Any], np.ndarray]], np.ndarray]] = {
    "Ch": lambda s, ev: ev(s["x"]),
    "Select": lambda s, ev: (
        ev(s["a"]).ravel()[np.asarray(s["idxs"], dtype=np.int64)].reshape(
            s["preferred_shape"] if s.get("preferred_shape") is not None else (-1,)
        )
    ),
    "transpose": lambda s, ev: np.transpose(ev(s["a"]), s.get("axes")),
    "Reshape": lambda s, ev: ev(s["a"]).reshape(s["newshape"]),
    "add": lambda s, ev: ev(s["a"]) + ev(s["b"]),
    "subtract": lambda s, ev: ev(s["a"]) - ev(s["b"]),
    "multiply": lambda s, ev: ev(s["a"]) * ev(s["b"]),
}


def _evaluate_chumpy(node: ChumpyNode, what: str, depth: int) -> np.ndarray:
    kind = node.origin.rsplit(".", 1)[-1]
    rule = _CHUMPY_EVAL.get(kind)
    if rule is None:  # pragma: no cover - _STANDINS and _CHUMPY_EVAL list the same kinds
        raise UnsupportedContentError(f"{what}: chumpy node {node.origin} is not supported")
    try:
        return np.asarray(rule(node.state, lambda v: _to_array(v, what, depth + 1)))
    except KeyError as exc:
        raise UnsupportedContentError(f"{what}: chumpy {node.origin} object lacks its '{exc.args[0]}' field") from None
    except (TypeError, ValueError, IndexError) as exc:
        raise UnsupportedContentError(f"{what}: could not evaluate chumpy {node.origin} ({exc})") from None


def _sparse_to_dense(stub: SparseMatrixStub, what: str) -> np.ndarray:
    """Dense copy of a CSC/CSR matrix from its stored arrays (duplicates are summed, as scipy does)."""
    state = stub.state
    try:
        data = _to_array(state["data"], what, 1)
        indices = _to_array(state["indices"], what, 1).astype(np.int64)
        indptr = _to_array(state["indptr"], what, 1).astype(np.int64)
        raw_shape = state.get("_shape", state.get("shape"))
        rows, cols = (int(n) for n in raw_shape)
    except (KeyError, TypeError, ValueError) as exc:
        raise UnsupportedContentError(f"{what}: sparse matrix is incomplete ({exc})") from None
    if rows < 0 or cols < 0 or rows * cols > _MAX_DENSE_ELEMENTS:
        raise UnsupportedContentError(f"{what}: sparse matrix shape {(rows, cols)} is implausible")
    major, minor = (cols, rows) if stub.layout == "csc" else (rows, cols)
    nnz = len(data)
    if (indptr.shape != (major + 1,) or len(indices) != nnz or indptr[0] != 0 or indptr[-1] != nnz
            or np.any(np.diff(indptr) < 0) or (nnz and (indices.min() < 0 or indices.max() >= minor))):
        raise UnsupportedContentError(f"{what}: sparse matrix arrays are inconsistent")
    dense = np.zeros((rows, cols), dtype=np.result_type(data.dtype, np.float32))
    outer = np.repeat(np.arange(major), np.diff(indptr))
    if stub.layout == "csc":
        np.add.at(dense, (indices, outer), data)
    else:
        np.add.at(dense, (outer, indices), data)
    return dense
