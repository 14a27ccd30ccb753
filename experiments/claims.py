"""The claim registry: each claim id, the experiment that shows it, its criteria.

`experiments.reproduce` runs every experiment named here once and checks each
criterion against that experiment's `metrics.json`. The autoencoder claims
(1.1, 1.2) are defined here; each later group registers its claims in a module
`experiments/claims_<group>.py` that defines `CLAIMS: list[Claim]`.
"""

from __future__ import annotations

import dataclasses
import importlib
import math
import operator
from collections.abc import Callable, Mapping
from pathlib import Path

_OPS: dict[str, Callable[[float, float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}


@dataclasses.dataclass(frozen=True)
class Criterion:
    """`lhs op rhs`, where lhs is a metric, or the difference of two metrics, and rhs a number.

    Attributes:
      metric: the metric on the left.
      op: one of '<', '<=', '>', '>='.
      threshold: the number on the right.
      minus: optional second metric subtracted from `metric` (for "a clearly above b").
      why: one line that says what the comparison shows.
      experiment: where the metric comes from, when not the claim's own experiment.
      profiles: the profiles whose budget can show it; in the others the report
        lists it as not checked (e.g. mode coverage, which needs thousands of GAN
        steps over ten seeds: the quick profile only proves the code path).
    """

    metric: str
    op: str
    threshold: float
    minus: str | None = None
    why: str = ""
    experiment: str | None = None
    profiles: tuple[str, ...] = ("quick", "full")

    def __post_init__(self):
        if self.op not in _OPS:
            raise ValueError(f"unknown comparison {self.op!r}")
        if not self.profiles or any(p not in ("quick", "full") for p in self.profiles):
            raise ValueError(f"profiles must be a non-empty subset of quick/full: {self.profiles}")

    @property
    def lhs(self) -> str:
        return self.metric if self.minus is None else f"{self.metric} - {self.minus}"

    @property
    def text(self) -> str:
        return f"{self.lhs} {self.op} {self.threshold:g}"

    def value(self, metrics: Mapping[str, float]) -> float:
        value = float(metrics[self.metric])
        if self.minus is not None:
            value -= float(metrics[self.minus])
        return value

    def passes(self, value: float) -> bool:
        """Whether a measured left-hand side meets the criterion (NaN fails)."""
        return (not math.isnan(value)) and _OPS[self.op](value, self.threshold)

    def check(self, metrics: Mapping[str, float]) -> tuple[float | None, bool]:
        """(measured value or None if missing, passed); NaN and missing metrics fail."""
        try:
            value = self.value(metrics)
        except KeyError:
            return None, False
        return value, self.passes(value)


@dataclasses.dataclass(frozen=True)
class Claim:
    """A claim of docs/claims.md made executable.

    Attributes:
      id: the claim id, e.g. '1.1'.
      statement: the claim in one sentence.
      experiment: the module under `experiments/` whose metrics.json it reads.
      criteria: all must pass for the claim to PASS.
      tests: the test files that prove the formulas behind it.
      figures: figure file names (in the experiment's workdir) the report links.
      notes: what a reader should know to judge the result (definitions, caveats).
    """

    id: str
    statement: str
    experiment: str
    criteria: tuple[Criterion, ...]
    tests: tuple[str, ...] = ()
    figures: tuple[str, ...] = ()
    notes: str = ""


def _pca_criteria() -> tuple[Criterion, ...]:
    out = []
    for k in (2, 8, 32):
        for v in ("tied", "untied"):
            out.append(
                Criterion(
                    f"max_principal_angle_deg_{v}_k{k}", "<", 1.0, why="AE span = PCA subspace"
                )
            )
            out.append(
                Criterion(f"recon_mse_ratio_{v}_k{k}", "<=", 1.001, why="AE error = PCA error")
            )
        out.append(
            Criterion(
                f"orthonormality_error_untied_k{k}", ">", 0.1, why="untied basis not orthonormal"
            )
        )
        out.append(
            Criterion(
                f"orthonormality_error_tied_k{k}", "<", 0.05, why="tied optimum: orthonormal rows"
            )
        )
        for v in ("tied", "untied"):
            out.append(
                Criterion(f"min_axis_angle_deg_{v}_k{k}", ">", 1.0, why="not the principal axes")
            )
    return tuple(out)


CLAIMS: list[Claim] = [
    Claim(
        id="1.1",
        statement=(
            "A linear autoencoder trained on squared error spans the PCA subspace "
            "(same reconstruction error) but does not recover the principal axes."
        ),
        experiment="pca_vs_linear_ae",
        criteria=_pca_criteria(),
        tests=("tests/test_linear.py",),
        figures=("components.png", "principal_angles.png"),
        notes=(
            "Centred MNIST (4,000 training digits), full-batch L-BFGS in float64. The untied "
            "AE's basis is its decoder columns D^T, which span the reconstructions D E x; its "
            "encoder rows are only determined on the data's support (constant pixels get no "
            "gradient). Expected and measured: the untied basis is far from orthonormal, the "
            "tied optimum makes W^T W the projector onto the PCA subspace so its rows come out "
            "orthonormal without any constraint, and neither basis is the principal axes "
            "(they are a rotation of them within the subspace)."
        ),
    ),
    Claim(
        id="1.2",
        statement=(
            "A plain autoencoder's latent space is irregular: codes away from the "
            "training codes decode to images a classifier is unsure of and that lie "
            "far from real digits."
        ),
        experiment="ae_latent_space",
        criteria=(
            Criterion("classifier_test_accuracy", ">", 0.9, why="the judge is competent"),
            Criterion(
                "classifier_confidence_recon", ">", 0.05, minus="classifier_confidence_gaussian",
                why="reconstructions clearly more digit-like than Gaussian samples",
            ),
            Criterion(
                "classifier_confidence_recon", ">", 0.05, minus="classifier_confidence_outside",
                why="reconstructions clearly more digit-like than outside points",
            ),
            Criterion(
                "nn_distance_gaussian", ">", 0.0, minus="nn_distance_recon",
                why="Gaussian samples lie farther from real digits",
            ),
            Criterion(
                "nn_distance_outside", ">", 0.0, minus="nn_distance_recon",
                why="outside points lie farther from real digits",
            ),
        ),
        tests=("tests/test_autoencoder.py", "tests/test_classifier.py"),
        figures=("latent_plane.png", "interpolations.png", "samples.png"),
        notes=(
            "Criteria are on the 16-D latent AE. 'gaussian': samples from a Gaussian fitted to "
            "the training codes; 'outside': points at 1.5x the largest Mahalanobis radius of "
            "the training codes. The 2-D AE (metrics suffixed _z2) does not show the effect: "
            "its outside points decode to bold, saturated strokes that the classifier rates "
            "confidently, and its Gaussian samples lie as close to real digits as its "
            "reconstructions or closer; see metrics.json. Distances to the nearest training "
            "image favour blurry images: reconstructions sit closer than real test digits do "
            "(nn_distance_test), so the distance gaps understate the difference."
        ),
    ),
]  # fmt: skip


# Each later claim group lives in its own module, `experiments/claims_<group>.py`,
# defining `CLAIMS: list[Claim]`; they are gathered here in claim-id order.
for _path in sorted(Path(__file__).parent.glob("claims_*.py")):
    CLAIMS.extend(importlib.import_module(f"experiments.{_path.stem}").CLAIMS)
CLAIMS.sort(key=lambda c: tuple(int(p) for p in c.id.split(".")))


def experiments_in(claims: list[Claim]) -> list[str]:
    """The experiments the claims need, each once, in registry order."""
    seen: list[str] = []
    for claim in claims:
        for name in [claim.experiment] + [c.experiment for c in claim.criteria if c.experiment]:
            if name not in seen:
                seen.append(name)
    return seen
