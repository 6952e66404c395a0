"""Validity of medselect's statistics: coverage, false-promotion rate and power, old vs new.

Run: ``.venv/bin/python benchmarks/bench_validity.py [--quick] [--reps 1000] [--json PATH]``
(about 2 minutes on 2 cores; ``--quick``: 100 repetitions per row, a smoke run; ``--workers``:
processes, default 2; ``--only SCENARIO ...``: some rows only).

A seeded simulation that anyone can rerun proves or refutes each claim the statistics make
(issue 12, part 5; DESIGN.md, "Statistics"). Every row is repeated ``--reps`` times on fresh
data and prints the OLD behaviour (medselect before commit e8784bb: the *case* as the unit,
re-implemented below in a few lines of numpy and labelled ``old_``) beside the NEW one
(medselect's public API, called as a user would: :func:`medselect.rank.leaderboard`,
:func:`medselect.rank.bbc`, :func:`medselect.registry.evaluate_gate`), each with its
Monte-Carlo standard error, the target and whether the new figure meets it.

The simulation (realistic for Dice of a knee MR structure such as cartilage; one model m, one
patient p, one slice s of that patient)::

    dice[m, p, s] = clip(mu_m + site_p + P_p + M_mp + S_ps + E_mps, 0, 1)

    mu_m   model's mean quality, 0.85 (a candidate truly better by 0.02 Dice: mu shifted so that
           the true mean difference *after clipping* is 0.020)
    site_p offset of the patient's site, shared by models: 0 (A), -0.04 (B), +0.02 (C),
           -0.02 (D); only rows (b) have more than site A
    P_p    patient effect shared by every model (anatomy, pathology, image quality), SD 0.07
    M_mp   model-by-patient effect (a model suits some patients better), SD 0.02
    S_ps   slice difficulty shared by every model, SD 0.02
    E_mps  a model's own slice noise, SD 0.015 (S + E: slice SD 0.025 for one model)

so slices of one patient correlate at 0.89 for one model, and a paired per-case difference
(SD sqrt(2) * 0.025 = 0.035 per case) still correlates at 0.64 within a patient. About 2.5 % of
values are clipped at 1. What it does not model: a long left tail of failed cases (a few Dice
near 0), which would make small-sample intervals cover less than shown here. The true mean of
a model is that of the population, computed once by a large Monte-Carlo draw of the same model
(1,000,000 patients x 4 slices); with several sites of fixed sizes it is the sites' true means
weighted by their numbers of cases, the quantity a stratified design estimates.

Classification (rows c): each patient has one class (half of the patients positive), all of
their images share it; a model's score is ``sigmoid(1.85 * y + P + M + S + E)`` on the logit
scale with SDs 1.0 (patient, shared), 0.5 (model-by-patient), 0.5 (image, shared) and 0.3
(model-by-image), a true AUC of about 0.85 (Monte-Carlo, 2,000,000 images per class). AUC is a
set metric: per-case ``class_probability`` rows labelled by class, a ``reference`` attribute.

Targets: coverage >= 93 %; a false-promotion rate <= alpha + 2 Monte-Carlo SE, alpha being what
the gate is configured to spend on that look (the first look at a reference set under the
default geometric spending: 0.05 / 2 = 0.025; a best-of-8 candidate is tested at 0.025 / 8 so
that the look as a whole still spends 0.025); power >= 80 %; bias of a chosen model's figure
within 2 Monte-Carlo SE of 0; the equivalence rules as stated in each row. The MC SE of a rate
p is sqrt(p (1 - p) / reps), that of a mean bias sd / sqrt(reps); a false-promotion target
uses the SE at alpha itself.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one thread per worker process: the pool does the rest

import argparse  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from dataclasses import dataclass  # noqa: E402

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from scipy import stats  # noqa: E402

import medselect.rank as rank  # noqa: E402
from medselect.metrics import EQUIVALENCE_MARGINS, SET_METRICS, directions  # noqa: E402
from medselect.rank import Standing, Statistics, leaderboard, metric_matrix  # noqa: E402
from medselect.registry import GateCriteria, MetricMargin, evaluate_gate  # noqa: E402

SEED = 12  # issue 12; every repetition's data seed is (SEED, row, repetition)
N_RESAMPLES = 1000  # bootstrap resamples of every interval and test, old and new
CONFIDENCE = 0.95
MARGIN = EQUIVALENCE_MARGINS["dice"]  # the default equivalence margin of Dice
TIGHT_MARGIN = 0.01  # a stricter margin a user may set: how many patients it needs
COVERAGE_TARGET = 0.93
POWER_TARGET = 0.80
EQUIVALENT_TARGET = 0.80

MU = 0.85
SD_PATIENT, SD_MODEL_PATIENT, SD_SLICE, SD_MODEL_SLICE = 0.07, 0.02, 0.02, 0.015
SITE_OFFSET = {"A": 0.0, "B": -0.04, "C": 0.02, "D": -0.02}
TRUE_GAIN = 0.02  # a truly better candidate, after clipping

AUC_SEPARATION = 1.85
AUC_SD = (1.0, 0.5, 0.5, 0.3)  # patient, model-by-patient, image, model-by-image (logits)
POSITIVE, NEGATIVE = "thinning", "normal"

CRITERIA = GateCriteria(MetricMargin("dice"), n_resamples=N_RESAMPLES)
LOOK_ALPHA = CRITERIA.look(0).budget.next_alpha  # what the first look spends: 0.025


# --- the simulation ---------------------------------------------------------------------------

@dataclass(frozen=True)
class Draw:
    """One simulated case set: values (n_cases, n_models) and each case's patient and site."""

    values: np.ndarray
    patients: np.ndarray
    sites: np.ndarray
    reference: np.ndarray | None = None  # classification: each case's class name


def draw_dice(rng: np.random.Generator, mus: np.ndarray, sites: dict[str, int],
              slices: int) -> Draw:
    """Dice of ``len(mus)`` models on ``sites[s]`` patients at each site, ``slices`` each."""
    site = np.repeat(list(sites), list(sites.values()))
    n_patients, n_models = len(site), len(mus)
    offset = np.array([SITE_OFFSET[s] for s in site])
    patient = (offset + rng.normal(0, SD_PATIENT, n_patients))[:, None] + rng.normal(
        0, SD_MODEL_PATIENT, (n_patients, n_models))
    per_case = (np.repeat(patient, slices, axis=0)
                + rng.normal(0, SD_SLICE, (n_patients * slices, 1))
                + rng.normal(0, SD_MODEL_SLICE, (n_patients * slices, n_models)))
    ids = np.array([f"p{i:03d}" for i in range(n_patients)])
    return Draw(np.clip(mus[None, :] + per_case, 0, 1), np.repeat(ids, slices),
                np.repeat(site, slices))


def draw_scores(rng: np.random.Generator, n_models: int, n_patients: int,
                images: int) -> Draw:
    """Probabilities of the positive class from ``n_models`` equally good classifiers; the
    first half of the patients are positive."""
    sd_p, sd_mp, sd_s, sd_ms = AUC_SD
    positive = np.arange(n_patients) < n_patients // 2
    patient = (AUC_SEPARATION * positive + rng.normal(0, sd_p, n_patients))[:, None] + \
        rng.normal(0, sd_mp, (n_patients, n_models))
    logit = (np.repeat(patient, images, axis=0)
             + rng.normal(0, sd_s, (n_patients * images, 1))
             + rng.normal(0, sd_ms, (n_patients * images, n_models)))
    ids = np.array([f"p{i:03d}" for i in range(n_patients)])
    reference = np.where(np.repeat(positive, images), POSITIVE, NEGATIVE)
    return Draw(1 / (1 + np.exp(-logit)), np.repeat(ids, images),
                np.full(n_patients * images, "A"), reference)


def models(n: int, prefix: str = "m") -> list[str]:
    return [f"{prefix}{j}" for j in range(n)]


def dice_table(draw: Draw, names: list[str]) -> pd.DataFrame:
    """The per-case table (medselect.casetable) of a Dice draw."""
    n_cases, n_models = draw.values.shape
    cases = np.array([f"c{i:04d}" for i in range(n_cases)])
    return pd.DataFrame({
        "model": np.repeat(names, n_cases), "case_id": np.tile(cases, n_models),
        "metric": "dice", "label": "mean", "value": draw.values.T.ravel(),
        "patient_id": np.tile(draw.patients, n_models), "site": np.tile(draw.sites, n_models)})


def class_table(draw: Draw, names: list[str]) -> pd.DataFrame:
    """The per-case table of a classification draw: ``class_probability`` per class."""
    n_cases, n_models = draw.values.shape
    cases = np.array([f"c{i:04d}" for i in range(n_cases)])
    parts = [pd.DataFrame({
        "model": np.repeat(names, n_cases), "case_id": np.tile(cases, n_models),
        "metric": "class_probability", "label": label, "value": p.T.ravel(),
        "patient_id": np.tile(draw.patients, n_models), "site": np.tile(draw.sites, n_models),
        "reference": np.tile(draw.reference, n_models)})
        for label, p in ((POSITIVE, draw.values), (NEGATIVE, 1 - draw.values))]
    return pd.concat(parts, ignore_index=True)


@dataclass(frozen=True)
class Truth:
    """Population figures, from one large Monte-Carlo draw of the simulation model."""

    dice: dict[float, float]  # true mean Dice at each mu + site offset used
    gain_shift: float  # mu shift giving a true mean improvement of TRUE_GAIN
    auc: float


def truth(seed: int = SEED) -> Truth:
    rng = np.random.default_rng([seed, 999])
    n_patients, slices = 1_000_000, 4
    z = (np.repeat(rng.normal(0, SD_PATIENT, n_patients)
                   + rng.normal(0, SD_MODEL_PATIENT, n_patients), slices)
         + rng.normal(0, SD_SLICE, n_patients * slices)
         + rng.normal(0, SD_MODEL_SLICE, n_patients * slices))

    def mean_at(mu: float) -> float:
        return float(np.clip(mu + z, 0, 1).mean())

    low, high = TRUE_GAIN, 2 * TRUE_GAIN  # common random numbers: a smooth bisection
    base = mean_at(MU)
    for _ in range(40):
        mid = (low + high) / 2
        low, high = (mid, high) if mean_at(MU + mid) - base < TRUE_GAIN else (low, mid)
    shift = (low + high) / 2
    levels = {MU + o for o in SITE_OFFSET.values()} | {MU + shift, MU - 0.3}
    dice = {round(mu, 6): mean_at(mu) for mu in levels}

    n = 2_000_000
    sd = float(np.sqrt(np.sum(np.square(AUC_SD))))
    negatives = np.sort(rng.normal(0, sd, n))
    positives = AUC_SEPARATION + rng.normal(0, sd, n)
    auc = float(np.searchsorted(negatives, positives).mean() / n)
    return Truth(dice, shift, auc)


def true_mean(t: Truth, draw: Draw, mu: float = MU) -> float:
    """The design's true mean: each site's true mean weighted by its number of cases."""
    sites, counts = np.unique(draw.sites, return_counts=True)
    return float(sum(c * t.dice[round(mu + SITE_OFFSET[s], 6)]
                     for s, c in zip(sites, counts, strict=True)) / counts.sum())


# --- OLD behaviour: medselect before e8784bb, the case as the unit ------------------------------
# (git show da59f3d:src/medselect/rank/bootstrap.py, da59f3d:src/medselect/registry/gate.py,
#  da59f3d:src/medselect/rank/leaderboard.py)

def old_resample_index(strata: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """OLD: cases drawn with replacement within each site (unstratified if a site has one
    case), shape (N_RESAMPLES, n_cases)."""
    n = len(strata)
    codes, counts = np.unique(strata, return_counts=True)
    if counts.min() < 2:
        return rng.integers(0, n, size=(N_RESAMPLES, n))
    members = [np.flatnonzero(strata == c) for c in codes]
    return np.concatenate([m[rng.integers(0, len(m), size=(N_RESAMPLES, len(m)))]
                           for m in members], axis=1)


def old_percentile(samples: np.ndarray) -> np.ndarray:
    """OLD: the plain percentile interval, (2, n_columns)."""
    tail = 100 * (1 - CONFIDENCE) / 2
    return np.nanpercentile(samples, [tail, 100 - tail], axis=0)


def old_mean_ci(values: np.ndarray, strata: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """OLD: interval of every model's mean Dice from a bootstrap of cases."""
    return old_percentile(values[old_resample_index(strata, rng)].mean(axis=1))


def old_gate(candidate: np.ndarray, champion: np.ndarray, strata: np.ndarray,
             rng: np.random.Generator, margin: float = 0.0) -> bool:
    """OLD gate: promote when the lower bound of the two-sided 95 % percentile interval of the
    mean per-case improvement (cases resampled) is above the margin."""
    return bool(old_mean_ci((candidate - champion)[:, None], strata, rng)[0, 0] > margin)


def old_auc(scores: np.ndarray, positive: np.ndarray, index: np.ndarray) -> np.ndarray:
    """AUC of every model on every resample of cases (rank-sum; continuous scores have no
    ties between classes): (n_resamples, n_models)."""
    y = positive[index]
    n1 = y.sum(axis=1)[:, None]
    n0 = index.shape[1] - n1
    out = []
    for j in range(scores.shape[1]):
        ranks = np.argsort(np.argsort(scores[index, j], axis=1), axis=1) + 1
        out.append((ranks * y).sum(axis=1)[:, None] - n1 * (n1 + 1) / 2)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.hstack(out) / (n1 * n0)


def old_best_group(values: np.ndarray, alpha: float = 0.05) -> np.ndarray:
    """OLD best group: the top model (by mean) and every model not significantly worse by a
    two-sided Wilcoxon test on per-case differences, Holm-corrected. True where in it."""
    top = int(np.argmax(values.mean(axis=0)))
    others = [j for j in range(values.shape[1]) if j != top]
    p = np.array([stats.wilcoxon(values[:, top] - values[:, j]).pvalue for j in others])
    order = np.argsort(p)
    adjusted = np.empty_like(p)
    adjusted[order] = np.minimum(1, np.maximum.accumulate((len(p) - np.arange(len(p)))
                                                          * p[order]))
    worse = (adjusted < alpha) & ((values[:, [top]] - values[:, others]).mean(axis=0) > 0)
    group = np.ones(values.shape[1], dtype=bool)
    group[others] = ~worse
    return group


# --- the repetitions of each row ----------------------------------------------------------------

def covers(low: float, high: float, value: float) -> float:
    return float(low <= value <= high)


def statistics(seed: int) -> Statistics:
    return Statistics(n_resamples=N_RESAMPLES, confidence=CONFIDENCE, seed=seed)


def criteria(seed: int, metric: MetricMargin | None = None) -> GateCriteria:
    return GateCriteria(metric or MetricMargin("dice"), n_resamples=N_RESAMPLES, seed=seed)


def rep_ci(rng, seed, t, *, sites: dict[str, int], slices: int) -> dict[str, float]:
    """One model: does the 95 % CI of its mean Dice cover the true mean?"""
    draw = draw_dice(rng, np.array([MU]), sites, slices)
    target = true_mean(t, draw)
    low, high = old_mean_ci(draw.values, draw.sites, rng)[:, 0]
    row = leaderboard(dice_table(draw, ["m0"]), "dice", "higher",
                      statistics=statistics(seed)).rows[0]
    return {"old": covers(low, high, target), "new": covers(row.ci_low, row.ci_high, target)}


def rep_chosen(rng, seed, t, *, n_models: int = 8) -> dict[str, float]:
    """8 equal models, 10 patients x 8 slices: the chosen model's CI and bias. OLD: chosen
    on the set that reports it. NEW: chosen on a validation set, reported on the test set;
    NEW (BBC): chosen on the same set, figure and interval bias-corrected."""
    names, sites = models(n_models), {"A": 10}
    test = draw_dice(rng, np.full(n_models, MU), sites, 8)
    validation = draw_dice(rng, np.full(n_models, MU), sites, 8)
    target = true_mean(t, test)
    top = int(np.argmax(test.values.mean(axis=0)))
    low, high = old_mean_ci(test.values[:, [top]], test.sites, rng)[:, 0]
    out = {"old": covers(low, high, target), "bias_old": test.values[:, top].mean() - target}

    chosen = leaderboard(dice_table(validation, names), "dice", "higher", margin=MARGIN,
                         statistics=statistics(seed)).best
    confirm = dice_table(test, names)
    row = leaderboard(confirm[confirm["model"] == chosen], "dice", "higher",
                      statistics=statistics(seed)).rows[0]
    out |= {"new_sep": covers(row.ci_low, row.ci_high, target),
            "bias_sep": row.aggregate - target, "width_old": high - low,
            "width_sep": row.ci_high - row.ci_low}
    if hasattr(rank, "bbc"):
        corrected = rank.bbc(metric_matrix(confirm, "dice", "higher"),
                             statistics=statistics(seed))
        out |= {"new_bbc": covers(corrected.ci_low, corrected.ci_high, target),
                "bias_bbc": corrected.corrected - target,
                "width_bbc": corrected.ci_high - corrected.ci_low}
    return out


def rep_gate(rng, seed, t, *, n_candidates: int, patients: int, slices: int,
             gain: bool = False) -> dict[str, float]:
    """Candidates of equal quality (or one truly better by TRUE_GAIN) against a champion:
    promoted? With several candidates the best on the reference set is gated, the NEW gate
    with ``chosen_from``."""
    mus = np.full(n_candidates + 1, MU)
    if gain:
        mus[1:] += t.gain_shift
    draw = draw_dice(rng, mus, {"A": patients}, slices)
    names = ["champion", *models(n_candidates, "cand")]
    best = 1 + int(np.argmax(draw.values[:, 1:].mean(axis=0)))
    old = old_gate(draw.values[:, best], draw.values[:, 0], draw.sites, rng)
    crit = criteria(seed)
    decision = evaluate_gate(names[best], ["champion"], dice_table(draw, names), crit,
                             directions={"dice": "higher"},
                             look=crit.look(0, chosen_from=n_candidates))
    return {"old": float(old), "new": float(decision.accepted)}


def rep_auc_ci(rng, seed, t, *, patients: int, images: int) -> dict[str, float]:
    """One classifier: does the 95 % CI of its AUC cover the true AUC?"""
    draw = draw_scores(rng, 1, patients, images)
    positive = draw.reference == POSITIVE
    old = old_percentile(old_auc(draw.values, positive,
                                 old_resample_index(draw.sites, rng)))[:, 0]
    table = class_table(draw, ["m0"])
    row = leaderboard(table, "auc", directions=directions(table["metric"]), label=POSITIVE,
                      statistics=statistics(seed), set_metrics=SET_METRICS).rows[0]
    return {"old": covers(*old, t.auc), "new": covers(row.ci_low, row.ci_high, t.auc)}


def rep_auc_gate(rng, seed, t, *, patients: int) -> dict[str, float]:
    """An equally good classifier against the champion, by AUC: promoted?"""
    draw = draw_scores(rng, 2, patients, 1)
    positive = draw.reference == POSITIVE
    resampled = old_auc(draw.values, positive, old_resample_index(draw.sites, rng))
    old = old_percentile((resampled[:, 1] - resampled[:, 0])[:, None])[0, 0] > 0
    table = class_table(draw, ["champion", "cand"])
    crit = criteria(seed, MetricMargin("auc", label=POSITIVE))
    decision = evaluate_gate("cand", ["champion"], table, crit,
                             directions=directions(table["metric"]), set_metrics=SET_METRICS,
                             look=crit.look(0))
    return {"old": float(old), "new": float(decision.accepted)}


def rep_worse(rng, seed, t, *, patients: int = 6) -> dict[str, float]:
    """Two good models and one worse by 0.3 Dice, one site, 6 patients x 1 slice: is the
    worse one put beside the best?"""
    draw = draw_dice(rng, np.array([MU, MU, MU - 0.3]), {"A": patients}, 1)
    board = leaderboard(dice_table(draw, ["a", "b", "worse"]), "dice", "higher",
                        margin=MARGIN, statistics=statistics(seed))
    standing = board.row("worse").standing
    return {"old": float(old_best_group(draw.values)[2]),
            "new": float(standing in (Standing.EQUIVALENT, Standing.TIED)),
            "new_group": float(standing.in_best_group),
            "worse": float(standing == Standing.WORSE),
            "unresolved": float(standing == Standing.UNRESOLVED)}


def rep_equal(rng, seed, t, *, patients: int, slices: int = 4,
              margin: float = MARGIN) -> dict[str, float]:
    """Two models equal in truth: OLD puts the other in the best group (not shown different);
    NEW must *show* them equivalent within the margin."""
    draw = draw_dice(rng, np.array([MU, MU]), {"A": patients}, slices)
    board = leaderboard(dice_table(draw, ["a", "b"]), "dice", "higher", margin=margin,
                        statistics=statistics(seed))
    other = board.rows[1]  # the one below the top
    return {"old": float(old_best_group(draw.values).all()),
            "new": float(other.standing in (Standing.EQUIVALENT, Standing.TIED))}


@dataclass(frozen=True)
class Scenario:
    key: str
    run: Callable[..., dict[str, float]]
    kwargs: dict


SCENARIOS = [
    Scenario("ci_10x8", rep_ci, {"sites": {"A": 10}, "slices": 8}),
    Scenario("chosen_10x8", rep_chosen, {}),
    Scenario("ci_40x1", rep_ci, {"sites": {"A": 40}, "slices": 1}),
    Scenario("gate_40x1", rep_gate, {"n_candidates": 1, "patients": 40, "slices": 1}),
    Scenario("gate_10x8", rep_gate, {"n_candidates": 1, "patients": 10, "slices": 8}),
    Scenario("best8_40x1", rep_gate, {"n_candidates": 8, "patients": 40, "slices": 1}),
    Scenario("best8_10x8", rep_gate, {"n_candidates": 8, "patients": 10, "slices": 8}),
    Scenario("power_40x4", rep_gate, {"n_candidates": 1, "patients": 40, "slices": 4,
                                      "gain": True}),
    Scenario("ci_2sites", rep_ci, {"sites": {"A": 10, "B": 10}, "slices": 4}),
    Scenario("ci_4sites", rep_ci, {"sites": {"A": 5, "B": 10, "C": 20, "D": 40}, "slices": 4}),
    Scenario("auc_ci_10x8", rep_auc_ci, {"patients": 10, "images": 8}),
    Scenario("auc_ci_40x1", rep_auc_ci, {"patients": 40, "images": 1}),
    Scenario("auc_gate_40x1", rep_auc_gate, {"patients": 40}),
    Scenario("worse_6", rep_worse, {}),
    Scenario("equal_10", rep_equal, {"patients": 10}),
    Scenario("equal_20", rep_equal, {"patients": 20}),
    Scenario("equal_40", rep_equal, {"patients": 40}),
    Scenario("equal_80", rep_equal, {"patients": 80}),
    Scenario("equal_40_tight", rep_equal, {"patients": 40, "margin": TIGHT_MARGIN}),
    Scenario("equal_80_tight", rep_equal, {"patients": 80, "margin": TIGHT_MARGIN}),
]


def run_chunk(index: int, start: int, stop: int, t: Truth) -> tuple[int, dict[str, list]]:
    """Repetitions ``start .. stop - 1`` of scenario ``index``; data seeded (SEED, index, rep),
    medselect's bootstrap seeded from the same stream."""
    scenario = SCENARIOS[index]
    out: dict[str, list] = {}
    for rep in range(start, stop):
        rng = np.random.default_rng([SEED, index, rep])
        seed = int(rng.integers(2**31))
        for key, value in scenario.run(rng, seed, t, **scenario.kwargs).items():
            out.setdefault(key, []).append(value)
    return index, out


# --- the table ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Figure:
    value: float
    se: float
    kind: str  # "rate" or "bias"

    def text(self) -> str:
        if np.isnan(self.value):
            return "n/a"
        if self.kind == "rate":
            return f"{100 * self.value:5.1f}% ±{100 * self.se:3.1f}"
        return f"{self.value:+.4f} ±{self.se:.4f}"

    def to_dict(self) -> dict:
        return {"value": None if np.isnan(self.value) else self.value,
                "mc_se": None if np.isnan(self.se) else self.se, "kind": self.kind}


def rate(values: list | None) -> Figure:
    if not values:
        return Figure(np.nan, np.nan, "rate")
    p = float(np.mean(values))
    return Figure(p, float(np.sqrt(p * (1 - p) / len(values))), "rate")


def bias(values: list | None) -> Figure:
    if not values:
        return Figure(np.nan, np.nan, "bias")
    return Figure(float(np.mean(values)), float(np.std(values, ddof=1) / np.sqrt(len(values))),
                  "bias")


@dataclass(frozen=True)
class Line:
    row: str
    what: str
    old: Figure
    new: Figure
    target: str
    met: bool | None

    def to_dict(self) -> dict:
        return {"row": self.row, "what": self.what, "old": self.old.to_dict(),
                "new": self.new.to_dict(), "target": self.target,
                "met": None if self.met is None else bool(self.met)}


def judged(figure: Figure, ok: bool) -> bool | None:
    """Whether a figure meets its target; None when it was not measured."""
    return None if np.isnan(figure.value) else bool(ok)


def lines(results: dict[str, dict[str, list]], reps: int) -> list[Line]:
    """The printed rows, from every scenario's outcomes."""
    def get(key: str, column: str) -> list | None:
        return results.get(key, {}).get(column)

    def coverage(row: str, what: str, key: str, column: str = "new",
                 old: str = "old") -> Line:
        new = rate(get(key, column))
        return Line(row, what, rate(get(key, old)), new, f">= {COVERAGE_TARGET:.0%}",
                    judged(new, new.value >= COVERAGE_TARGET))

    def false_promotion(row: str, what: str, key: str, alpha: float = LOOK_ALPHA) -> Line:
        new = rate(get(key, "new"))
        limit = alpha + 2 * np.sqrt(alpha * (1 - alpha) / reps)
        return Line(row, what, rate(get(key, "old")), new,
                    f"<= {100 * alpha:.1f}% (+2SE {100 * limit:.1f}%)",
                    judged(new, new.value <= limit))

    def unbiased(row: str, what: str, column: str) -> Line:
        new = bias(get("chosen_10x8", column))
        return Line(row, what, bias(get("chosen_10x8", "bias_old")), new, "|bias| <= 2 SE",
                    judged(new, abs(new.value) <= 2 * new.se))

    out = [
        coverage("1", "CI of mean Dice covers; 10 patients x 8 slices", "ci_10x8"),
        coverage("2", "chosen of 8 equal: CI covers; new: chosen on val, CI on test",
                 "chosen_10x8", "new_sep"),
        coverage("2'", "chosen of 8 equal: CI covers; new: same set, BBC interval",
                 "chosen_10x8", "new_bbc"),
        coverage("3", "CI of mean Dice covers; 40 patients x 1 slice", "ci_40x1"),
        false_promotion("4", "equal candidate promoted; 40 patients x 1", "gate_40x1"),
        false_promotion("5", "equal candidate promoted; 10 patients x 8", "gate_10x8"),
        false_promotion("6", "best of 8 equal promoted (chosen_from=8); 40 x 1", "best8_40x1"),
        false_promotion("7", "best of 8 equal promoted (chosen_from=8); 10 x 8", "best8_10x8"),
        unbiased("8", "bias of chosen's mean (8 equal); new: val/test split", "bias_sep"),
        unbiased("8'", "bias of chosen's mean (8 equal); new: same set, BBC", "bias_bbc"),
    ]
    power = rate(get("power_40x4", "new"))
    out.append(Line("a", f"power: truly +{TRUE_GAIN} better promoted; 40 pat x 4 slices",
                    rate(get("power_40x4", "old")), power, f">= {POWER_TARGET:.0%}",
                    judged(power, power.value >= POWER_TARGET)))
    out += [
        coverage("b1", "CI covers; 2 sites x 10 patients x 4 slices", "ci_2sites"),
        coverage("b2", "CI covers; 4 sites of 5/10/20/40 patients x 4 slices", "ci_4sites"),
        coverage("c1", "AUC CI covers; 10 patients x 8 images", "auc_ci_10x8"),
        coverage("c3", "AUC CI covers; 40 patients x 1 image", "auc_ci_40x1"),
        false_promotion("c4", "equal classifier promoted by AUC; 40 x 1", "auc_gate_40x1"),
    ]
    worse = rate(get("worse_6", "new"))
    out.append(Line("d1", "-0.3 Dice model called equivalent (old: in best group); 6 pat",
                    rate(get("worse_6", "old")), worse, "0 of reps",
                    judged(worse, worse.value == 0)))
    for n in (10, 20, 40, 80):
        equal = rate(get(f"equal_{n}", "new"))
        target, met = "(finding)", None
        if n == 40:
            target = f">= {EQUIVALENT_TARGET:.0%}"
            met = judged(equal, equal.value >= EQUIVALENT_TARGET)
        out.append(Line(f"d2.{n}", f"equal models shown equivalent (+/-{MARGIN}); "
                                   f"{n} pat x 4", rate(get(f"equal_{n}", "old")), equal,
                        target, met))
    for n in (40, 80):
        key = f"equal_{n}_tight"
        out.append(Line(f"d3.{n}", f"equal models shown equivalent (+/-{TIGHT_MARGIN}); "
                                   f"{n} pat x 4", rate(get(key, "old")), rate(get(key, "new")),
                        "(finding)", None))
    return out


def render(table: list[Line]) -> str:
    head = f"{'row':5} {'what':63} {'old':>13} {'new':>13}  {'target':24} met"
    text = [head, "-" * len(head)]
    for line in table:
        met = "-" if line.met is None else ("yes" if line.met else "NO")
        text.append(f"{line.row:5} {line.what:63} {line.old.text():>13} {line.new.text():>13}"
                    f"  {line.target:24} {met}")
    return "\n".join(text)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=1000, help="repetitions per row")
    parser.add_argument("--quick", action="store_true", help="100 repetitions: a smoke run")
    parser.add_argument("--workers", type=int, default=2, help="processes")
    parser.add_argument("--json", metavar="PATH", help="write the figures as JSON")
    parser.add_argument("--only", nargs="+", metavar="SCENARIO",
                        choices=[s.key for s in SCENARIOS],
                        help="run only these scenarios (the others print n/a)")
    args = parser.parse_args(argv)
    reps = 100 if args.quick else args.reps

    load_before = os.getloadavg()
    start = time.perf_counter()
    t = truth()
    truth_s = time.perf_counter() - start
    chunk = max(1, min(50, reps // 4))
    chosen = [i for i, s in enumerate(SCENARIOS) if not args.only or s.key in args.only]
    jobs = [(i, a, min(a + chunk, reps)) for i in chosen for a in range(0, reps, chunk)]
    results: dict[str, dict[str, list]] = {s.key: {} for s in SCENARIOS}
    with ProcessPoolExecutor(max_workers=args.workers) as pool:
        futures = [pool.submit(run_chunk, *job, t) for job in jobs]
        for future in futures:  # in submission order, so the lists follow the repetitions
            index, out = future.result()
            for key, values in out.items():
                results[SCENARIOS[index].key].setdefault(key, []).extend(values)
    wall = time.perf_counter() - start
    load_after = os.getloadavg()
    table = lines(results, reps)

    print(__doc__.splitlines()[0])
    print(f"repetitions per row: {reps}; bootstrap resamples: {N_RESAMPLES}; seed: {SEED} "
          f"(data of repetition r of row i: default_rng([{SEED}, i, r])); workers: "
          f"{args.workers}")
    print(f"simulation: mu {MU}, SD patient {SD_PATIENT}, model x patient {SD_MODEL_PATIENT}, "
          f"slice {SD_SLICE}, model x slice {SD_MODEL_SLICE}; site offsets {SITE_OFFSET}")
    print(f"true mean Dice {t.dice[round(MU, 6)]:.4f}; true gain {TRUE_GAIN} needs a mu "
          f"shift of {t.gain_shift:.4f}; true AUC {t.auc:.4f}; gate: first look at alpha "
          f"{CRITERIA.alpha} ({CRITERIA.alpha_spending.value}), level {LOOK_ALPHA}; "
          f"equivalence margin {MARGIN}")
    if not hasattr(rank, "bbc"):
        print("medselect.rank.bbc is not available in this tree: rows 2' and 8' are n/a")
    print("old: the case as the unit (case bootstrap, plain percentile interval; gate when "
          "the 95% lower bound > 0; chosen on the reporting set); new: medselect's API")
    print(f"rows 6/7: the look spends {LOOK_ALPHA}, each test of a best-of-8 candidate runs "
          f"at {CRITERIA.look(0, chosen_from=8).alpha:.5f}; rows d: old = in the old best group "
          "(not significantly worse by Wilcoxon on cases, Holm), new = standing equivalent or "
          "tied")
    print()
    print(render(table))
    print()
    chosen = results["chosen_10x8"]
    if chosen:
        widths = {name: np.mean(chosen[key]) for name, key in (
            ("old", "width_old"), ("new val/test", "width_sep"), ("new BBC", "width_bbc"))
            if key in chosen}
        print("rows 2/2' mean interval width (Dice): "
              + ", ".join(f"{name} {width:.4f}" for name, width in widths.items()))
    worse = results["worse_6"]
    if worse:
        print(f"d1 standings of the -0.3 model (new): worse {np.mean(worse['worse']):.1%}, "
              f"unresolved {np.mean(worse['unresolved']):.1%}, in the best group "
              f"{np.mean(worse['new_group']):.1%}")
    if args.quick:
        print("--quick: too few repetitions to judge the targets; run without it for that")
    missed = [line.row for line in table if line.met is False]
    print(f"targets missed: {', '.join(missed) if missed else 'none'}")
    print(f"wall time {wall:.1f} s (truth {truth_s:.1f} s) on {os.cpu_count()} CPUs, "
          f"{platform.processor() or platform.machine()}; load average before "
          f"{load_before[0]:.2f}/{load_before[1]:.2f}/{load_before[2]:.2f}, after "
          f"{load_after[0]:.2f}/{load_after[1]:.2f}/{load_after[2]:.2f}")

    if args.json:
        payload = {
            "seed": SEED, "repetitions": reps, "n_resamples": N_RESAMPLES,
            "workers": args.workers, "wall_s": wall, "load_before": list(load_before),
            "load_after": list(load_after),
            "simulation": {"mu": MU, "sd_patient": SD_PATIENT,
                           "sd_model_patient": SD_MODEL_PATIENT, "sd_slice": SD_SLICE,
                           "sd_model_slice": SD_MODEL_SLICE, "site_offset": SITE_OFFSET,
                           "auc_separation": AUC_SEPARATION, "auc_sd": list(AUC_SD)},
            "truth": {"dice": {str(k): v for k, v in t.dice.items()},
                      "gain_shift": t.gain_shift, "auc": t.auc},
            "gate_level": LOOK_ALPHA, "margin": MARGIN,
            "rows": [line.to_dict() for line in table],
        }
        with open(args.json, "w") as f:
            json.dump(payload, f, indent=2)
        print(f"figures written to {args.json}")


if __name__ == "__main__":
    main()
