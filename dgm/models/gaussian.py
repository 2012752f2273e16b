"""Gaussian density models: the baseline every other density is compared to.

log p(x) = −½ (x − μ)ᵀ Σ⁻¹ (x − μ) − ½ log det(2π Σ), with Σ = L Lᵀ (full) or diag(σ²).
Both have a closed-form maximum-likelihood fit (`fit`) and are also trainable by gradient.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from dgm.distributions import standard_normal
from dgm.errors import DgmError
from dgm.models.base import GenerativeModel
from dgm.registry import MODELS


class _Gaussian(GenerativeModel):
    """Shared parts: μ, the Cholesky factor L of Σ (log-diagonal kept unconstrained), sampling."""

    density = "exact"
    default_steps = 0  # the closed-form fit is the maximum-likelihood estimate
    may_be_zero = (*GenerativeModel.may_be_zero, "ridge")  # no ridge: Σ̂ as estimated

    def __init__(self, event_shape: tuple[int, ...], *, init: str = "data", ridge: float = 1e-6):
        super().__init__(event_shape)
        if init not in ("data", "standard"):
            raise ValueError(f"init must be 'data' or 'standard', got {init!r}")
        if not ridge >= 0:
            raise ValueError(f"ridge must be non-negative, got {ridge}")
        self.init, self.ridge = init, ridge
        self.loc = nn.Parameter(torch.zeros(self.dim))
        self.log_diag = nn.Parameter(torch.zeros(self.dim))

    def scale_tril(self) -> Tensor:
        """The lower-triangular L with Σ = L Lᵀ, shape (D, D)."""
        raise NotImplementedError

    def sample(self, n: int, c: Tensor | None = None) -> Tensor:
        """x = μ + L z with z ~ N(0, I)."""
        z = standard_normal((self.dim,), self.loc).sample((n,))
        return (self.loc + z @ self.scale_tril().T).reshape(n, *self.event_shape)

    def log_prob(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        r = (x.reshape(x.shape[0], -1) - self.loc).T  # (D, B)
        white = torch.linalg.solve_triangular(self.scale_tril(), r, upper=False)  # L⁻¹(x − μ)
        return -0.5 * white.square().sum(0) - self.log_diag.sum() - 0.5 * self.dim * math.log(2 * math.pi)

    def fit(self, x: Tensor) -> _Gaussian:
        """Set μ, Σ to the maximum-likelihood estimates μ̂ = mean(x), Σ̂ = cov(x) (1/N) + ridge·I."""
        x = x.reshape(x.shape[0], -1).to(self.loc)
        mu = x.mean(0)
        cov = (x - mu).T @ (x - mu) / x.shape[0]
        try:
            self._set(mu, cov + self.ridge * torch.eye(self.dim, dtype=x.dtype, device=x.device))
        except torch.linalg.LinAlgError:
            raise DgmError("the sample covariance is singular; increase model_args.ridge") from None
        return self

    def initialize(self, x: Tensor, c: Tensor | None = None) -> None:
        if self.init == "data":
            self.fit(x)

    def _set(self, mu: Tensor, cov: Tensor) -> None:
        raise NotImplementedError


@MODELS.register("gaussian", "full-covariance Gaussian, closed-form MLE init (baseline)")
class Gaussian(_Gaussian):
    """Creates a full-covariance Gaussian N(μ, L Lᵀ), L lower triangular with positive diagonal.

    Example:
        >>> import torch
        >>> Gaussian((2,)).log_prob(torch.zeros(5, 2)).shape
        torch.Size([5])
    """

    def __init__(self, event_shape: tuple[int, ...], *, init: str = "data", ridge: float = 1e-6):
        super().__init__(event_shape, init=init, ridge=ridge)
        self.tril = nn.Parameter(torch.zeros(self.dim, self.dim))

    def scale_tril(self) -> Tensor:
        return torch.tril(self.tril, -1) + torch.diag(self.log_diag.exp())

    def _set(self, mu: Tensor, cov: Tensor) -> None:
        chol = torch.linalg.cholesky(cov)
        with torch.no_grad():
            self.loc.copy_(mu)
            self.tril.copy_(torch.tril(chol, -1))
            self.log_diag.copy_(chol.diagonal().log())


@MODELS.register("diag-gaussian", "diagonal Gaussian, closed-form MLE init (baseline)")
class DiagonalGaussian(_Gaussian):
    """Creates a diagonal Gaussian N(μ, diag(σ²)) with log σ unconstrained.

    Example:
        >>> import torch
        >>> DiagonalGaussian((2,)).log_prob(torch.zeros(5, 2)).shape
        torch.Size([5])
    """

    def scale_tril(self) -> Tensor:
        return torch.diag(self.log_diag.exp())

    def log_prob(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        # Elementwise, O(D) rather than a triangular solve.
        z = (x.reshape(x.shape[0], -1) - self.loc) / self.log_diag.exp()
        return -0.5 * z.square().sum(1) - self.log_diag.sum() - 0.5 * self.dim * math.log(2 * math.pi)

    def sample(self, n: int, c: Tensor | None = None) -> Tensor:
        z = standard_normal((self.dim,), self.loc).sample((n,))
        return (self.loc + z * self.log_diag.exp()).reshape(n, *self.event_shape)

    def _set(self, mu: Tensor, cov: Tensor) -> None:
        with torch.no_grad():
            self.loc.copy_(mu)
            self.log_diag.copy_(0.5 * cov.diagonal().log())
