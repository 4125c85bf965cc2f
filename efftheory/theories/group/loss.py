"""The matrix theory's loss (docs/theory.md §14): the equal-product pairs (quads) of a group's
table, ℓ_grp = mean ‖M_a M_b − M_c M_d‖², its Euclidean and Riemannian gradients, Haar-random
rotations and the group's own representations."""

from __future__ import annotations

import numbers

import numpy as np

from efftheory.errors import require
from efftheory.tasks import FiniteGroup, as_int

#: Rotation size k of the default theory (SO(3)).
DEFAULT_K = 3


def group_quads(task: FiniteGroup, samples=None) -> np.ndarray:
    """(Q, 4) int64 quads (a, b, c, d): every pair of distinct samples of ``samples`` with equal
    products a ∘ b = c ∘ d, the earlier sample first, grouped by product.

    ``samples`` are indices into ``task.pairs`` (default: the full table). All such pairs count,
    including (a, b), (b, a) of commuting a, b: Q = 90 for the full S3 table.
    """
    check_group(task)
    samples = check_sample_indices(task, samples)
    pairs, labels = task.pairs[samples], task.labels[samples]
    blocks = []
    for s in range(task.n_classes):
        members = np.flatnonzero(labels == s)
        i, j = np.triu_indices(members.size, k=1)
        blocks.append(np.concatenate([pairs[members[i]], pairs[members[j]]], axis=1))
    return np.ascontiguousarray(np.concatenate(blocks, axis=0).reshape(-1, 4), dtype=np.int64)


def group_loss(M, quads) -> float | np.ndarray:
    """ℓ_grp = mean over quads of ‖M_a M_b − M_c M_d‖²_F, for matrices M (..., p, k, k)."""
    M = check_matrices(M)
    quads = check_quads(quads, M.shape[-3])
    R = residuals(M, quads)
    out = np.mean(np.sum(R * R, axis=(-2, -1)), axis=-1)
    return float(out) if out.ndim == 0 else out


def group_gradient(M, quads) -> np.ndarray:
    """Euclidean gradient ∂ℓ_grp/∂M_a for every a, with the shape of M (..., p, k, k)."""
    M = check_matrices(M)
    quads = check_quads(quads, M.shape[-3])
    flat = M.reshape(-1, *M.shape[-3:])  # (B, p, k, k)
    R = residuals(flat, quads)  # (B, Q, k, k)
    MT = np.swapaxes(flat, -1, -2)
    a, b, c, d = quads.T
    G = np.zeros_like(flat)
    for idx, term in ((a, R @ MT[:, b]), (b, MT[:, a] @ R), (c, -R @ MT[:, d]), (d, -MT[:, c] @ R)):
        np.add.at(G, (slice(None), idx), term)  # repeated elements (a = b, ...) accumulate
    return (G * (2.0 / quads.shape[0])).reshape(M.shape)


def riemannian_gradient(M, G) -> np.ndarray:
    """Ω_a = skew(M_aᵀ G_a) (..., p, k, k): the Riemannian gradient of SO(k)^p at M is M_a Ω_a.

    For a tangent direction M_a X_a (X_a skew), the derivative of ℓ is Σ_a tr(G_aᵀ M_a X_a)
    = Σ_a ⟨Ω_a, X_a⟩_F, so Ω is the gradient in the coordinates X.
    """
    A = np.swapaxes(M, -1, -2) @ G
    return 0.5 * (A - np.swapaxes(A, -1, -2))


def residuals(M: np.ndarray, quads: np.ndarray) -> np.ndarray:
    a, b, c, d = quads.T
    return M[..., a, :, :] @ M[..., b, :, :] - M[..., c, :, :] @ M[..., d, :, :]


def haar_rotations(shape, k: int = DEFAULT_K, rng=None) -> np.ndarray:
    """Haar-random rotations in SO(k) of shape (*shape, k, k).

    QR of a Gaussian matrix with the signs of R's diagonal moved into Q is Haar on O(k); flipping
    the first column of the members with det −1 maps that half onto SO(k), Haar again because
    Haar measure is invariant under right multiplication by diag(−1, 1, ..., 1).
    """
    k = as_int(k, "k", 2)
    rng = np.random.default_rng(rng)
    shape = (shape,) if isinstance(shape, numbers.Integral) else tuple(shape)
    Z = rng.standard_normal((*shape, k, k))
    Q, R = np.linalg.qr(Z)
    Q = Q * np.sign(np.diagonal(R, axis1=-2, axis2=-1))[..., None, :]
    flip = np.linalg.det(Q) < 0
    Q[..., :, 0] = np.where(flip[..., None], -Q[..., :, 0], Q[..., :, 0])
    return np.ascontiguousarray(Q)


def sign_permutation_matrices(n: int = 3) -> np.ndarray:
    """(n!, n, n): sign(a) P_a, the permutation matrices of :func:`efftheory.tasks.permutation_matrices`
    times the sign of the permutation.

    P_a has det P_a = sign(a), so the odd permutations are not rotations. The sign is a
    homomorphism into {±1}, central in O(n), so a ↦ sign(a) P_a is again a homomorphism, and for
    odd n its determinant is sign(a)^n · sign(a) = 1: a faithful representation in SO(n).
    """
    from efftheory.tasks import permutation_matrices

    P = permutation_matrices(as_int(n, "n", 1))
    return np.round(np.linalg.det(P))[:, None, None] * P


def standard_in_so3(task: FiniteGroup | None = None) -> np.ndarray:
    """(6, 3, 3): the 2-d standard representation of S3 (its action on the plane x + y + z = 0)
    embedded in SO(3) as block-diag(std(a), det std(a)), i.e. standard ⊕ sign.

    std(a) = Vᵀ P_a V with V (3, 2) an orthonormal basis of the plane ⟂ (1, 1, 1); det std(a) =
    sign(a), so the 3 × 3 block matrix has determinant 1.
    """
    from efftheory.tasks import permutation_matrices

    P = permutation_matrices(3)
    V = np.linalg.qr(np.array([[1.0, 0.0], [-1.0, 1.0], [0.0, -1.0]]))[0]
    std = np.swapaxes(V, 0, 1)[None] @ P @ V[None]
    out = np.zeros((6, 3, 3))
    out[:, :2, :2] = std
    out[:, 2, 2] = np.linalg.det(std)
    return out


def check_group(task) -> None:
    require(isinstance(task, FiniteGroup), f"the matrix theory needs a FiniteGroup task, got {type(task).__name__}")


def check_sample_indices(task, samples) -> np.ndarray:
    if samples is None:
        return np.arange(task.n_samples)
    s = np.asarray(samples)
    require(s.ndim == 1 and (s.size == 0 or s.dtype.kind in "iu"), "samples must be a 1-d array of sample indices")
    s = s.astype(np.int64)
    require(s.size == 0 or (int(s.min()) >= 0 and int(s.max()) < task.n_samples),
            f"sample indices must lie in [0, {task.n_samples})")
    require(np.unique(s).size == s.size, "sample indices must be distinct")
    return s


def check_matrices(M) -> np.ndarray:
    M = np.asarray(M, dtype=np.float64)
    require(M.ndim >= 3 and M.shape[-1] == M.shape[-2] and M.shape[-1] >= 1,
            f"matrices must have shape (..., p, k, k), got {M.shape}")
    require(bool(np.all(np.isfinite(M))), "matrices have non-finite entries")
    return M


def check_rotations(M: np.ndarray, tol: float = 1e-8) -> None:
    k = M.shape[-1]
    ortho = np.abs(np.swapaxes(M, -1, -2) @ M - np.eye(k)).max()
    det = np.abs(np.linalg.det(M) - 1.0).max()
    require(ortho <= tol and det <= tol, f"initial matrices must be rotations in SO({k}) "
                                         f"(max |MᵀM − I| = {ortho:.2g}, max |det M − 1| = {det:.2g})")


def check_quads(quads, p: int, allow_empty: bool = False) -> np.ndarray:
    quads = np.ascontiguousarray(np.asarray(quads).reshape(-1, 4) if np.size(quads) == 0 else quads, dtype=np.int64)
    require(quads.ndim == 2 and quads.shape[1] == 4, f"quads must have shape (Q, 4), got {quads.shape}")
    require(allow_empty or quads.shape[0] >= 1, "quads is empty: the training set has no equal-product pair")
    require(quads.size == 0 or (int(quads.min()) >= 0 and int(quads.max()) < p), f"quads must hold elements in 0..{p - 1}")
    return quads
