"""The experiments ``medselect demo`` runs: knee MR segmentation (the default), landmark
detection, 3D segmentation or cartilage-thinning classification on the built-in phantom.

``examples/knee-segmentation.yaml`` spells out the same experiment with a comment on every
section; a test keeps the two equal. The sweep is small enough for a laptop CPU: eight
configurations at 64x64 that differ in architecture, loss and augmentation.
"""

from __future__ import annotations

from medselect.config.choices import Architecture as A
from medselect.config.choices import AugmentationPreset as Aug
from medselect.config.choices import Loss as L
from medselect.config.choices import TaskKind
from medselect.config.data import DataSpec, PhantomSource, SplitFractions, SplitSpec
from medselect.config.evaluation import EvaluationSpec, NsdTolerance
from medselect.config.experiment import Experiment
from medselect.config.promotion import Criterion, Guard, PromotionSpec
from medselect.config.ranking import RankingSpec
from medselect.config.sweep import RunOverrides, SearchSpace, SweepSpec
from medselect.config.task import TaskSpec
from medselect.config.upgrade import UpgradeSpec

__all__ = [
    "CLASSIFICATION_DEMO_CONFIGS", "DEMO_CONFIGS", "LANDMARK_DEMO_CONFIGS", "SEG3D_DEMO_CONFIGS",
    "default_classification_experiment", "default_demo_experiment",
    "default_landmarks_experiment", "default_seg3d_experiment",
]

KNEE_CLASSES = ["background", "femur", "tibia", "patella", "femoral_cartilage",
                "tibial_cartilage"]

SEGMENTATION_DEMO_SITES = ("site-a", "site-b", "site-c", "site-e")
"""Three sites scanning with a fat-suppressed PD sequence and ``site-e``, which scans with a
T1-weighted one (contrast polarity reversed)."""

HELD_OUT_SITE = "site-e"
"""The demo's external validation site: a hospital that joins after training, so no model
learns from it (``data.split.held_out_sites``); its patients are only validated and tested on.
This is where the best model for one hospital is not the best for another."""

DEMO_CONFIGS: tuple[tuple[A, L, Aug], ...] = (
    (A.SEGRESNET, L.DICE_FOCAL, Aug.LIGHT),
    (A.SEGRESNET, L.DICE_CE, Aug.STRONG),
    (A.ATTENTION_UNET, L.DICE_CE, Aug.LIGHT),
    (A.UNET, L.DICE_CE, Aug.LIGHT),
    (A.UNET, L.DICE_CE, Aug.NONE),
    (A.BASIC_UNET, L.DICE_CE, Aug.LIGHT),
    (A.UNET, L.TVERSKY, Aug.STRONG),
    (A.UNET, L.DICE_CE, Aug.CONTRAST),
)
"""(architecture, loss, augmentation) of each demo configuration, the slowest to train first
(SegResNet takes about twice a UNet's time on the CPU): runs start in this order, so the two
workers finish together instead of one idling while the other trains the last SegResNet."""


def default_demo_experiment() -> Experiment:
    """The demo experiment: 2D segmentation of six knee classes on a four-site phantom."""
    return Experiment(
        task=TaskSpec(
            name="knee-segmentation",
            kind=TaskKind.SEGMENTATION,
            spatial_dims=2,
            classes=list(KNEE_CLASSES),
        ),
        data=DataSpec(
            source=PhantomSource(cases_per_site=36, sites=list(SEGMENTATION_DEMO_SITES),
                                 site_cases={HELD_OUT_SITE: 30}, size=96, seed=0,
                                 spatial_dims=2),
            split=SplitSpec(fractions=SplitFractions(train=0.5, val=0.25, test=0.25),
                            stratify_by="site", seed=0, held_out_sites=[HELD_OUT_SITE],
                            freeze_reference=True),
        ),
        sweep=_sweep("knee-demo", DEMO_CONFIGS, input_size=(96, 96), epochs=30, batch_size=8,
                     features=16),
        evaluation=_segmentation_evaluation(cartilage_nsd_mm=1.5),
        ranking=RankingSpec(metric="dice", by=["site"]),
        promotion=_segmentation_promotion(hd95_margin_mm=1.0),
        upgrade=UpgradeSpec(retrain="top_k", top_k=3),
    )


SEG3D_DEMO_CONFIGS: tuple[tuple[A, L, Aug], ...] = (
    (A.UNET, L.DICE_CE, Aug.NONE),
    (A.UNET, L.DICE_CE, Aug.LIGHT),
    (A.SEGRESNET, L.DICE_CE, Aug.NONE),
    (A.SEGRESNET, L.DICE_FOCAL, Aug.LIGHT),
)
"""(architecture, loss, augmentation) of each 3D segmentation demo configuration."""


def default_seg3d_experiment() -> Experiment:
    """The 3D demo: the six knee classes on small anisotropic phantom volumes (48x48 pixels of
    2.5-3.3 mm, 24 slices twice as thick), small enough to train on two CPU cores."""
    return Experiment(
        task=TaskSpec(name="knee-seg3d", kind=TaskKind.SEGMENTATION, spatial_dims=3,
                      classes=list(KNEE_CLASSES)),
        data=_phantom(cases_per_site=10, size=48, spatial_dims=3),
        sweep=_sweep("knee-seg3d-demo", SEG3D_DEMO_CONFIGS, input_size=(48, 48, 24), epochs=40,
                     batch_size=4, features=8),
        # thick voxels: NSD tolerances no finer than the in-plane pixels
        evaluation=_segmentation_evaluation(cartilage_nsd_mm=3.0, default_nsd_mm=3.0),
        ranking=RankingSpec(metric="dice", by=["site"]),
        promotion=_segmentation_promotion(hd95_margin_mm=3.0),
        upgrade=UpgradeSpec(retrain="top_k", top_k=2),
    )


def _phantom(*, cases_per_site: int, size: int, spatial_dims: int) -> DataSpec:
    """Four phantom sites, split 60/20/20 per patient and site; the test split is frozen."""
    return DataSpec(
        source=PhantomSource(cases_per_site=cases_per_site, sites=4, size=size, seed=0,
                             spatial_dims=spatial_dims),
        split=SplitSpec(fractions=SplitFractions(train=0.6, val=0.2, test=0.2),
                        stratify_by="site", seed=0, freeze_reference=True),
    )


def _sweep(name: str, configs, *, input_size: tuple[int, ...], epochs: int, batch_size: int,
           features: int) -> SweepSpec:
    """An explicit list of (architecture, loss, augmentation) over shared settings."""
    return SweepSpec(
        name=name,
        strategy="list",
        space=SearchSpace(input_size=[input_size], epochs=[epochs], batch_size=[batch_size],
                          depth=[3], features=[features], learning_rate=[1e-3]),
        configs=[RunOverrides(architecture=a, loss=loss, augmentation=aug)
                 for a, loss, aug in configs],
        deterministic=True,
        workers=1,
    )


def _segmentation_evaluation(*, cartilage_nsd_mm: float,
                             default_nsd_mm: float = 2.0) -> EvaluationSpec:
    """The segmentation demos' metrics on the validation set (which selects) and the test set
    (which confirms), with overlays."""
    return EvaluationSpec(
        case_sets=["val", "test"],
        metrics=["dice", "iou", "hd95", "assd", "nsd", "volume_diff_rel"],
        nsd_tolerance_mm=NsdTolerance(default=default_nsd_mm,
                                      classes={"femoral_cartilage": cartilage_nsd_mm,
                                               "tibial_cartilage": cartilage_nsd_mm}),
        overlays=True,
    )


def _segmentation_promotion(*, hd95_margin_mm: float) -> PromotionSpec:
    """The segmentation demos' gate: better mean Dice, mean HD95 no worse than the margin."""
    return PromotionSpec(
        primary=Criterion(metric="dice", label="mean", margin=0.0),
        test="bootstrap",
        alpha=0.05,
        confidence=0.95,
        guards=[Guard(metric="hd95", label="mean", margin=hd95_margin_mm)],
        site_margin=0.02,
        min_patients=5,
        compare_with="all_versions",
        scopes=["global", "per_site"],
    )


#: The phantom's landmarks (``medselect.data.phantom.KNEE_LANDMARKS``, a layer above config;
#: a test keeps the two equal).
DEMO_LANDMARKS = ("femoral_condyle_distal", "tibial_plateau_centre", "patella_centre",
                  "patella_apex")

LANDMARK_DEMO_CONFIGS: tuple[RunOverrides, ...] = (
    RunOverrides(architecture=A.BASIC_UNET, loss=L.MSE, heatmap_sigma=2.0,
                 decoding="soft_argmax", augmentation=Aug.LIGHT),
    RunOverrides(architecture=A.BASIC_UNET, loss=L.MSE, heatmap_sigma=2.0, decoding="argmax",
                 augmentation=Aug.NONE),
    RunOverrides(architecture=A.ATTENTION_UNET, loss=L.MSE, heatmap_sigma=3.0,
                 decoding="soft_argmax", augmentation=Aug.NONE),
    RunOverrides(architecture=A.UNET, loss=L.SOFT_ARGMAX, heatmap_sigma=2.0,
                 decoding="soft_argmax", augmentation=Aug.NONE),
)
"""Each landmarks demo configuration: heatmap regression (``mse``) with both decodings and two
sigmas, and a soft-argmax coordinate loss. Each trains to a test MRE of about 2-4 mm (pixels
of about 1.9 mm); MONAI's ``unet`` needs sigma 3 or the soft-argmax loss to leave the all-zero
heatmap it starts on within 60 epochs."""


def default_landmarks_experiment() -> Experiment:
    """The landmarks demo: the four knee landmarks of the phantom as Gaussian heatmaps,
    ranked and gated by mean radial error (mm, lower is better)."""
    return Experiment(
        task=TaskSpec(name="knee-landmarks", kind=TaskKind.LANDMARKS, spatial_dims=2,
                      landmarks=list(DEMO_LANDMARKS)),
        data=_phantom(cases_per_site=20, size=64, spatial_dims=2),
        # configurations differ in more than (architecture, loss, augmentation): no _sweep
        sweep=SweepSpec(
            name="knee-landmarks-demo", strategy="list",
            space=SearchSpace(input_size=[(64, 64)], epochs=[60], batch_size=[4], depth=[3],
                              features=[16], learning_rate=[1e-3]),
            configs=list(LANDMARK_DEMO_CONFIGS), deterministic=True, workers=1,
        ),
        evaluation=EvaluationSpec(
            case_sets=["val", "test"], metrics=["mre", "radial_error", "sdr_2mm", "sdr_4mm"],
            overlays=True,
        ),
        ranking=RankingSpec(metric="mre", by=["site"]),
        promotion=PromotionSpec(
            primary=Criterion(metric="mre", label="mean", margin=0.0),
            test="bootstrap", alpha=0.05, confidence=0.95, min_patients=5,
            compare_with="all_versions", scopes=["global", "per_site"],
        ),
        upgrade=UpgradeSpec(retrain="top_k", top_k=2),
    )


CLASSIFICATION_DEMO_CONFIGS: tuple[RunOverrides, ...] = (
    RunOverrides(architecture=A.RESNET18, augmentation=Aug.NONE, learning_rate=1e-3),
    RunOverrides(architecture=A.RESNET18, augmentation=Aug.LIGHT, learning_rate=1e-3),
    RunOverrides(architecture=A.DENSENET121, augmentation=Aug.LIGHT, learning_rate=1e-3),
    RunOverrides(architecture=A.DENSENET121, augmentation=Aug.LIGHT, learning_rate=3e-4),
)
"""Each classification demo configuration: both image-level architectures, with and without
augmentation, at two learning rates."""


def default_classification_experiment() -> Experiment:
    """The classification demo: the phantom's cartilage-thinning grade (femoral cartilage
    thinner than 2 mm) from the whole slice, ranked and gated by the AUC of "thinning" (a set
    metric: computed over all cases, with bootstrap intervals), its calibration guarded.

    The cartilage is 1.2-3.4 mm thick on pixels of 1.1-1.7 mm, so the grade needs 96x96 images
    and a few hundred training cases to be learnt; on the low-contrast ``site-d`` it stays
    close to chance, which the per-site ranking shows.
    """
    return Experiment(
        task=TaskSpec(name="knee-thinning", kind=TaskKind.CLASSIFICATION, spatial_dims=2,
                      classes=["normal", "thinning"]),
        data=_phantom(cases_per_site=200, size=96, spatial_dims=2),
        # configurations differ in more than (architecture, loss, augmentation): no _sweep
        sweep=SweepSpec(
            name="knee-thinning-demo", strategy="list",
            space=SearchSpace(input_size=[(96, 96)], epochs=[30], batch_size=[16],
                              features=[8], loss=[L.CE]),
            configs=list(CLASSIFICATION_DEMO_CONFIGS), deterministic=True, workers=1,
        ),
        evaluation=EvaluationSpec(
            case_sets=["val", "test"], overlays=True,
            metrics=["probability", "correct", "auc", "balanced_accuracy",
                     "sensitivity_at_threshold", "specificity_at_threshold", "ece"]),
        ranking=RankingSpec(metric="auc", label="thinning", by=["site"]),
        promotion=PromotionSpec(
            primary=Criterion(metric="auc", label="thinning", margin=0.0),
            guards=[Guard(metric="ece", label="thinning", margin=0.05)],
            test="bootstrap", alpha=0.05, confidence=0.95, min_patients=5,
            compare_with="all_versions", scopes=["global", "per_site"],
        ),
        upgrade=UpgradeSpec(retrain="top_k", top_k=2),
    )
