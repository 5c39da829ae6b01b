"""NumPy in and out: dtypes, memory orders, zero-copy reads, owned results, errors."""

import numpy as np
import pytest

import linops
from linops import Op

# Rounding bound for one product A·X in precision u: |fl(A·X) − A·X| ≤ γ_n·|A|·|X| with
# γ_n = n·u/(1 − n·u) (Higham, Thm. 3.5); we test against 2·n·u·(|A|·|X|).


def bound(a, x, dtype):
    u = np.finfo(dtype).eps / 2
    return 2 * a.shape[1] * u * (np.abs(a) @ np.abs(x)) + np.finfo(dtype).tiny


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("order", ["C", "F"])
def test_matmat_round_trip_every_dtype_and_order(rng, dtype, order):
    a = rng.standard_normal((37, 23))
    x = np.asarray(rng.standard_normal((23, 5)), dtype=dtype, order=order)
    y = Op.dense(a).matmat(x, backend="cpu")
    assert y.dtype == dtype and y.shape == (37, 5)
    ref = a @ x.astype(np.float64)
    assert np.all(np.abs(y - ref) <= bound(a, x.astype(np.float64), dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_strided_and_negative_stride_views_are_read_in_place(rng, dtype):
    base = np.asarray(rng.standard_normal((40, 30)), dtype=dtype)
    for view in (base[::2, 1::3], base[::-1, :], base[:, ::-1].T, base.T):
        ptr, rs, cs = linops._linops.view_address(view)
        assert ptr == view.__array_interface__["data"][0]
        item = view.itemsize
        assert (rs * item, cs * item) == view.strides
        a = rng.standard_normal((7, view.shape[0]))
        y = Op.dense(a).matmat(view, backend="cpu")
        np.testing.assert_allclose(y, a @ view.astype(np.float64), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("order", ["C", "F"])
def test_zero_copy_address_is_numpys_buffer(dtype, order):
    x = np.ones((1000, 300), dtype=dtype, order=order)
    ptr, rs, cs = linops._linops.view_address(x)
    assert ptr == x.ctypes.data
    assert (rs, cs) == (300, 1) if order == "C" else (rs, cs) == (1, 1000)


def test_conversion_allocates_no_copy_of_the_input():
    """tracemalloc sees NumPy's allocations: reading a 64 MB float64 array into linops must not
    allocate another array of its size on the Python side (the only allocations are linops'
    own, in Rust, and the small result)."""
    import tracemalloc

    x = np.ones((4096, 2048))  # 64 MiB
    op = Op.diagonal(np.ones(4096))
    tracemalloc.start()
    try:
        y = op.matmat(x[:, :2], backend="cpu")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert y.shape == (4096, 2)
    assert peak < x.nbytes // 100, f"peak Python-side allocation {peak} bytes"


def test_results_own_their_memory(rng):
    y = Op.identity(5).matmat(rng.standard_normal((5, 3)), backend="cpu")
    assert y.flags.owndata and y.base is None and y.flags.f_contiguous
    y[0, 0] = 42.0  # writable


def test_integer_and_bool_inputs_are_converted(rng):
    a = np.arange(12).reshape(4, 3)
    op = Op.dense(a.astype(np.float64))
    U, s, Vt = linops.randomized_svd(a, 1, random_state=0)
    assert U.dtype == np.float64
    np.testing.assert_allclose(s[0], np.linalg.svd(a.astype(float), compute_uv=False)[0])
    assert op.shape == (4, 3)


@pytest.mark.parametrize(
    "bad, exc",
    [
        (np.ones((3, 3), dtype=complex), TypeError),
        (np.array([["a", "b"]], dtype=object), TypeError),
        (np.ones(5), ValueError),
        (np.ones((2, 2, 2)), ValueError),
    ],
)
def test_bad_arrays_raise(bad, exc):
    with pytest.raises(exc):
        linops.randomized_svd(bad, 1)


def test_linops_errors_are_value_errors_with_linops_message():
    with pytest.raises(ValueError, match="shape|rows|3"):
        Op.diagonal(np.ones(2)).matmat(np.ones((3, 1)), backend="cpu")
    with pytest.raises(ValueError, match="NaN|non-finite|finite"):
        Op.dense(np.array([[1.0, np.nan]]))
    with pytest.raises(ValueError, match="backend"):
        Op.identity(2).matmat(np.ones((2, 1)), backend="tpu")
    with pytest.raises(ValueError):
        Op.permutation(np.array([0, 0, 1]))
    with pytest.raises(ValueError, match="nonnegative"):
        Op.permutation(np.array([0, -1]))


def test_scipy_linear_operator_and_solver(rng):
    sla = pytest.importorskip("scipy.sparse.linalg")
    n = 60
    a = rng.standard_normal((n, n))
    spd = a @ a.T + n * np.eye(n)
    op = Op.dense(spd)
    lo = sla.aslinearoperator(op)
    x = rng.standard_normal(n)
    np.testing.assert_allclose(lo.matvec(x), spd @ x, rtol=1e-12, atol=1e-10)
    np.testing.assert_allclose(lo.rmatvec(x), spd.T @ x, rtol=1e-12, atol=1e-10)
    b = rng.standard_normal(n)
    sol, info = sla.cg(op, b, rtol=1e-10, atol=0.0)
    assert info == 0
    assert np.linalg.norm(spd @ sol - b) <= 1e-8 * np.linalg.norm(b)
    lo2 = linops.aslinearoperator(op)
    X = rng.standard_normal((n, 3))
    np.testing.assert_allclose(lo2.matmat(X), spd @ X, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(op @ X, spd @ X, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(op @ x, spd @ x, rtol=1e-12, atol=1e-9)


def test_sparse_and_structured_operators_match_dense(rng):
    sp = pytest.importorskip("scipy.sparse")
    s = sp.random(50, 40, density=0.1, random_state=1, format="csr")
    op, _ = linops._inputs.as_op(s)
    x = rng.standard_normal((40, 3))
    np.testing.assert_allclose(op.matmat(x, backend="cpu"), s @ x, rtol=1e-12, atol=1e-12)
    coo = s.tocoo()  # non-CSR and duplicates are canonicalized
    dup = sp.coo_matrix(
        (np.r_[coo.data, 1.0], (np.r_[coo.row, 0], np.r_[coo.col, 0])), shape=s.shape
    )
    op2, _ = linops._inputs.as_op(dup)
    np.testing.assert_allclose(op2.to_dense(), dup.toarray(), rtol=0, atol=1e-15)
    h = Op.hadamard(8).to_dense()
    np.testing.assert_allclose(h @ h.T, np.eye(8), atol=1e-14)
    k = Op.kronecker([Op.dense(np.eye(2) * 2), Op.diagonal(np.array([1.0, 3.0]))]).to_dense()
    np.testing.assert_allclose(k, np.kron(np.eye(2) * 2, np.diag([1.0, 3.0])))
    p = Op.product([Op.diagonal(np.array([1.0, 2.0])), Op.dense(np.ones((2, 3)))])
    assert p.shape == (2, 3) and p.T.shape == (3, 2)
    np.testing.assert_allclose(p.to_dense(), [[1, 1, 1], [2, 2, 2]])
    assert "dense" in repr(p) or "diag" in repr(p)


def test_gil_is_released_during_compute(rng):
    """A Python thread keeps running while one linops call computes: with the GIL held it could
    not tick at all during the call (one call, no interpreter boundaries inside it)."""
    import threading
    import time

    a = rng.standard_normal((1500, 1500))
    op = Op.dense(a)
    x = rng.standard_normal((1500, 600))
    ticks = []
    done = threading.Event()

    def ticker():
        while not done.is_set():
            ticks.append(time.perf_counter())
            time.sleep(0.001)

    t = threading.Thread(target=ticker)
    t.start()
    t0 = time.perf_counter()
    op.matmat(x, backend="cpu")
    t1 = time.perf_counter()
    done.set()
    t.join()
    during = [s for s in ticks if t0 < s < t1]
    # With the GIL held the ticker could not run at all during the products.
    assert len(during) >= 10, f"ticker ran {len(during)} times during {t1 - t0:.3f} s of compute"


def gpu_or_skip():
    """The GPU engine's name, or a visible skip (a failure under LINOPS_REQUIRE_GPU=1)."""
    import os

    try:
        return linops.backend_info("gpu", "float32")
    except RuntimeError as e:
        if os.environ.get("LINOPS_REQUIRE_GPU") == "1":
            raise
        pytest.skip(f"no GPU adapter: {e}")


def test_gpu_backend_matches_cpu(rng):
    name, device = gpu_or_skip()
    assert name == "gpu", device
    a = rng.standard_normal((65, 33))
    x = rng.standard_normal((33, 4)).astype(np.float32)
    op = linops.Op.product([linops.Op.diagonal(np.linspace(1, 2, 65)), linops.Op.dense(a)])
    y_gpu = op.matmat(x, backend="gpu")
    y_cpu = op.matmat(x.astype(np.float64), backend="cpu")
    assert y_gpu.dtype == np.float32
    # f32 on both factors: 2·(n + 2)·u·(|D||A||X|) with n = 33 (Higham Thm. 3.5, twice).
    mag = np.abs(op.to_dense()) @ np.abs(x.astype(np.float64))
    assert np.all(np.abs(y_gpu - y_cpu) <= 2 * 35 * np.finfo(np.float32).eps / 2 * mag + 1e-30)
    with pytest.raises(ValueError, match="f32|float32|f64"):
        op.matmat(x.astype(np.float64), backend="gpu")
    U, s, Vt = linops.randomized_svd(a.astype(np.float32), 3, random_state=0, backend="gpu")
    assert U.dtype == np.float32
    exact = np.linalg.svd(a, compute_uv=False)[:3]
    np.testing.assert_allclose(s, exact, rtol=0.05)  # 7 power passes in f32 on a flat spectrum


def test_unaligned_arrays_are_refused_by_rust_and_copied_by_python(rng):
    raw = np.zeros(8 * 20 + 1, dtype=np.uint8)
    x = np.frombuffer(raw.data, dtype=np.float64, count=20, offset=1).reshape(4, 5)
    assert not x.flags.aligned
    x[...] = rng.standard_normal((4, 5))
    with pytest.raises(ValueError, match="aligned"):
        linops._linops.view_address(x)
    with pytest.raises(ValueError, match="aligned"):
        Op.identity(4).matmat(x, backend="cpu")
    # The Python layer copies it (the one layout that needs a copy) and goes on.
    U, s, Vt = linops.randomized_svd(x, 1, random_state=0)
    np.testing.assert_allclose(s[0], np.linalg.svd(x, compute_uv=False)[0], rtol=1e-10)
