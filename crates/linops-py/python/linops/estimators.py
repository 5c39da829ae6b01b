"""Estimators with scikit-learn's conventions: the constructor only stores its parameters,
``fit`` returns ``self``, learned attributes end in ``_``, ``get_params``/``set_params`` work
(so ``sklearn.base.clone`` and pipelines accept them)."""

import inspect
import math
import numbers

import numpy as np

from . import _linops
from ._inputs import _is_sparse, as_float_array, as_op, check_backend, check_int, seed_from
from ._svd import _flip_by_u


class _Params:
    """``get_params``/``set_params`` from the constructor's signature (scikit-learn's rule)."""

    @classmethod
    def _param_names(cls):
        sig = inspect.signature(cls.__init__)
        return sorted(p for p in sig.parameters if p != "self")

    def get_params(self, deep=True):
        return {name: getattr(self, name) for name in self._param_names()}

    def set_params(self, **params):
        valid = self._param_names()
        for key, value in params.items():
            if key not in valid:
                raise ValueError(
                    f"invalid parameter {key!r} for estimator {type(self).__name__}; valid "
                    f"parameters: {valid}"
                )
            setattr(self, key, value)
        return self

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    def fit_transform(self, X, y=None):
        return self.fit(X, y).transform(X)

    def _check_fitted(self, attr):
        if not hasattr(self, attr):
            raise _not_fitted(self)

    def _check_features(self, X):
        n = X.shape[1] if X.ndim == 2 else None
        if n != self.n_features_in_:
            raise ValueError(
                f"X has {n} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input"
            )


def _not_fitted(est):
    try:
        from sklearn.exceptions import NotFittedError
    except ImportError:  # pragma: no cover - scikit-learn is optional
        NotFittedError = ValueError  # noqa: N806
    return NotFittedError(
        f"This {type(est).__name__} instance is not fitted yet. Call 'fit' with appropriate "
        "arguments before using this estimator."
    )


def _data(X):
    """A SciPy sparse matrix as is, anything else as a float32/float64 2-D array."""
    return X if _is_sparse(X) else as_float_array(X, "X")


class TruncatedSVD(_Params):
    """Dimensionality reduction by a truncated randomized SVD (no centering), as
    ``sklearn.decomposition.TruncatedSVD(algorithm="randomized")``; accepts dense and sparse X.

    Fitted attributes: ``components_`` (``k×n_features``), ``explained_variance_``,
    ``explained_variance_ratio_``, ``singular_values_``, ``n_features_in_``.
    """

    def __init__(
        self,
        n_components=2,
        *,
        n_iter=5,
        n_oversamples=10,
        power_iteration_normalizer="auto",
        random_state=None,
        backend="auto",
    ):
        self.n_components = n_components
        self.n_iter = n_iter
        self.n_oversamples = n_oversamples
        self.power_iteration_normalizer = power_iteration_normalizer
        self.random_state = random_state
        self.backend = backend

    def fit(self, X, y=None):
        self.fit_transform(X)
        return self

    def fit_transform(self, X, y=None):
        from ._svd import randomized_svd

        X = _data(X)
        U, s, Vt = randomized_svd(
            X,
            self.n_components,
            n_oversamples=self.n_oversamples,
            n_iter=self.n_iter,
            power_iteration_normalizer=self.power_iteration_normalizer,
            flip_sign=False,
            random_state=self.random_state,
            backend=self.backend,
        )
        # scikit-learn's TruncatedSVD flips by the rows of Vt (u_based_decision=False).
        Vt, U = _flip_by_u(Vt.T.copy(), U.T.copy())
        U, Vt = U.T, Vt.T
        Xt = U * s
        self.components_ = Vt
        self.singular_values_ = s
        self.n_features_in_ = X.shape[1]
        self.explained_variance_ = np.var(Xt, axis=0)
        if _is_sparse(X):
            sq = X.multiply(X).mean(axis=0)
            mean = np.asarray(X.mean(axis=0))
            full_var = float(np.asarray(sq).sum() - (mean**2).sum())
        else:
            full_var = float(np.var(X, axis=0).sum())
        self.explained_variance_ratio_ = self.explained_variance_ / full_var
        return Xt

    def transform(self, X):
        self._check_fitted("components_")
        X = _data(X)
        self._check_features(X)
        return np.asarray(X @ self.components_.T)

    def inverse_transform(self, X):
        self._check_fitted("components_")
        return np.asarray(X) @ self.components_


class PCA(_Params):
    """Principal component analysis by a randomized SVD of the centered data, as
    ``sklearn.decomposition.PCA(svd_solver="randomized")``. The centering is implicit: linops
    applies ``X − 1·meanᵀ`` as a sum of ``X`` and a rank-one operator, so neither a centered
    copy of ``X`` is made nor sparse input densified.

    Fitted attributes: ``components_``, ``explained_variance_``, ``explained_variance_ratio_``,
    ``singular_values_``, ``mean_``, ``noise_variance_``, ``n_components_``, ``n_samples_``,
    ``n_features_in_``.
    """

    def __init__(
        self,
        n_components=None,
        *,
        whiten=False,
        iterated_power="auto",
        n_oversamples=10,
        power_iteration_normalizer="auto",
        random_state=None,
        backend="auto",
    ):
        self.n_components = n_components
        self.whiten = whiten
        self.iterated_power = iterated_power
        self.n_oversamples = n_oversamples
        self.power_iteration_normalizer = power_iteration_normalizer
        self.random_state = random_state
        self.backend = backend

    def fit(self, X, y=None):
        self._fit(X)
        return self

    def fit_transform(self, X, y=None):
        U, s = self._fit(X)
        Xt = U * s
        if self.whiten:
            Xt /= np.sqrt(self.explained_variance_)
        return Xt

    def _fit(self, X):
        from ._svd import randomized_svd

        X = _data(X)
        n_samples, n_features = X.shape
        k = self.n_components
        if k is None:
            k = min(n_samples, n_features)
        if isinstance(k, (bool, np.bool_)) or not isinstance(k, numbers.Integral):
            raise ValueError(
                f"n_components must be an int in [1, min(n_samples, n_features)] = "
                f"[1, {min(n_samples, n_features)}] for the randomized solver, got {k!r}"
            )
        if not 1 <= k <= min(n_samples, n_features):
            raise ValueError(
                f"n_components={k} must be between 1 and min(n_samples, n_features)="
                f"{min(n_samples, n_features)} with svd_solver='randomized'"
            )
        mean = np.asarray(X.mean(axis=0), dtype=np.float64).ravel()
        op, dtype = as_op(X, "X")
        # X − 1·meanᵀ, never formed: the rank-one term is U·diag(s)·Vᵀ with U = 1, s = −1.
        center = _linops.Op.low_rank(
            np.ones((n_samples, 1)), np.array([-1.0]), mean.reshape(-1, 1)
        )
        centered = _linops.Op.sum([op, center])
        U, s, Vt = randomized_svd(
            centered,
            int(k),
            n_oversamples=self.n_oversamples,
            n_iter=self.iterated_power,
            power_iteration_normalizer=self.power_iteration_normalizer,
            flip_sign=False,
            random_state=self.random_state,
            backend=self.backend,
        )
        # scikit-learn's PCA flips by the rows of Vt (u_based_decision=False).
        Vt, U = _flip_by_u(Vt.T.copy(), U.T.copy())
        U, Vt = U.T, Vt.T
        out_dtype = np.float32 if dtype == "float32" else np.float64
        if _is_sparse(X):
            sq = np.asarray(X.multiply(X).sum(axis=0)).ravel()
            total_var = float((sq - n_samples * mean**2).sum() / (n_samples - 1))
        else:
            total_var = float(np.var(X, axis=0, ddof=1).sum())
        self.mean_ = mean.astype(out_dtype)
        self.components_ = Vt.astype(out_dtype, copy=False)
        self.singular_values_ = s.astype(out_dtype, copy=False)
        self.explained_variance_ = (s.astype(np.float64) ** 2 / (n_samples - 1)).astype(out_dtype)
        self.explained_variance_ratio_ = self.explained_variance_ / total_var
        rest = min(n_samples, n_features) - int(k)
        self.noise_variance_ = (
            (total_var - float(self.explained_variance_.sum())) / rest if rest > 0 else 0.0
        )
        self.n_components_ = int(k)
        self.n_samples_ = n_samples
        self.n_features_in_ = n_features
        return U, s

    def transform(self, X):
        self._check_fitted("components_")
        X = _data(X)
        self._check_features(X)
        Xt = np.asarray(X @ self.components_.T) - self.mean_ @ self.components_.T
        if self.whiten:
            Xt /= np.sqrt(self.explained_variance_)
        return Xt

    def inverse_transform(self, X):
        self._check_fitted("components_")
        X = np.asarray(X)
        if self.whiten:
            X = X * np.sqrt(self.explained_variance_)
        return X @ self.components_ + self.mean_


def johnson_lindenstrauss_min_dim(n_samples, eps=0.1):
    """The Johnson–Lindenstrauss dimension ``4·ln(n)/(ε²/2 − ε³/3)`` (scikit-learn's)."""
    if not 0 < eps < 1:
        raise ValueError(f"eps must be in (0, 1), got {eps!r}")
    return int(4 * math.log(n_samples) / (eps**2 / 2 - eps**3 / 3))


class _RandomProjection(_Params):
    """``X ↦ X·Sᵀ`` for a ``d×n_features`` sketch ``S`` drawn at ``fit`` (linops generates it
    from the seed; the dense families are never stored)."""

    def fit(self, X, y=None):
        X = _data(X)
        n_samples, n_features = X.shape
        check_backend(self.backend)
        if self.n_components == "auto":
            d = johnson_lindenstrauss_min_dim(n_samples, self.eps)
            if d > n_features:
                raise ValueError(
                    f"eps={self.eps} and n_samples={n_samples} lead to a target dimension of "
                    f"{d} which is larger than the original space with n_features={n_features}"
                )
        else:
            d = check_int(self.n_components, "n_components", 1)
        self.n_components_ = d
        self.n_features_in_ = n_features
        self.sketch_ = self._sketch(d, n_features, seed_from(self.random_state))
        return self

    @property
    def components_(self):
        """The dense ``n_components_×n_features`` matrix of the sketch (materialized on demand)."""
        self._check_fitted("sketch_")
        return self.sketch_.to_dense()

    def transform(self, X):
        self._check_fitted("sketch_")
        X = _data(X)
        self._check_features(X)
        if _is_sparse(X):
            # X·Sᵀ with X as a CSR operator applied to the dense Sᵀ.
            op, _ = as_op(X, "X")
            return op.matmat(self.sketch_.T.to_dense(), backend=self.backend)
        # (S·Xᵀ)ᵀ: Xᵀ is a strided view of X, read in place by linops.
        return self.sketch_.matmat(X.T, backend=self.backend).T


class GaussianRandomProjection(_RandomProjection):
    """Gaussian random projection (entries ``N(0, 1/n_components)``), as
    ``sklearn.random_projection.GaussianRandomProjection``."""

    def __init__(self, n_components="auto", *, eps=0.1, random_state=None, backend="auto"):
        self.n_components = n_components
        self.eps = eps
        self.random_state = random_state
        self.backend = backend

    def _sketch(self, d, n, seed):
        return _linops.Op.gaussian_sketch(d, n, seed)


class SparseRandomProjection(_RandomProjection):
    """Very sparse random projection of Li, Hastie and Church (density ``1/√n_features`` by
    default), as ``sklearn.random_projection.SparseRandomProjection``."""

    def __init__(
        self, n_components="auto", *, density="auto", eps=0.1, random_state=None, backend="auto"
    ):
        self.n_components = n_components
        self.density = density
        self.eps = eps
        self.random_state = random_state
        self.backend = backend

    def _sketch(self, d, n, seed):
        rho = None if self.density == "auto" else float(self.density)
        return _linops.Op.very_sparse_projection(d, n, seed, density=rho)


class SparseSignProjection(_RandomProjection):
    """Sparse sign projection: ``nnz_per_column`` nonzeros ``±1/√nnz`` in every column of ``S``
    (CountSketch for 1, OSNAP beyond)."""

    def __init__(
        self, n_components="auto", *, nnz_per_column=8, eps=0.1, random_state=None, backend="auto"
    ):
        self.n_components = n_components
        self.nnz_per_column = nnz_per_column
        self.eps = eps
        self.random_state = random_state
        self.backend = backend

    def _sketch(self, d, n, seed):
        s = check_int(self.nnz_per_column, "nnz_per_column", 1)
        return _linops.Op.sparse_sign(d, n, s, seed)
