"""The matrix effective theory of a finite group: one rotation per element (docs/theory.md,
"Groups and matrix representations").

A finite group G (a :class:`efftheory.tasks.FiniteGroup`, e.g. S3) has the ordered samples
(a, b) labelled a ∘ b. Each element a gets a rotation M_a ∈ SO(k) (k = 3 by default). A *quad*
q = (a, b, c, d) is a pair of distinct training samples with equal products, a ∘ b = c ∘ d, and
asks for M_a M_b = M_c M_d. Unlike the additive theory, (a, b) and (b, a) with ab = ba is a real
constraint (M_a M_b = M_b M_a is not automatic), so every pair of distinct samples with equal
products counts: 90 on the full S3 table (6 products, 6 samples each, C(6, 2) · 6).

Loss and Euclidean gradient (mean over the Q quads of the training set):

    ℓ_grp(M) = (1/Q) Σ_q ‖R_q‖²_F,   R_q = M_a M_b − M_c M_d,
    ∂ℓ/∂M_a += (2/Q) R_q M_bᵀ,  ∂ℓ/∂M_b += (2/Q) M_aᵀ R_q,
    ∂ℓ/∂M_c −= (2/Q) R_q M_dᵀ,  ∂ℓ/∂M_d −= (2/Q) M_cᵀ R_q      (a = b etc.: contributions add).

The flow lives on SO(k)^p with the metric ⟨X, Y⟩ = tr(XᵀY) of the embedding. The Riemannian
gradient at M_a is M_a Ω_a with Ω_a = skew(M_aᵀ G_a), skew(A) = (A − Aᵀ)/2, G_a = ∂ℓ/∂M_a; the
flow dM_a/dt = −M_a Ω_a is discretised by the exponential map, M_a ← M_a exp(−h Ω_a) (exactly in
SO(k) up to round-off), with a step h chosen by backtracking (Armijo: accept only if ℓ falls by
at least 1e-4 · h · Σ_a ‖Ω_a‖²), so ℓ never increases. Σ_a ‖Ω_a‖²_F is the squared norm of the
Riemannian gradient, and −Σ_a ‖Ω_a‖² is the derivative of ℓ along the step direction.

Zero loss on the full table means M_a M_b depends only on a ∘ b; then M_e commutes with every
M_b and ρ(a) = M_a M_e⁻¹ is a homomorphism G → SO(k) (docs). A flow from Haar-random rotations
ends *faithful* (zero loss, ρ injective), *unfaithful* (zero loss, some images equal),
*stalled* (training loss above tolerance) or, when the training set is not the full table,
*fits-without-representation* (training pairs fitted, the full table not).
"""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np
from numba import njit, prange

from efftheory.errors import require
from efftheory.stats import wilson_interval
from efftheory.tasks import FiniteGroup, Split, as_int

OUTCOMES = ("faithful", "unfaithful", "stalled", "fits-without-representation")
"""Outcomes of a flow, in the order the probabilities are reported."""

#: Rotation size k of the default theory (SO(3)).
DEFAULT_K = 3

#: Loss at and below which the matrices fit (the training set, or the full table). Measured on
#: S3, k = 3, 2000 starts on the full table: fitted states end at ℓ <= 1.5e-18, stalled ones at
#: ℓ >= 2.77. On small training sets (frac 0.3) a few flows approach a degenerate zero-loss set
#: slowly and are still at 1e-8 < ℓ < 3e-6 when the step budget ends (docs): those count as stalled.
DEFAULT_LOSS_TOL = 1e-8

#: Two elements have the same image when ‖M_a − M_b‖_F is below this. The images of a faithful
#: representation of S3 in SO(3) are ≥ √6 apart; a fitted state is within ~√ℓ of exact.
DEFAULT_DISTANCE_TOL = 1e-3

#: The flow stops a member once max_a ‖Ω_a‖_F (its Riemannian gradient) falls below this.
DEFAULT_GTOL = 1e-9

#: Default step budget of a flow (accepted steps per member).
DEFAULT_MAX_STEPS = 20_000

_ARMIJO = 1e-4  # sufficient-decrease constant
_H0 = 0.5  # first trial step
_H_MAX = 1e3  # the step never grows beyond this
#: The line search gives up below this step: ℓ is a polynomial on a compact set, so its curvature is
#: bounded (by O(10) at k = 3) and Armijo accepts any h up to ~2/curvature; a step that must be
#: smaller means the decrease h Σ‖Ω‖² is below the round-off of ℓ (a stalled state at ℓ ~ 3 cannot
#: resolve gradients below ~1e-8). The member has come to rest there.
_H_MIN = 1e-6


# ---------------------------------------------------------------- quads


def group_quads(task: FiniteGroup, samples=None) -> np.ndarray:
    """(Q, 4) int64 quads (a, b, c, d): every pair of distinct samples of ``samples`` with equal
    products a ∘ b = c ∘ d, the earlier sample first, grouped by product.

    ``samples`` are indices into ``task.pairs`` (default: the full table). All such pairs count,
    including (a, b), (b, a) of commuting a, b: Q = 90 for the full S3 table.
    """
    _check_group(task)
    samples = _check_sample_indices(task, samples)
    pairs, labels = task.pairs[samples], task.labels[samples]
    blocks = []
    for s in range(task.n_classes):
        members = np.flatnonzero(labels == s)
        i, j = np.triu_indices(members.size, k=1)
        blocks.append(np.concatenate([pairs[members[i]], pairs[members[j]]], axis=1))
    return np.ascontiguousarray(np.concatenate(blocks, axis=0).reshape(-1, 4), dtype=np.int64)


# ---------------------------------------------------------------- loss and gradients (numpy)


def group_loss(M, quads) -> float | np.ndarray:
    """ℓ_grp = mean over quads of ‖M_a M_b − M_c M_d‖²_F, for matrices M (..., p, k, k)."""
    M = _check_matrices(M)
    quads = _check_quads(quads, M.shape[-3])
    R = _residuals(M, quads)
    out = np.mean(np.sum(R * R, axis=(-2, -1)), axis=-1)
    return float(out) if out.ndim == 0 else out


def group_gradient(M, quads) -> np.ndarray:
    """Euclidean gradient ∂ℓ_grp/∂M_a for every a, with the shape of M (..., p, k, k)."""
    M = _check_matrices(M)
    quads = _check_quads(quads, M.shape[-3])
    flat = M.reshape(-1, *M.shape[-3:])  # (B, p, k, k)
    R = _residuals(flat, quads)  # (B, Q, k, k)
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


def _residuals(M: np.ndarray, quads: np.ndarray) -> np.ndarray:
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


# ---------------------------------------------------------------- numba kernels


@njit(cache=True)
def _expm_skew(W, out, A, B):
    """out <- exp(W) for a skew (k, k) matrix W. A, B: (k, k) scratch.

    k = 3: Rodrigues, exp(W) = I + (sin θ / θ) W + ((1 − cos θ) / θ²) W², θ = |w| for the axial
    vector w of W (series for θ < 1e-4). Other k: scaling and squaring, W / 2^s with
    ‖W / 2^s‖_F <= 1/4, Taylor to order 14 (remainder < 1e-19 there), then s squarings.
    """
    k = W.shape[0]
    if k == 3:
        wx, wy, wz = W[2, 1], W[0, 2], W[1, 0]
        t2 = wx * wx + wy * wy + wz * wz
        if t2 < 1e-8:
            f1 = 1.0 - t2 / 6.0 + t2 * t2 / 120.0
            f2 = 0.5 - t2 / 24.0 + t2 * t2 / 720.0
        else:
            t = math.sqrt(t2)
            f1 = math.sin(t) / t
            f2 = (1.0 - math.cos(t)) / t2
        for i in range(3):
            for j in range(3):
                w2 = 0.0
                for l in range(3):
                    w2 += W[i, l] * W[l, j]
                out[i, j] = f1 * W[i, j] + f2 * w2 + (1.0 if i == j else 0.0)
        return
    norm = 0.0
    for i in range(k):
        for j in range(k):
            norm += W[i, j] * W[i, j]
    norm = math.sqrt(norm)
    s = 0
    while norm > 0.25:
        norm *= 0.5
        s += 1
    scale = 0.5 ** s
    # out = Σ_n A^n / n!, A = W scale; B holds the current term
    for i in range(k):
        for j in range(k):
            out[i, j] = 1.0 if i == j else 0.0
            B[i, j] = out[i, j]
    for n in range(1, 15):
        for i in range(k):
            for j in range(k):
                acc = 0.0
                for l in range(k):
                    acc += B[i, l] * W[l, j]
                A[i, j] = acc * scale / n
        for i in range(k):
            for j in range(k):
                B[i, j] = A[i, j]
                out[i, j] += A[i, j]
    for _ in range(s):
        for i in range(k):
            for j in range(k):
                acc = 0.0
                for l in range(k):
                    acc += out[i, l] * out[l, j]
                A[i, j] = acc
        for i in range(k):
            for j in range(k):
                out[i, j] = A[i, j]


@njit(cache=True)
def _loss_grad(M, quads, q0, q1, want_grad, G, R):
    """ℓ_grp of M (p, k, k) over quads[q0:q1]; with want_grad writes ∂ℓ/∂M into G (p, k, k).

    R (k, k) is scratch. No quads (q1 == q0): ℓ = 0 and G = 0.
    """
    p, k = M.shape[0], M.shape[1]
    if want_grad:
        for x in range(p):
            for i in range(k):
                for j in range(k):
                    G[x, i, j] = 0.0
    total = 0.0
    for q in range(q0, q1):
        a, b, c, d = quads[q, 0], quads[q, 1], quads[q, 2], quads[q, 3]
        for i in range(k):
            for j in range(k):
                acc = 0.0
                for l in range(k):
                    acc += M[a, i, l] * M[b, l, j] - M[c, i, l] * M[d, l, j]
                R[i, j] = acc
                total += acc * acc
        if want_grad:
            for i in range(k):
                for j in range(k):
                    ga, gb, gc, gd = 0.0, 0.0, 0.0, 0.0
                    for l in range(k):
                        ga += R[i, l] * M[b, j, l]  # (R M_bᵀ)_ij
                        gb += M[a, l, i] * R[l, j]  # (M_aᵀ R)_ij
                        gc += R[i, l] * M[d, j, l]
                        gd += M[c, l, i] * R[l, j]
                    G[a, i, j] += ga
                    G[b, i, j] += gb
                    G[c, i, j] -= gc
                    G[d, i, j] -= gd
    n = q1 - q0
    if n == 0:
        return 0.0
    if want_grad:
        for x in range(p):
            for i in range(k):
                for j in range(k):
                    G[x, i, j] *= 2.0 / n
    return total / n


@njit(cache=True)
def _tangent(M, G, Om):
    """Om_a <- skew(M_aᵀ G_a); returns (Σ_a ‖Ω_a‖²_F, max_a ‖Ω_a‖_F)."""
    p, k = M.shape[0], M.shape[1]
    total, largest = 0.0, 0.0
    for x in range(p):
        na = 0.0
        for i in range(k):
            for j in range(k):
                u, v = 0.0, 0.0
                for l in range(k):
                    u += M[x, l, i] * G[x, l, j]  # (Mᵀ G)_ij
                    v += M[x, l, j] * G[x, l, i]  # (Mᵀ G)_ji
                Om[x, i, j] = 0.5 * (u - v)
                na += Om[x, i, j] * Om[x, i, j]
        total += na
        largest = max(largest, math.sqrt(na))
    return total, largest


@njit(cache=True)
def _retract(M, Om, h, out, W, E, A, B):
    """out_a <- M_a exp(−h Ω_a) for every a."""
    p, k = M.shape[0], M.shape[1]
    for x in range(p):
        for i in range(k):
            for j in range(k):
                W[i, j] = -h * Om[x, i, j]
        _expm_skew(W, E, A, B)
        for i in range(k):
            for j in range(k):
                acc = 0.0
                for l in range(k):
                    acc += M[x, i, l] * E[l, j]
                out[x, i, j] = acc


@njit(cache=True, parallel=True)
def _descend(M, quads, q_start, q_end, max_steps, gtol, record, loss_hist, time_hist, loss_out, gnorm_out,
             steps_out, time_out, rest):
    """Riemannian descent with Armijo backtracking for every member b of M (B, p, k, k), in place.

    Member b's quads are quads[q_start[b]:q_end[b]]. It stops once max_a ‖Ω_a‖_F < gtol, after
    max_steps accepted steps, or when no step h >= H_MIN decreases ℓ enough (round-off floor).
    Step: try h (first h0), accept M exp(−hΩ) if ℓ falls by >= 1e-4 h Σ‖Ω_a‖², else halve h and
    retry; after an accepted step h doubles (at most H_MAX). ℓ never increases.

    record (R,) int64 ascending step counts: loss_hist[b, r], time_hist[b, r] <- ℓ and the flow
    time Σh after record[r] accepted steps (the final values if the member stopped earlier).
    Writes loss_out, gnorm_out (max_a ‖Ω_a‖_F), time_out (B,), steps_out (B,) int64 and
    rest (B,) bool: True where the member stopped before max_steps (gtol or the round-off floor).
    """
    B, p, k = M.shape[0], M.shape[1], M.shape[2]
    R_n = record.shape[0]
    for b in prange(B):
        X = M[b].copy()
        trial = np.empty_like(X)
        G = np.empty_like(X)
        Om = np.empty_like(X)
        Rs, W, E, A, Bs = np.empty((k, k)), np.empty((k, k)), np.empty((k, k)), np.empty((k, k)), np.empty((k, k))
        q0, q1 = q_start[b], q_end[b]
        loss = _loss_grad(X, quads, q0, q1, True, G, Rs)
        g2, gmax = _tangent(X, G, Om)
        h = _H0
        t = 0.0
        step = 0
        r = 0
        while r < R_n and record[r] <= step:
            loss_hist[b, r] = loss
            time_hist[b, r] = t
            r += 1
        rest[b] = gmax < gtol
        while step < max_steps and gmax >= gtol:
            accepted = False
            while h >= _H_MIN:
                _retract(X, Om, h, trial, W, E, A, Bs)
                new = _loss_grad(trial, quads, q0, q1, False, G, Rs)
                if new <= loss - _ARMIJO * h * g2:
                    accepted = True
                    break
                h *= 0.5
            if not accepted:
                rest[b] = True
                break
            for x in range(p):
                for i in range(k):
                    for j in range(k):
                        X[x, i, j] = trial[x, i, j]
            t += h
            step += 1
            h = min(2.0 * h, _H_MAX)
            loss = _loss_grad(X, quads, q0, q1, True, G, Rs)
            g2, gmax = _tangent(X, G, Om)
            rest[b] = gmax < gtol
            while r < R_n and record[r] <= step:
                loss_hist[b, r] = loss
                time_hist[b, r] = t
                r += 1
        while r < R_n:
            loss_hist[b, r] = loss
            time_hist[b, r] = t
            r += 1
        M[b] = X
        loss_out[b] = loss
        gnorm_out[b] = gmax
        steps_out[b] = step
        time_out[b] = t


# ---------------------------------------------------------------- the flow


@dataclass(frozen=True)
class GroupFlow:
    """End states of the Riemannian descent from B initial conditions.

    Attributes:
        M0: (B, p, k, k) initial rotations; M: (B, p, k, k) final rotations.
        loss: (B,) final training loss ℓ_grp.
        gradient_norm: (B,) final max_a ‖Ω_a‖_F.
        steps: (B,) int64 accepted steps; time: (B,) flow time Σh of those steps.
        converged: (B,) bool, came to rest before the budget: gradient_norm < gtol, or no step
            could decrease ℓ beyond its round-off (stalled states at ℓ ~ 3 stop there, with
            gradient norms ~1e-8).
        record: (R,) int64 step counts; loss_history, time_history: (B, R) ℓ and flow time after
            that many steps (the final values once a member has stopped).
        max_steps, gtol: the settings used.
    """

    M0: np.ndarray = field(repr=False)
    M: np.ndarray = field(repr=False)
    loss: np.ndarray = field(repr=False)
    gradient_norm: np.ndarray = field(repr=False)
    steps: np.ndarray = field(repr=False)
    time: np.ndarray = field(repr=False)
    converged: np.ndarray = field(repr=False)
    record: np.ndarray = field(repr=False)
    loss_history: np.ndarray = field(repr=False)
    time_history: np.ndarray = field(repr=False)
    max_steps: int = DEFAULT_MAX_STEPS
    gtol: float = DEFAULT_GTOL


def group_flow(M0, quads, *, quad_ranges=None, max_steps: int = DEFAULT_MAX_STEPS, gtol: float = DEFAULT_GTOL,
               n_record: int = 60, progress=None) -> GroupFlow:
    """Riemannian gradient descent on SO(k)^p from M0 (p, k, k) or (B, p, k, k), batched in parallel.

    Args:
        M0: initial rotations (each must be in SO(k) to 1e-8).
        quads: (Q, 4) int64 quads of the training set (Q = 0 allowed: nothing moves).
        quad_ranges: optional (B, 2) int64 [start, end) rows of ``quads`` for each member (members
            with different training sets); default: every member uses every quad.
        max_steps: budget of accepted steps per member; gtol: stop once max_a ‖Ω_a‖_F < gtol.
        n_record: the loss is recorded after 0 and about n_record log-spaced step counts.
        progress: optional ``progress(n)``, told as each n more members are done (the batch is
            then run in about 20 pieces; members are independent, so the results are identical).
    """
    M0 = _check_matrices(M0)
    M0 = np.ascontiguousarray(M0[None] if M0.ndim == 3 else M0)
    require(M0.ndim == 4, f"M0 must have shape (p, k, k) or (B, p, k, k), got {M0.shape}")
    _check_rotations(M0)
    B, p = M0.shape[0], M0.shape[1]
    quads = _check_quads(quads, p, allow_empty=True)
    if quad_ranges is None:
        q_start, q_end = np.zeros(B, np.int64), np.full(B, quads.shape[0], np.int64)
    else:
        ranges = np.asarray(quad_ranges, dtype=np.int64)
        require(ranges.shape == (B, 2), f"quad_ranges must have shape ({B}, 2), got {ranges.shape}")
        require(bool(np.all((0 <= ranges[:, 0]) & (ranges[:, 0] <= ranges[:, 1]) & (ranges[:, 1] <= quads.shape[0]))),
                "quad_ranges must be [start, end) rows of quads")
        q_start, q_end = np.ascontiguousarray(ranges[:, 0]), np.ascontiguousarray(ranges[:, 1])
    max_steps = as_int(max_steps, "max_steps", 0)
    require(isinstance(gtol, numbers.Real) and gtol > 0, f"gtol must be positive, got {gtol!r}")
    n_record = as_int(n_record, "n_record", 2)
    record = record_steps(max_steps, n_record)
    M = M0.copy()
    loss, gnorm, time_ = np.empty(B), np.empty(B), np.empty(B)
    steps, rest = np.empty(B, np.int64), np.zeros(B, bool)
    loss_hist, time_hist = np.empty((B, record.size)), np.empty((B, record.size))
    arrays = (M, q_start, q_end, loss_hist, time_hist, loss, gnorm, steps, time_, rest)
    piece = B if progress is None else max(1, -(-B // 20))
    for b in range(0, B, piece):
        m, qs, qe, lh, th, lo, gn, st, ti, re_ = (a[b:b + piece] for a in arrays)
        _descend(m, quads, qs, qe, max_steps, float(gtol), record, lh, th, lo, gn, st, ti, re_)
        if progress is not None:
            progress(m.shape[0])
    return GroupFlow(M0=M0, M=M, loss=loss, gradient_norm=gnorm, steps=steps, time=time_,
                     converged=rest, record=record, loss_history=loss_hist, time_history=time_hist,
                     max_steps=max_steps, gtol=float(gtol))


def record_steps(max_steps: int, n: int = 60) -> np.ndarray:
    """(R,) int64: 0 and about n − 1 log-spaced whole step counts up to max_steps (no repeats)."""
    if max_steps < 1:
        return np.zeros(1, np.int64)
    return np.unique(np.concatenate([[0], np.round(np.geomspace(1, max_steps, n - 1))]).astype(np.int64))


# ---------------------------------------------------------------- scoring matrices against the group


@dataclass(frozen=True)
class GroupScore:
    """How well matrices M (p, k, k) (or a batch (..., p, k, k)) represent a group.

    Attributes (arrays have the batch shape, floats for a single set):
        train_loss: ℓ_grp on the training quads (the full table when none were given).
        full_loss: ℓ_grp on every quad of the full table.
        homomorphism_error: max over (a, b) of ‖ρ(a)ρ(b) − ρ(a∘b)‖_F with ρ(a) = M_a M_e⁻¹
            (NaN when M_e is singular, condition number > 1e12).
        min_distance: min over a ≠ b of ‖M_a − M_b‖_F (0: two elements share their image).
        orthogonality: max_a ‖M_aᵀ M_a − I‖_F (0 for rotations).
        scale: the factor the matrices were multiplied by before scoring (1 unless normalised).
        outcome: one of :data:`OUTCOMES` (see :func:`classify`).
    """

    train_loss: np.ndarray | float
    full_loss: np.ndarray | float
    homomorphism_error: np.ndarray | float
    min_distance: np.ndarray | float
    orthogonality: np.ndarray | float
    scale: np.ndarray | float
    outcome: np.ndarray | str


def classify(train_loss, full_loss, min_distance, *, loss_tol: float = DEFAULT_LOSS_TOL,
             distance_tol: float = DEFAULT_DISTANCE_TOL) -> np.ndarray | str:
    """Outcome per state: "stalled" if train_loss > loss_tol; else "fits-without-representation"
    if full_loss > loss_tol; else "faithful" if min_distance > distance_tol, "unfaithful" if not.

    Zero full-table loss makes M_a = ρ(a) C with ρ a homomorphism and C = M_e commuting with its
    image (docs), so ‖M_a − M_b‖ = ‖ρ(a) − ρ(b)‖ for rotations: distinct images ⇔ ρ injective.
    """
    train_loss, full_loss, min_distance = np.broadcast_arrays(
        np.asarray(train_loss, float), np.asarray(full_loss, float), np.asarray(min_distance, float))
    fitted = np.where(min_distance > distance_tol, "faithful", "unfaithful")
    out = np.where(train_loss > loss_tol, "stalled", np.where(full_loss > loss_tol, "fits-without-representation", fitted))
    return str(out) if out.ndim == 0 else out.astype(object)


def nearest_rotations(M) -> np.ndarray:
    """The rotation closest to each matrix in Frobenius norm, (..., k, k): with M = U S Vᵀ (SVD),
    U diag(1, ..., 1, det(U Vᵀ)) Vᵀ (the polar factor, its last axis flipped when det M < 0)."""
    M = np.asarray(M, dtype=np.float64)
    require(M.ndim >= 2 and M.shape[-1] == M.shape[-2], f"matrices must have shape (..., k, k), got {M.shape}")
    require(bool(np.all(np.isfinite(M))), "matrices have non-finite entries")
    U, _, Vt = np.linalg.svd(M)
    U[..., :, -1] *= np.sign(np.linalg.det(U @ Vt))[..., None]
    return U @ Vt


def score_matrices(task: FiniteGroup, M, train=None, *, normalise: bool = False, project: bool = False,
                   loss_tol: float = DEFAULT_LOSS_TOL, distance_tol: float = DEFAULT_DISTANCE_TOL) -> GroupScore:
    """Score any matrices M (..., p, k, k) against the group ``task`` (e.g. a network's learned
    matrix embeddings): losses, homomorphism error, distinctness of the images, outcome.

    ``train``: optional training-sample indices (the train loss is then on their quads).
    ``normalise``: first multiply each set by one factor so that mean_a ‖M_a‖²_F = k (the value
    of rotations): ℓ_grp scales as the fourth power of the matrices, so unnormalised losses of
    different networks are not comparable. A set of zero matrices is refused then.
    ``project``: replace each matrix by its :func:`nearest_rotations` first (after normalising),
    which scores the rotations a network's matrices are closest to.
    """
    _check_group(task)
    M = _check_matrices(M)
    require(M.shape[-3] == task.p, f"M must hold {task.p} matrices (one per element), got {M.shape[-3]}")
    k = M.shape[-1]
    scale = np.ones(M.shape[:-3])
    if normalise:
        ms = np.mean(np.sum(M * M, axis=(-2, -1)), axis=-1)
        require(bool(np.all(ms > 0)), "cannot normalise a set of zero matrices")
        scale = np.sqrt(k / ms)
        M = M * scale[..., None, None, None]
    if project:
        M = nearest_rotations(M)
    full_quads = group_quads(task)
    full = group_loss(M, full_quads)
    train_q = full_quads if train is None else group_quads(task, train)
    tr = group_loss(M, train_q) if train_q.shape[0] else np.zeros(M.shape[:-3])
    e = task.identity
    Me = M[..., e, :, :]
    singular = np.linalg.cond(Me) > 1e12
    safe = np.where(singular[..., None, None], np.eye(k), Me)
    rho = M @ np.linalg.inv(safe)[..., None, :, :]  # ρ(a) = M_a M_e⁻¹
    table = task.cayley
    prod = rho[..., :, None, :, :] @ rho[..., None, :, :, :]  # (..., p, p, k, k)
    err = np.linalg.norm(prod - rho[..., table, :, :], axis=(-2, -1)).max(axis=(-2, -1))
    hom = np.where(singular, np.nan, err)
    diff = np.linalg.norm(M[..., :, None, :, :] - M[..., None, :, :, :], axis=(-2, -1))
    off = ~np.eye(task.p, dtype=bool)
    dmin = diff[..., off].min(axis=-1)
    ortho = np.linalg.norm(np.swapaxes(M, -1, -2) @ M - np.eye(k), axis=(-2, -1)).max(axis=-1)
    outcome = classify(tr, full, np.where(singular, 0.0, dmin), loss_tol=loss_tol, distance_tol=distance_tol)

    def out(x):
        x = np.asarray(x, float)
        return float(x) if x.ndim == 0 else x

    return GroupScore(train_loss=out(tr), full_loss=out(full), homomorphism_error=out(hom), min_distance=out(dmin),
                      orthogonality=out(ortho), scale=out(scale), outcome=outcome)


# ---------------------------------------------------------------- outcome probabilities


@dataclass(frozen=True)
class GroupOutcomeCurve:
    """Outcome probabilities of the flow from Haar-random rotations against the training fraction.

    Each trial draws its own training set (n_train distinct samples) and its own start.

    Attributes:
        task: the group's description; k: rotation size; trials, seed.
        fracs: (F,) requested fractions; n_train: (F,) int64 samples per training set.
        outcomes: the column order, :data:`OUTCOMES`.
        counts: (F, O) int64 trials per outcome; fraction, ci_low, ci_high: (F, O) the fraction
            and its Wilson 95% interval.
        outcome: (F, trials) str per trial; train_loss, full_loss, min_distance, n_quads,
            steps: (F, trials); converged: (F, trials) bool.
        max_steps, gtol, loss_tol, distance_tol: the settings used.
    """

    task: str
    k: int
    trials: int
    seed: int
    fracs: np.ndarray
    n_train: np.ndarray
    outcomes: tuple
    counts: np.ndarray
    fraction: np.ndarray
    ci_low: np.ndarray
    ci_high: np.ndarray
    outcome: np.ndarray = field(repr=False)
    train_loss: np.ndarray = field(repr=False)
    full_loss: np.ndarray = field(repr=False)
    min_distance: np.ndarray = field(repr=False)
    n_quads: np.ndarray = field(repr=False)
    steps: np.ndarray = field(repr=False)
    converged: np.ndarray = field(repr=False)
    max_steps: int = DEFAULT_MAX_STEPS
    gtol: float = DEFAULT_GTOL
    loss_tol: float = DEFAULT_LOSS_TOL
    distance_tol: float = DEFAULT_DISTANCE_TOL


def outcome_curve(task: FiniteGroup, fracs, trials: int, seed: int = 0, *, k: int = DEFAULT_K,
                  max_steps: int = DEFAULT_MAX_STEPS, gtol: float = DEFAULT_GTOL, loss_tol: float = DEFAULT_LOSS_TOL,
                  distance_tol: float = DEFAULT_DISTANCE_TOL, progress=None) -> GroupOutcomeCurve:
    """Run ``trials`` flows per training fraction and count their outcomes.

    Fraction f uses n = round(f · N) samples; its trials draw their training sets and Haar starts
    from ``default_rng([seed, n])``, so a row does not depend on the other fractions asked for.
    ``progress(1)`` is called after each fraction.
    """
    _check_group(task)
    fr = np.atleast_1d(np.asarray(fracs, dtype=np.float64))
    require(fr.ndim == 1 and fr.size >= 1 and bool(np.all((fr > 0) & (fr <= 1))), f"fracs must lie in (0, 1], got {fracs!r}")
    trials, seed, k = as_int(trials, "trials", 1), as_int(seed, "seed", 0), as_int(k, "k", 2)
    N = task.n_samples
    n_train = np.array([task.n_train_for(frac=float(f)) for f in fr], dtype=np.int64)
    shape = (fr.size, trials)
    outcome = np.empty(shape, dtype=object)
    train_loss, full_loss, dmin = np.empty(shape), np.empty(shape), np.empty(shape)
    n_quads, steps, conv = np.empty(shape, np.int64), np.empty(shape, np.int64), np.empty(shape, bool)
    for i, n in enumerate(n_train):
        rng = np.random.default_rng([seed, int(n)])
        sets = [np.sort(rng.choice(N, int(n), replace=False)) for _ in range(trials)]
        M0 = haar_rotations((trials, task.p), k, rng)
        blocks = [group_quads(task, s) for s in sets]
        sizes = np.array([b.shape[0] for b in blocks], np.int64)
        ends = np.cumsum(sizes)
        flow = group_flow(M0, np.concatenate(blocks), quad_ranges=np.stack([ends - sizes, ends], axis=1),
                          max_steps=max_steps, gtol=gtol, n_record=2)
        score = score_matrices(task, flow.M, loss_tol=loss_tol, distance_tol=distance_tol)
        outcome[i] = classify(flow.loss, score.full_loss, score.min_distance, loss_tol=loss_tol, distance_tol=distance_tol)
        train_loss[i], full_loss[i], dmin[i] = flow.loss, score.full_loss, score.min_distance
        n_quads[i], steps[i], conv[i] = sizes, flow.steps, flow.converged
        if progress is not None:
            progress(1)
    counts = np.array([[int(np.sum(outcome[i] == o)) for o in OUTCOMES] for i in range(fr.size)], np.int64)
    low, high = wilson_interval(counts, trials)
    return GroupOutcomeCurve(
        task=task.describe(), k=k, trials=trials, seed=seed, fracs=fr, n_train=n_train, outcomes=OUTCOMES,
        counts=counts, fraction=counts / trials, ci_low=np.asarray(low), ci_high=np.asarray(high), outcome=outcome,
        train_loss=train_loss, full_loss=full_loss, min_distance=dmin, n_quads=n_quads, steps=steps, converged=conv,
        max_steps=int(max_steps), gtol=float(gtol), loss_tol=float(loss_tol), distance_tol=float(distance_tol),
    )


# ---------------------------------------------------------------- one split, many starts


@dataclass(frozen=True)
class GroupSimulation:
    """The flow of one training split of a group from B Haar-random starts (``simulate --task s3``).

    Attributes:
        split: the :class:`Split`; k: rotation size; n_quads: Q of the training set.
        flow: the :class:`GroupFlow` (loss over steps and flow time included).
        score: the :class:`GroupScore` of the final states on the full table (train loss on the split).
        outcomes: (B,) str, one of :data:`OUTCOMES`.
        fraction, ci_low, ci_high: outcome -> fraction of the B starts and its Wilson 95% bounds.
    """

    split: Split
    k: int
    n_quads: int
    flow: GroupFlow
    score: GroupScore
    outcomes: np.ndarray
    fraction: dict
    ci_low: dict
    ci_high: dict


def simulate_group(split: Split, *, trials: int = 8, seed: int = 0, k: int = DEFAULT_K,
                   max_steps: int = DEFAULT_MAX_STEPS, gtol: float = DEFAULT_GTOL, n_record: int = 60,
                   progress=None) -> GroupSimulation:
    """The flow on ``split``'s quads from ``trials`` Haar-random starts (``default_rng([seed, 1])``),
    each end state scored against the full table and classified. ``progress(n)``: as for
    :func:`group_flow`, told as n more starts are done."""
    require(isinstance(split, Split) and isinstance(split.task, FiniteGroup),
            "the matrix theory runs on a split of a FiniteGroup (e.g. make_task('s3').split(...))")
    trials, k = as_int(trials, "trials", 1), as_int(k, "k", 2)
    quads = group_quads(split.task, split.train)
    M0 = haar_rotations((trials, split.p), k, np.random.default_rng([as_int(seed, "seed", 0), 1]))
    flow = group_flow(M0, quads, max_steps=max_steps, gtol=gtol, n_record=n_record, progress=progress)
    score = score_matrices(split.task, flow.M, split.train)
    outcomes = np.atleast_1d(classify(flow.loss, score.full_loss, score.min_distance))
    counts = {o: int(np.sum(outcomes == o)) for o in OUTCOMES}
    bounds = {o: wilson_interval(counts[o], trials) for o in OUTCOMES}
    return GroupSimulation(split=split, k=k, n_quads=int(quads.shape[0]), flow=flow, score=score, outcomes=outcomes,
                           fraction={o: counts[o] / trials for o in OUTCOMES},
                           ci_low={o: bounds[o][0] for o in OUTCOMES}, ci_high={o: bounds[o][1] for o in OUTCOMES})


# ---------------------------------------------------------------- linearisation at a representation


#: A singular value of the residual Jacobian below this (relative to the largest, at least 1)
#: counts as zero. Its entries are O(1) sums of products of rotations.
_RANK_RTOL = 1e-9


def _skew_basis(k: int) -> np.ndarray:
    """(k(k−1)/2, k, k): E_ij = e_i e_jᵀ − e_j e_iᵀ for i < j, an orthonormal-up-to-√2 basis of so(k)."""
    out = []
    for i in range(k):
        for j in range(i + 1, k):
            E = np.zeros((k, k))
            E[i, j], E[j, i] = 1.0, -1.0
            out.append(E)
    return np.array(out)


def residual_jacobian(M, quads) -> np.ndarray:
    """(Q k², p s) Jacobian of the residuals R_q at M (p, k, k) in the tangent coordinates of SO(k)^p.

    Moving M_a along M_a exp(t X_a), X_a = Σ_s x_{a,s} E_s (s = 1..k(k−1)/2, :func:`_skew_basis`),
    changes R_q = M_a M_b − M_c M_d at first order by

        M_a X_a M_b + M_a M_b X_b − M_c X_c M_d − M_c M_d X_d.

    At a zero of ℓ the Riemannian Hessian of ℓ in these coordinates is (2/Q) JᵀJ (Gauss–Newton is
    exact there, the residuals vanish).
    """
    M = _check_matrices(M)
    require(M.ndim == 3, f"M must have shape (p, k, k), got {M.shape}")
    quads = _check_quads(quads, M.shape[0], allow_empty=True)
    p, k = M.shape[0], M.shape[-1]
    basis = _skew_basis(k)
    S = basis.shape[0]
    J = np.zeros((quads.shape[0], k * k, p, S))
    for row, (a, b, c, d) in enumerate(quads):
        for x, left, right, sign in ((a, M[a], M[b], 1.0), (b, M[a] @ M[b], np.eye(k), 1.0),
                                     (c, M[c], M[d], -1.0), (d, M[c] @ M[d], np.eye(k), -1.0)):
            J[row, :, x, :] += sign * (left[None] @ basis @ right[None]).reshape(S, k * k).T
    return J.reshape(quads.shape[0] * k * k, p * S)


def conjugation_directions(M) -> np.ndarray:
    """(p s, s) tangent vectors of the conjugation orbit R M_a Rᵀ at M: Y ↦ X_a = M_aᵀ Y M_a − Y.

    d/dt exp(tY) M_a exp(−tY) = Y M_a − M_a Y = M_a (M_aᵀ Y M_a − Y); one column per basis Y = E_s,
    in the coordinates of :func:`residual_jacobian`. They are null vectors of the Jacobian at every
    zero of ℓ (conjugation keeps ℓ = 0).
    """
    M = _check_matrices(M)
    k = M.shape[-1]
    basis = _skew_basis(k)
    # coordinates of a skew X in the basis E_s: x_s = X[i, j] for the pair (i, j) of E_s
    iu = np.triu_indices(k, 1)
    X = np.swapaxes(M, -1, -2)[None] @ basis[:, None] @ M[None] - basis[:, None]  # (s, p, k, k)
    return X[..., iu[0], iu[1]].reshape(basis.shape[0], -1).T


@dataclass(frozen=True)
class RepresentationTheory:
    """The matrix theory linearised at a zero-loss point M of the full table, for one training set.

    Attributes:
        n_quads: Q of the training set; n_coords: p · k(k−1)/2 tangent coordinates of SO(k)^p.
        rank: rank of the training set's residual Jacobian at M.
        nullity: n_coords − rank: first-order directions that keep every training quad fitted.
        full_nullity: the same for the full table (the tangent of the zero-loss set at M at first
            order: conjugation, and moves of M_e inside the centraliser).
        orbit_dim: dimension of the conjugation orbit at M (3 at a faithful representation of S3
            in SO(3), 0 at the constant one).
        free_directions: nullity − full_nullity, the directions the training set leaves free that
            the full table does not; locally_unique: free_directions == 0.
        rate: smallest non-zero eigenvalue of the Hessian (2/Q) JᵀJ of ℓ on the training set (the
            slowest rate at which the flow relaxes onto the zero-loss set near M; None if Q = 0).
    """

    n_quads: int
    n_coords: int
    rank: int
    nullity: int
    full_nullity: int
    orbit_dim: int
    free_directions: int
    locally_unique: bool
    rate: float | None


def representation_theory(task: FiniteGroup, M, samples=None) -> RepresentationTheory:
    """Linearise ℓ_grp of the training set ``samples`` (default: the full table) at M (p, k, k),
    which must have zero loss on the full table (a homomorphism times a commuting rotation)."""
    lin = _Linearisation(task, M)
    return lin.theory(samples)


class _Linearisation:
    """The full table's residual Jacobian at M, once; a training set's Jacobian is a subset of its
    rows (every training quad is a quad of the full table)."""

    def __init__(self, task: FiniteGroup, M):
        _check_group(task)
        M = _check_matrices(M)
        require(M.ndim == 3 and M.shape[0] == task.p, f"M must have shape ({task.p}, k, k), got {M.shape}")
        self.task = task
        full_q = group_quads(task)
        require(group_loss(M, full_q) <= DEFAULT_LOSS_TOL, "M must have zero loss on the full table (a representation)")
        k2 = M.shape[-1] ** 2
        J = residual_jacobian(M, full_q)
        self.n = J.shape[1]
        self.rows = J.reshape(full_q.shape[0], k2, self.n)
        self.index = {tuple(q): i for i, q in enumerate(full_q.tolist())}
        sv = np.linalg.svd(J, compute_uv=False)
        self.tol = _RANK_RTOL * max(1.0, float(sv[0]))
        self.full_nullity = self.n - int(np.sum(sv > self.tol))
        sv_orbit = np.linalg.svd(conjugation_directions(M), compute_uv=False)
        self.orbit = int(np.sum(sv_orbit > _RANK_RTOL * max(1.0, float(sv_orbit[0]))))

    def theory(self, samples) -> RepresentationTheory:
        q = group_quads(self.task, samples)
        if q.shape[0]:
            J = self.rows[[self.index[t] for t in map(tuple, q.tolist())]].reshape(-1, self.n)
            sv = np.linalg.svd(J, compute_uv=False)
            rank = int(np.sum(sv > self.tol))
            rate = float(2.0 * sv[rank - 1] ** 2 / q.shape[0]) if rank else None
        else:
            rank, rate = 0, None
        nullity = self.n - rank
        return RepresentationTheory(n_quads=int(q.shape[0]), n_coords=self.n, rank=rank, nullity=nullity,
                                    full_nullity=self.full_nullity, orbit_dim=self.orbit,
                                    free_directions=nullity - self.full_nullity,
                                    locally_unique=nullity == self.full_nullity, rate=rate)


def unique_probability(task: FiniteGroup, M, fracs, trials: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Probability that a random training set of round(frac · N) samples fixes M locally
    (:attr:`RepresentationTheory.locally_unique`), per fraction: (fraction, ci_low, ci_high) (F,).

    Training sets come from ``default_rng([seed, n])``, as in :func:`outcome_curve`.
    """
    lin = _Linearisation(task, M)
    fr = np.atleast_1d(np.asarray(fracs, dtype=np.float64))
    trials, seed = as_int(trials, "trials", 1), as_int(seed, "seed", 0)
    counts = []
    for f in fr:
        n = task.n_train_for(frac=float(f))
        rng = np.random.default_rng([seed, n])
        counts.append(sum(lin.theory(np.sort(rng.choice(task.n_samples, n, replace=False))).locally_unique
                          for _ in range(trials)))
    counts = np.array(counts)
    low, high = wilson_interval(counts, trials)
    return counts / trials, np.atleast_1d(low), np.atleast_1d(high)


# ---------------------------------------------------------------- representations to test against


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


# ---------------------------------------------------------------- validation


def _check_group(task) -> None:
    require(isinstance(task, FiniteGroup), f"the matrix theory needs a FiniteGroup task, got {type(task).__name__}")


def _check_sample_indices(task, samples) -> np.ndarray:
    if samples is None:
        return np.arange(task.n_samples)
    s = np.asarray(samples)
    require(s.ndim == 1 and (s.size == 0 or s.dtype.kind in "iu"), "samples must be a 1-d array of sample indices")
    s = s.astype(np.int64)
    require(s.size == 0 or (int(s.min()) >= 0 and int(s.max()) < task.n_samples),
            f"sample indices must lie in [0, {task.n_samples})")
    require(np.unique(s).size == s.size, "sample indices must be distinct")
    return s


def _check_matrices(M) -> np.ndarray:
    M = np.asarray(M, dtype=np.float64)
    require(M.ndim >= 3 and M.shape[-1] == M.shape[-2] and M.shape[-1] >= 1,
            f"matrices must have shape (..., p, k, k), got {M.shape}")
    require(bool(np.all(np.isfinite(M))), "matrices have non-finite entries")
    return M


def _check_rotations(M: np.ndarray, tol: float = 1e-8) -> None:
    k = M.shape[-1]
    ortho = np.abs(np.swapaxes(M, -1, -2) @ M - np.eye(k)).max()
    det = np.abs(np.linalg.det(M) - 1.0).max()
    require(ortho <= tol and det <= tol, f"initial matrices must be rotations in SO({k}) "
                                         f"(max |MᵀM − I| = {ortho:.2g}, max |det M − 1| = {det:.2g})")


def _check_quads(quads, p: int, allow_empty: bool = False) -> np.ndarray:
    quads = np.ascontiguousarray(np.asarray(quads).reshape(-1, 4) if np.size(quads) == 0 else quads, dtype=np.int64)
    require(quads.ndim == 2 and quads.shape[1] == 4, f"quads must have shape (Q, 4), got {quads.shape}")
    require(allow_empty or quads.shape[0] >= 1, "quads is empty: the training set has no equal-product pair")
    require(quads.size == 0 or (int(quads.min()) >= 0 and int(quads.max()) < p), f"quads must hold elements in 0..{p - 1}")
    return quads
