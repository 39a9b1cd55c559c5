"""One sampling request (DESIGN §2a): it flows unchanged from the CLI or HTTP through the API to a sampler.

A family declares which fields it reads and their defaults (``models.spec.SamplingSpec``); a field the
family does not read is an error, not silently ignored. Text fields (temperature, top-k, top-p) join
with the text families.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from genforge.core.errors import ConfigError

MAX_SAMPLE_STEPS = 10_000


@dataclass(frozen=True)
class SampleRequest:
    sampler: str | None = None  # a SAMPLERS name the family offers; None: the family's default
    sample_steps: int | None = None  # diffusion: denoising steps (1..the schedule length)
    guidance: float | None = None  # classifier-free guidance scale (1 = none); conditional families
    guidance_interval: tuple[float, float] | None = None  # guide only where t/T lies in [lo, hi]
    eta: float | None = None  # DDIM stochasticity (0 = deterministic, 1 = DDPM-like)
    truncation: float | None = None  # GANs: resample latent entries with |z| > truncation

    def given(self) -> dict[str, Any]:
        """The fields set in this request (not None)."""
        return {f.name: getattr(self, f.name) for f in fields(self) if getattr(self, f.name) is not None}

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        if out["guidance_interval"] is not None:
            out["guidance_interval"] = list(out["guidance_interval"])
        return {k: v for k, v in out.items() if v is not None}

    def merged(self, other: dict[str, Any]) -> SampleRequest:
        """This request with the fields of ``other`` filled in where this one has none."""
        return replace(self, **{k: v for k, v in other.items() if getattr(self, k) is None})


FLAGS = {"sampler": "--sampler", "sample_steps": "--sample-steps", "guidance": "--guidance",
         "guidance_interval": "--guidance-interval", "eta": "--eta", "truncation": "--truncation"}


def check_values(req: SampleRequest) -> None:
    """Ranges every family shares: one clear line per bad value."""
    def bad(name: str, why: str) -> ConfigError:
        return ConfigError(f"{FLAGS[name]} {why}, got {getattr(req, name)!r}")

    def finite(v) -> bool:
        return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)

    if req.sample_steps is not None and (isinstance(req.sample_steps, bool) or not isinstance(req.sample_steps, int)
                                         or not 1 <= req.sample_steps <= MAX_SAMPLE_STEPS):
        raise bad("sample_steps", f"must be an integer from 1 to {MAX_SAMPLE_STEPS}")
    if req.guidance is not None and not (finite(req.guidance) and 0 <= req.guidance <= 100):
        raise bad("guidance", "must be a number from 0 to 100 (1 = no guidance)")
    if req.eta is not None and not (finite(req.eta) and 0 <= req.eta <= 1):
        raise bad("eta", "must be a number from 0 to 1")
    if req.truncation is not None and not (finite(req.truncation) and 0 < req.truncation <= 10):
        raise bad("truncation", "must be a number in (0, 10]")
    if req.guidance_interval is not None:
        iv = req.guidance_interval
        if not (len(iv) == 2 and all(finite(v) for v in iv) and 0 <= iv[0] < iv[1] <= 1):
            raise bad("guidance_interval", "must be two numbers lo < hi in [0, 1]")
