"""GPU prices and cost estimates.

Prices come from, in order: the experiment's `price_per_hour`, the workspace's live rates
(`modal billing rates --json`, read by the Modal backend when available), or the table
below. Every estimate says which source it used. The table is Modal's published on-demand
rate per GPU-hour; CPU and memory are charged on top per core-hour and GiB-hour.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from trainward.config.experiment import Experiment
from trainward.config.values import gpu_count
from trainward.core.contracts import CostEstimate, ResourcePlan

TABLE_DATE = "2026-11"
#: USD per GPU-hour (Modal on-demand list prices).
GPU_PER_HOUR: dict[str, float] = {
    "B200": 6.25,
    "H200": 4.54,
    "H100": 3.95,
    "H100!": 3.95,
    "A100-80GB": 2.50,
    "A100": 2.10,
    "A100-40GB": 2.10,
    "L40S": 1.95,
    "A10G": 1.10,
    "A10": 1.10,
    "L4": 0.80,
    "T4": 0.59,
}
CPU_CORE_PER_HOUR = 0.0473
MEMORY_GIB_PER_HOUR = 0.0080


@dataclass(frozen=True)
class Price:
    per_hour: float
    source: str  # "config", "modal-billing-rates", "table (2026-11)", "local (free)"
    gpu: str | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def price_for(
    exp: Experiment,
    backend: str,
    live_rates: dict[str, float] | None = None,
    resources: ResourcePlan | None = None,
) -> Price:
    """The hourly price of one run of `exp` on `backend` (at `resources`' size when given:
    an adopted Modal function's own decorator decides it)."""
    gpu = resources.gpu if resources else exp.resources.gpu
    cpu = resources.cpu if resources else exp.resources.cpu
    memory = resources.memory_mb if resources else exp.resources.memory
    if exp.price_per_hour is not None:
        return Price(exp.price_per_hour, "config", gpu)
    if backend == "local":
        return Price(0.0, "local (your own machine)", gpu)
    live = live_rates or {}
    cpu_rate, mem_rate = live.get("cpu", CPU_CORE_PER_HOUR), live.get("memory", MEMORY_GIB_PER_HOUR)
    base = cpu * cpu_rate + memory / 1024 * mem_rate
    if not gpu:
        source = "modal-billing-rates" if "cpu" in live else f"table ({TABLE_DATE})"
        return Price(round(base, 4), f"{source}, CPU only", None)
    kind, count = gpu.split(":")[0], gpu_count(gpu)
    if kind in live:
        return Price(round(live[kind] * count + base, 4), "modal-billing-rates", gpu)
    return Price(round(GPU_PER_HOUR[kind] * count + base, 4), f"table ({TABLE_DATE})", gpu)


def table_price(config: dict[str, Any]) -> tuple[float | None, str]:
    """(USD per hour, source) for a run known only by its config as plain data (a W&B run's
    config): the price table for its backend and resources; None when it names none."""
    res = config.get("resources") if isinstance(config.get("resources"), dict) else None
    if res is None:
        return None, "unknown"
    if config.get("backend") == "local":
        return 0.0, "local (your own machine)"
    gpu = res.get("gpu")
    base = float(res.get("cpu") or 0) * CPU_CORE_PER_HOUR
    base += float(res.get("memory") or 0) / 1024 * MEMORY_GIB_PER_HOUR
    if not gpu:
        return round(base, 4), f"table ({TABLE_DATE}), CPU only"
    kind, count = str(gpu).split(":")[0], gpu_count(str(gpu))
    if kind not in GPU_PER_HOUR:
        return None, "unknown"
    return round(GPU_PER_HOUR[kind] * count + base, 4), f"table ({TABLE_DATE})"


def cost(price: Price, seconds: float | None) -> float | None:
    if seconds is None:
        return None
    return round(price.per_hour * seconds / 3600.0, 4)


def gpu_hours(exp: Experiment, seconds: float) -> float:
    return gpu_count(exp.resources.gpu) * seconds / 3600.0


def estimate(
    exp: Experiment,
    backend: str,
    *,
    expected_s: float | None,
    live_rates: dict[str, float] | None = None,
    resources: ResourcePlan | None = None,
) -> CostEstimate:
    """The launch plan's cost block: hourly price, worst case, and the expectation.

    `expected_s` is the runtime of an earlier finished run of the same config when one is
    known, else None. The worst case is every attempt at its timeout, or the run's
    max_runtime when that is shorter.
    """
    price = price_for(exp, backend, live_rates, resources)
    timeout = resources.timeout_s if resources else exp.timeout_s
    attempts = exp.resources.retries + 1
    worst = timeout * attempts
    basis = f"worst case: timeout {timeout} s x {attempts} attempt(s)"
    if resources and resources.max_runtime_s and resources.max_runtime_s < worst:
        worst, basis = (
            resources.max_runtime_s,
            f"worst case: max_runtime {resources.max_runtime_s} s",
        )
    return CostEstimate(
        price_per_hour=price.per_hour,
        price_source=price.source,
        gpu=price.gpu,
        expected_seconds=expected_s,
        expected_usd=cost(price, expected_s),
        max_usd_per_attempt=cost(price, timeout),
        max_usd=cost(price, worst),
        max_gpu_hours=round(gpu_count(price.gpu) * worst / 3600.0, 3),
        basis="expected from an earlier run of this config" if expected_s else basis,
    )
