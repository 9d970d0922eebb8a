"""Expected information gain of one more observation, from posterior draws.

A candidate run x yields y = mu(x, theta) + delta: the law's log loss plus noise
(a new run's effect and the observation noise, ``NoiseKernel``). With posterior
draws theta_1..M (weights w_m; uniform, or reweighted by simulated outcomes of
earlier picks), the predictive of y is the mixture sum_m w_m f(y - mu_m), and

    EIG(x) = H[p(y | x)] - E_theta H[p(y | x, theta)] = H[sum_m w_m f(. - mu_m)] - H[f]

(SCIENCE.md section 5). Nested Monte Carlo estimates the first term by sampling y
and averaging the M inner densities per sample: M x (outer samples) density
evaluations per candidate, with a bias that falls only as 1/outer. Because y is
one-dimensional and the noise density f is shared by every draw, this module
computes the mixture exactly up to a grid instead: each mu_m is split between its
two neighbouring nodes of a grid of ``GRID`` points (linear binning, which keeps
the mixture's mean), the binned weights are convolved with f by FFT, and the
entropy is a Riemann sum. Cost per candidate: 2M scatter-adds and three FFTs of
2 x GRID points, against 4000 x 4000 for nested MC at M = 4000; error: the binning
adds at most h^2/4 to the variance of a component, and the node spacing h is at most
a tenth of the noise's robust scale on every candidate of the Chinchilla benchmark
(benchmarks/bench_next.py; next.json's ``grid_step_over_noise_width`` reports h over
the kernel's half-width, itself at most 40 robust scales).

The noise kernel f is the posterior predictive of the noise, averaged over draws
(the noise scale is known far more precisely than the law's curve): so EIG is the
information about the law (the curve, and the effects of runs already in the data),
not about sigma or nu, and it is 0 where the draws agree on the curve.

About a target T (a decision quantity, one value per draw): I(T; y) = H[y] -
E_T H[y | T], with T cut at its quantiles into ``bins`` equally likely bins and
H[y | T in bin k] the entropy of bin k's draws' mixture. Coarsening T can only lose
information (data processing inequality), so this is a lower bound on I(T; y) that
tightens as the bins narrow.
"""

from __future__ import annotations

import functools
import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from scipy import special, stats

GRID = 1024  # nodes of each candidate's y grid (see module docstring for the error)
TABLE = 8193  # points of the noise density's table over [-width, width]
TAIL = 1e-5  # noise mass left beyond the kernel's half-width, on each side
CORE_WIDTHS = 40.0  # the half-width's cap, in robust (MAD) scales of the noise: a Student-t with nu = 3 has 2e-5 of its mass beyond it
_TINY = 1e-30


class NoiseKernel(NamedTuple):
    """The noise density f(delta) on log loss, tabulated on [-width, width]."""

    width: float
    density: np.ndarray  # (TABLE,) f at linspace(-width, width, TABLE), integrating to ~1
    draws: np.ndarray  # samples of delta (for simulated outcomes)

    @property
    def scale(self) -> float:
        """The noise's standard deviation (of its tabulated part)."""
        x = np.linspace(-self.width, self.width, TABLE)
        p = self.density / np.trapezoid(self.density, x)
        return float(np.sqrt(np.trapezoid(p * x**2, x)))

    def entropy(self) -> float:
        """Differential entropy H[f] in nats, from the table."""
        x = np.linspace(-self.width, self.width, TABLE)
        p = self.density / np.trapezoid(self.density, x)
        return float(-np.trapezoid(np.where(p > 0, p * np.log(np.maximum(p, _TINY)), 0.0), x))

    def log_density(self, delta: np.ndarray) -> np.ndarray:
        """log f(delta), by interpolation in the table (floored at log 1e-30 beyond its half-width)."""
        x = np.linspace(-self.width, self.width, TABLE)
        return np.log(np.maximum(np.interp(delta, x, self.density, left=0.0, right=0.0), _TINY))


def noise_kernel(sigma: np.ndarray, nu: np.ndarray, sigma_run: np.ndarray | None, *, rng: np.random.Generator, n_mix: int = 128, n_samples: int = 20000) -> NoiseKernel:
    """f(delta) = mean over draws of the density of sigma_run z + sigma t_nu (z ~ N(0, 1)).

    ``nu`` may be inf (Gaussian); ``sigma_run`` None or 0 for a branch of a run
    already in the data, whose effect is part of the curve, not of the noise.
    The average is over ``n_mix`` draws picked at random; each draw's density is the
    exact convolution of its Student-t and Normal, computed numerically on the table.
    """
    sigma, nu = np.broadcast_arrays(np.asarray(sigma, float), np.asarray(nu, float))
    run = np.zeros_like(sigma) if sigma_run is None else np.broadcast_to(np.asarray(sigma_run, float), sigma.shape)
    pick = rng.choice(sigma.size, size=min(n_mix, sigma.size), replace=False)
    s, v, r = sigma.ravel()[pick], nu.ravel()[pick], run.ravel()[pick]
    idx = rng.integers(0, s.size, n_samples)
    t = np.where(np.isfinite(v[idx]), rng.standard_t(np.where(np.isfinite(v[idx]), v[idx], 1.0)), rng.standard_normal(n_samples))
    samples = r[idx] * rng.standard_normal(n_samples) + s[idx] * t
    # Half-width: the TAIL quantile of the mixture's widest member (exact; a quantile of
    # 20k samples is too noisy that far out), but at most CORE_WIDTHS robust scales: a
    # sparse sweep leaves draws with nu < 1 whose tails would stretch every candidate's
    # grid over metres of log loss and leave its core unresolved. The mass cut off is
    # renormalised away in both entropies alike (a noise conditioned on |delta| < width).
    q = [stats.t.isf(TAIL, df) if math.isfinite(df) else stats.norm.isf(TAIL) for df in v]
    core = 1.4826 * np.median(np.abs(samples - np.median(samples)))
    width = float(min(np.max(np.asarray(q) * s + stats.norm.isf(TAIL) * r), CORE_WIDTHS * core))
    x = np.linspace(-width, width, TABLE)
    dx = x[1] - x[0]
    f = np.exp(_log_t_pdf(x[None, :] / s[:, None], v[:, None])) / s[:, None]
    # Each member's Student-t convolved with its run effect's Normal: a product in Fourier
    # space, the Normal's transform in closed form (zero-padded to twice the table).
    n_fft = 2 * TABLE
    freq = np.fft.rfftfreq(n_fft, d=dx) * 2 * np.pi
    spectrum = np.fft.rfft(f, n_fft, axis=1) * np.exp(-0.5 * (r[:, None] * freq[None, :]) ** 2)
    dens = np.maximum(np.fft.irfft(spectrum.mean(0), n_fft)[:TABLE], 0.0)
    return NoiseKernel(width, dens, samples)


def _log_t_pdf(x: np.ndarray, nu: np.ndarray) -> np.ndarray:
    """Standard Student-t log density (Normal where nu is inf); scipy's pdf is 10x slower here."""
    finite = np.isfinite(nu)
    v = np.where(finite, nu, 1.0)
    log_t = special.gammaln((v + 1) / 2) - special.gammaln(v / 2) - 0.5 * np.log(v * np.pi) - (v + 1) / 2 * np.log1p(x**2 / v)
    return np.where(finite, log_t, -0.5 * x**2 - 0.5 * np.log(2 * np.pi))


class KernelArrays(NamedTuple):
    """Noise kernels stacked for the compiled scorer: kernel k's table is ``density[k]``."""

    width: jax.Array  # (n_kernels,)
    density: jax.Array  # (n_kernels, TABLE)


def stack_kernels(kernels: tuple[NoiseKernel, ...]) -> KernelArrays:
    return KernelArrays(jnp.asarray([k.width for k in kernels], jnp.float32), jnp.asarray(np.stack([k.density for k in kernels]), jnp.float32))


def _entropy(p: jax.Array, h: jax.Array) -> jax.Array:
    """Entropy of the density whose (unnormalised) values on a grid of spacing h are p (last axis)."""
    z = p.sum(-1) * h
    plogp = jnp.where(p > _TINY, p * jnp.log(jnp.maximum(p, _TINY)), 0.0).sum(-1) * h
    return -plogp / jnp.maximum(z, _TINY) + jnp.log(jnp.maximum(z, _TINY))


def _one(mu: jax.Array, w: jax.Array, kind: jax.Array, tbin: jax.Array, kernels: KernelArrays, n_bins: int):
    """(EIG, grid step / noise half-width) of one candidate: mu (M,) log losses, w (M,) weights summing to 1."""
    width = kernels.width[kind]
    mu = mu - jnp.sum(w * mu)  # float32 keeps 7 digits of the spread, not of log L itself
    lo = jnp.min(mu) - width
    hi = jnp.max(mu) + width
    h = (hi - lo) / (GRID - 1)
    pos = (mu - lo) / h
    i0 = jnp.clip(jnp.floor(pos).astype(jnp.int32), 0, GRID - 2)
    frac = pos - i0
    flat = tbin * GRID + i0
    hist = jnp.zeros(n_bins * GRID, mu.dtype).at[flat].add(w * (1 - frac)).at[flat + 1].add(w * frac).reshape(n_bins, GRID)
    half = GRID // 2
    offsets = jnp.arange(-half, half + 1, dtype=mu.dtype) * h
    table_x = jnp.linspace(-width, width, kernels.density.shape[-1])
    kern = jnp.interp(offsets, table_x, kernels.density[kind], left=0.0, right=0.0)
    n_fft = 2 * GRID
    conv = jnp.fft.irfft(jnp.fft.rfft(hist, n_fft) * jnp.fft.rfft(kern, n_fft), n_fft)[:, half : half + GRID]
    conv = jnp.maximum(conv, 0.0)  # FFT round-off leaves tiny negatives
    h_noise = _entropy(kern, h)
    h_marginal = _entropy(conv.sum(0), h)
    if n_bins == 1:
        return h_marginal - h_noise, h / width
    mass = hist.sum(-1)
    h_given = jnp.sum(jnp.where(mass > 0, mass * _entropy(conv, h), 0.0))
    return h_marginal - h_given, h / width


@functools.partial(jax.jit, static_argnames=("n_bins",))
def eig_chunk(mu: jax.Array, w: jax.Array, kind: jax.Array, tbin: jax.Array, kernels: KernelArrays, *, n_bins: int):
    """EIG of a chunk of candidates in S worlds: mu (S, C, M) log losses per draw, w (S, M)
    draw weights (rows summing to 1), kind (C,) kernel index, tbin (S, M) target bin per
    draw (zeros about the parameters). Returns (C,) EIG averaged over the worlds and (C,)
    the largest grid step relative to the noise half-width."""
    per_world = jax.vmap(lambda ms, ws, ts: jax.vmap(lambda m, k: _one(m, ws, k, ts, kernels, n_bins))(ms, kind))
    eig, step = per_world(mu, w, tbin)
    return eig.mean(0), step.max(0)
