"""CMA-ES in numpy (after Hansen's purecma): minimise f over R^n with a population per generation.

es = CMAES(x0, sigma=0.5, popsize=10, seed=0)
for _ in range(generations):
    xs = es.ask()
    es.tell(xs, [f(x) for x in xs])
es.best_x, es.best_f
"""

from __future__ import annotations

import numpy as np


class CMAES:
    def __init__(self, x0: np.ndarray, sigma: float, popsize: int, seed: int) -> None:
        n = len(x0)
        self.rng = np.random.default_rng(seed)
        self.mean, self.sigma, self.lam = np.asarray(x0, float), sigma, popsize
        self.mu = popsize // 2
        w = np.log(self.mu + 0.5) - np.log(np.arange(1, self.mu + 1))
        self.weights = w / w.sum()
        self.mueff = 1 / np.sum(self.weights**2)
        self.cc = (4 + self.mueff / n) / (n + 4 + 2 * self.mueff / n)
        self.cs = (self.mueff + 2) / (n + self.mueff + 5)
        self.c1 = 2 / ((n + 1.3) ** 2 + self.mueff)
        self.cmu = min(
            1 - self.c1, 2 * (self.mueff - 2 + 1 / self.mueff) / ((n + 2) ** 2 + self.mueff)
        )
        self.damps = 1 + 2 * max(0, np.sqrt((self.mueff - 1) / (n + 1)) - 1) + self.cs
        self.chin = np.sqrt(n) * (1 - 1 / (4 * n) + 1 / (21 * n**2))
        self.pc, self.ps, self.C = np.zeros(n), np.zeros(n), np.eye(n)
        self.best_x, self.best_f, self.generation = self.mean.copy(), np.inf, 0

    def ask(self) -> list[np.ndarray]:
        vals, vecs = np.linalg.eigh(self.C)
        self.B, self.D = vecs, np.sqrt(np.maximum(vals, 1e-20))
        z = self.rng.standard_normal((self.lam, len(self.mean)))
        return [self.mean + self.sigma * (self.B @ (self.D * zi)) for zi in z]

    def tell(self, xs: list[np.ndarray], fs: list[float]) -> None:
        order = np.argsort(fs)
        if fs[order[0]] < self.best_f:
            self.best_f, self.best_x = float(fs[order[0]]), xs[order[0]].copy()
        old = self.mean
        chosen = np.array([xs[i] for i in order[: self.mu]])
        self.mean = self.weights @ chosen
        y = (self.mean - old) / self.sigma
        inv_sqrt = self.B @ np.diag(1 / self.D) @ self.B.T
        self.ps = (1 - self.cs) * self.ps + np.sqrt(
            self.cs * (2 - self.cs) * self.mueff
        ) * inv_sqrt @ y
        self.generation += 1
        hsig = (
            np.linalg.norm(self.ps) / np.sqrt(1 - (1 - self.cs) ** (2 * self.generation))
            < (1.4 + 2 / (len(y) + 1)) * self.chin
        )
        self.pc = (1 - self.cc) * self.pc + hsig * np.sqrt(self.cc * (2 - self.cc) * self.mueff) * y
        steps = (chosen - old) / self.sigma
        rank_mu = (steps.T * self.weights) @ steps
        self.C = (
            (1 - self.c1 - self.cmu) * self.C
            + self.c1 * (np.outer(self.pc, self.pc) + (1 - hsig) * self.cc * (2 - self.cc) * self.C)
            + self.cmu * rank_mu
        )
        self.sigma *= np.exp((self.cs / self.damps) * (np.linalg.norm(self.ps) / self.chin - 1))
