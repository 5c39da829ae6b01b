"""Input validation shared by the Python layer: arrays, sparse matrices and operators to ``Op``."""

import numbers

import numpy as np

from . import _linops

Op = _linops.Op

_BACKENDS = ("auto", "cpu", "gpu")


def check_backend(backend):
    if backend not in _BACKENDS:
        raise ValueError(f"backend must be one of {_BACKENDS}, got {backend!r}")
    return backend


def _is_sparse(a):
    try:
        import scipy.sparse as sp
    except ImportError:  # pragma: no cover - scipy is optional
        return False
    return sp.issparse(a)


def as_float_array(a, name, ndim=2):
    """``a`` as a float32/float64 NumPy array, copying only when the dtype needs a conversion.

    float32 and float64 arrays pass through untouched, in any memory order (the Rust side reads
    them in place through their strides); integer and boolean arrays become float64.
    """
    arr = np.asarray(a)
    if arr.dtype == object or np.issubdtype(arr.dtype, np.complexfloating):
        raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
    if arr.dtype not in (np.float32, np.float64):
        if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
            raise TypeError(f"{name} must hold real numbers, got dtype {arr.dtype}")
        arr = arr.astype(np.float64)
    if arr.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got an array of shape {arr.shape}")
    # An unaligned buffer (e.g. unpickled from a byte stream) is the one layout Rust cannot read
    # in place: copy it then, and only then.
    return np.require(arr, requirements="A")


def as_op(a, name="A"):
    """``(op, dtype)``: a linops ``Op`` for a NumPy array, a SciPy sparse matrix or an ``Op``,
    and the precision its data came in (``"float32"``/``"float64"``)."""
    if isinstance(a, Op):
        return a, "float64"
    if _is_sparse(a):
        csr = a.tocsr()
        if not csr.has_canonical_format:
            csr = csr.copy()
            csr.sum_duplicates()
        if np.issubdtype(csr.dtype, np.complexfloating):
            raise TypeError(f"{name} must hold real numbers, got dtype {csr.dtype}")
        dtype = "float32" if csr.dtype == np.float32 else "float64"
        op = Op.csr(
            csr.shape,
            np.require(csr.indptr, dtype=np.int64, requirements="A"),
            np.require(csr.indices, dtype=np.int64, requirements="A"),
            np.require(csr.data, dtype=np.float64, requirements="A"),
        )
        return op, dtype
    if hasattr(a, "shape") and not hasattr(a, "__array__") and hasattr(a, "matvec"):
        raise TypeError(
            f"{name}: a LinearOperator cannot be given to linops (it runs in Python); build a "
            "linops.Op instead"
        )
    arr = as_float_array(a, name)
    return Op.dense(arr), str(arr.dtype)


def seed_from(random_state, name="random_state"):
    """A 64-bit seed for linops' Philox streams from scikit-learn's ``random_state`` values."""
    if random_state is None:
        return int(np.random.randint(0, 2**63 - 1, dtype=np.int64))  # the global RandomState
    if isinstance(random_state, (bool, np.bool_)):
        raise TypeError(f"{name} must be None, an int or a numpy RandomState/Generator, got a bool")
    if isinstance(random_state, numbers.Integral):
        seed = int(random_state)
        if not 0 <= seed < 2**64:
            raise ValueError(f"{name} must be in [0, 2**64), got {seed}")
        return seed
    if isinstance(random_state, np.random.RandomState):
        return int(random_state.randint(0, 2**63 - 1, dtype=np.int64))
    if isinstance(random_state, np.random.Generator):
        return int(random_state.integers(0, 2**63 - 1))
    raise TypeError(
        f"{name} must be None, an int or a numpy RandomState/Generator, got "
        f"{type(random_state).__name__}"
    )


def check_int(value, name, minimum=0):
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an int, got {type(value).__name__} {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)
