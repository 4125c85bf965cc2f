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
from efftheory.tasks import as_int
from efftheory.theories.group.loss import check_matrices, check_quads, check_rotations

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
    M0 = check_matrices(M0)
    M0 = np.ascontiguousarray(M0[None] if M0.ndim == 3 else M0)
    require(M0.ndim == 4, f"M0 must have shape (p, k, k) or (B, p, k, k), got {M0.shape}")
    check_rotations(M0)
    B, p = M0.shape[0], M0.shape[1]
    quads = check_quads(quads, p, allow_empty=True)
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


