"""The typed, frozen configuration of one trial (one GAN training run).

Validated once, at the boundary (``TrialConfig.from_dict``); everything inside trusts it.
Errors name the field, the value and what is allowed. ``key()`` is a stable identity derived
from the full config, so a re-run or a resumed study finds the same trial.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
from dataclasses import dataclass, fields
from typing import Any, Mapping

from study.gan.errors import ConfigError  # noqa: F401  (re-exported: study.gan.config.ConfigError)

STEP_UNITS = ("discriminator", "generator")
N_DIS_SCHEDULES = ("constant", "iwgan")
PRECISIONS = ("fp32", "bf16")
Z_DISTRIBUTIONS = ("normal", "uniform")
SPLITS = ("train", "test")
DEVICES = ("auto", "cpu", "cuda")
STEP_MODES = ("auto", "eager", "batched", "graph")
AUTO = "auto"
MAX_SEED = 2**32 - 1  # what numpy, torch and Optuna all accept as a seed
MAX_INT = 2**63 - 1  # the results table's int64
# Every size setting, bounded (low, high, note): far beyond the papers (z 128, batch 64, 50k FID
# samples, 1M steps) yet below what allocates absurd memory; whether a trial's networks and
# batches fit a node is estimated from these before a study starts (study/gan/memory.py).
SIZE_BOUNDS = {
    "z_dim": (1, 4096, ""), "batch_size": (1, 65536, ""), "n_dis": (1, 100, ""), "steps": (1, 10**9, ""),
    "eval_every": (1, 10**9, ""), "threads": (1, 1024, ""), "recon_samples": (1, 100_000, ""),
    "recon_steps": (1, 100_000, ""), "instance_noise_steps": (0, 10**9, " (0: all of training)"),
    "eval_samples": (0, 1_000_000, " (0: as many as the real images)"),
    "eval_real_samples": (0, 1_000_000, " (0: the dataset's protocol)"),
}


@dataclass(frozen=True)
class TrialConfig:
    # data
    dataset: str = "digits"
    resolution: int = 16
    channels: int = 1
    data_dir: str = ""  # where the real datasets lie ("": $GAN_STUDY_DATA on the node that reads them)
    prepared_dir: str = ""  # where prepared arrays go ("": $GAN_STUDY_PREPARED, else <data_dir>/prepared)
    crop: str = ""  # crop and resize policy of a real dataset ("": the dataset's own; see data/transform.py)
    train_split: str = ""  # the split that trains ("": the dataset's own, e.g. STL-10: unlabeled)
    # models
    architecture: str = "dcgan"
    arch_options: str = ""  # "+"-separated ablation switches (skip, cin, opt, sum, eps) or "all"
    init: str = "auto"  # weight initialisation; auto: the architecture's reference (compare_gan v2)
    upsample: str = "auto"  # G's upsampling (ResNets: unpool | nearest); auto: the reference
    width: float = 1.0
    loss: str = "ns"
    penalty: str = "none"
    penalty_lambda: float = 0.0
    d_norm: str = "none"
    g_norm: str = "bn"
    g_head: str = "auto"  # auto: the architecture's reference head (sigmoid for the ResNets, ...)
    z_dim: int = 128
    z_dist: str = "uniform"  # compare_gan: z ~ U[-1, 1]
    # optimisation (Adam)
    lr: float = 2e-4
    lr_d: float = 0.0  # 0: the same as lr (a separate D rate, e.g. TTUR, when > 0)
    beta1: float = 0.5
    beta2: float = 0.999
    n_dis: int = 1
    n_dis_schedule: str = "constant"  # iwgan: 50 D steps for the first 25 G steps and every 500th
    batch_size: int = 64
    steps: int = 1000
    step_unit: str = "discriminator"  # compare_gan v2 and Kurach et al. count D steps
    # training tricks
    label_smoothing: float = 0.0  # one-sided: real target 1 - s (ns, mm)
    instance_noise: float = 0.0  # std of Gaussian noise on D's inputs at step 0 ...
    instance_noise_steps: int = 0  # ... decaying linearly to 0 here (0: at the end of training)
    g_ema: float = 0.0  # decay of an exponential moving average of G used for evaluation (0: off)
    # the field's tricks (issue 14; study/gan/tricks.py, study/gan/models/{minibatch,surgery,conditional}.py)
    feature_matching: float = 0.0  # w: L_G = (1 - w) L_loss + w ||E f(x) - E f(G(z))||^2 (Salimans et al. 3.1)
    historical_averaging: float = 0.0  # weight of ||theta - mean_t theta||^2 in both losses (Salimans et al. 3.3)
    label_noise: bool = False  # D's targets ~ U[0.7, 1.2] (real) and U[0, 0.3] (fake) (the tips)
    label_flip: float = 0.0  # probability of swapping an example's real and fake targets (the tips)
    d_minibatch: str = "none"  # none | stddev (Karras et al. 2018) | discrimination (Salimans et al. 3.2)
    g_dropout: float = 0.0  # dropout after G's hidden activations, in training and generation (Isola et al.)
    conditional: bool = False  # class-conditional: conditional BN in G, projection D (Miyato and Koyama)
    precision: str = "fp32"  # bf16: autocast on CUDA (CPU runs stay fp32)
    channels_last: bool = False
    deterministic: bool = False
    # how a group's members step (study/gan/training/executors.py): eager: one by one, op by op
    # (the reference); batched: every member at once under vmap; graph: batched and captured as
    # CUDA graphs. auto: eager on every device until the accelerated paths pass on a GPU. What
    # cannot be batched or captured, or fails to, steps eagerly from the same member states.
    step_mode: str = "auto"
    # evaluation
    eval_every: int = 500
    eval_split: str = "test"
    eval_samples: int = 0  # 0: as many generated samples as real images
    eval_real_samples: int = 0  # real images FID compares with (0: the dataset's protocol, e.g. CIFAR-10 10k)
    feature_extractor: str = "digits"
    # the extractor's weights file ("": its own lookup: the package's digits classifier, the Inception
    # cache or $GAN_STUDY_INCEPTION_WEIGHTS, $GAN_STUDY_DINOV2_WEIGHTS); rows record its sha256
    feature_weights: str = ""
    metrics: str = "fid"  # "+"-separated: fid, is, kid, pr, dc, hist, recon, intra_fid (fid always)
    fid_resize: str = "tf_bilinear"  # resize to 299 for Inception: tf_bilinear | torch_bilinear | clean
    fid_stats: str = ""  # an .npz of real (mu, sigma) (TTUR / pytorch-fid format) to compare with instead
    recon_samples: int = 64  # test images for the reconstruction error
    recon_steps: int = 50  # RMSProp steps on each latent
    # what is kept of a trial (where its caller gives it a place for files)
    sample_grid: int = 64  # images in the sample grid of an evaluation (0: no grids)
    sample_seed: int = 0  # seed of the grid's latents: one per study, never the trial's seed
    sample_every: bool = False  # a grid for every evaluation, not only the best and the final one
    # execution
    paper_fid: float = 0.0  # a published FID to compare with (presets of best models); changes nothing run
    seed: int = 0
    device: str = "auto"
    threads: int = 1

    # ---- validation -------------------------------------------------------------------
    @classmethod
    def from_dict(cls, values: Mapping[str, Any], where: str = "trial") -> "TrialConfig":
        known = {f.name: f for f in fields(cls)}
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ConfigError(f"{where}.{unknown[0]}: unknown setting; allowed: {', '.join(sorted(known))}")
        coerced = {name: _coerce(f"{where}.{name}", known[name].type, v) for name, v in values.items()}
        return cls(**coerced).validated(where)

    def validated(self, where: str = "trial") -> "TrialConfig":
        from study.gan.data import DATASETS
        from study.gan.losses import LOSSES
        from study.gan.metrics.extractors import EXTRACTORS
        from study.gan.models import ARCHITECTURES, HEADS
        from study.gan.normalizers import NORMALIZERS
        from study.gan.penalties import PENALTIES

        def check(name: str, ok: bool, allowed: str) -> None:
            if not ok:
                raise ConfigError(f"{where}.{name}: invalid value {getattr(self, name)!r}; allowed: {allowed}")

        check("architecture", self.architecture in ARCHITECTURES, ", ".join(ARCHITECTURES.names()))
        arch = ARCHITECTURES.get(self.architecture)
        # "auto" is the architecture's reference choice, written out so that rows say what ran.
        resolved = {name: value for name, value in (("g_head", arch.head), ("init", arch.inits[0]),
                                                    ("upsample", arch.upsamples[0])) if getattr(self, name) == AUTO}
        if resolved:
            return dataclasses.replace(self, **resolved).validated(where)
        for name, registry in (("dataset", DATASETS), ("loss", LOSSES), ("penalty", PENALTIES),
                               ("d_norm", NORMALIZERS), ("g_norm", NORMALIZERS), ("g_head", HEADS),
                               ("feature_extractor", EXTRACTORS)):
            value = getattr(self, name)
            if registry.retired(value):
                raise ConfigError(f"{where}.{name}: {registry.retired(value)}")
            names = [n for n in registry.names() if not (name == "d_norm" and NORMALIZERS.get(n).generator_only)]
            check(name, value in names, ", ".join(names) + ", or auto" * (name == "g_head"))
        check("init", self.init in arch.inits, f"{', '.join(arch.inits)} for {self.architecture}, or auto")
        check("upsample", self.upsample in arch.upsamples,
              f"{', '.join(arch.upsamples)} for {self.architecture}, or auto")
        for name, choices in (("step_unit", STEP_UNITS), ("z_dist", Z_DISTRIBUTIONS),
                              ("eval_split", SPLITS), ("device", DEVICES),
                              ("n_dis_schedule", N_DIS_SCHEDULES), ("precision", PRECISIONS),
                              ("step_mode", STEP_MODES)):
            check(name, getattr(self, name) in choices, ", ".join(choices))
        check("resolution", self.resolution in arch.resolutions, f"{list(arch.resolutions)} for {self.architecture}")
        check("channels", self.channels in (1, 3), "1 or 3")
        check("width", 0 < self.width <= 16, "0 < width <= 16")
        check("lr", 0 < self.lr < 1, "0 < lr < 1")
        check("lr_d", 0 <= self.lr_d < 1, "0 <= lr_d < 1 (0: same as lr)")
        check("label_smoothing", 0 <= self.label_smoothing < 0.5, "0 <= label_smoothing < 0.5")
        if self.label_smoothing > 0:
            check("loss", LOSSES.get(self.loss).smoothing,
                  f"{', '.join(n for n in LOSSES.names() if LOSSES.get(n).smoothing)} with label_smoothing > 0")
        check("instance_noise", self.instance_noise >= 0, ">= 0")
        check("g_ema", 0 <= self.g_ema < 1, "0 <= g_ema < 1 (0: off)")
        self._validate_tricks(check)
        opts = self.arch_option_set()
        check("arch_options", opts <= set(arch.options),
              f"'+'-separated names from {list(arch.options)} for {self.architecture}, or 'all'")
        check("beta1", 0 <= self.beta1 < 1, "0 <= beta1 < 1")
        check("beta2", 0 <= self.beta2 < 1, "0 <= beta2 < 1")
        check("penalty_lambda", self.penalty_lambda >= 0, ">= 0")
        from study.gan.metrics.evaluator import METRICS
        from study.gan.metrics.preprocess import RESIZES

        check("metrics", set(self.metric_set()) <= set(METRICS), f"'+'-separated names from {list(METRICS)}")
        check("fid_resize", self.fid_resize in RESIZES, ", ".join(RESIZES))
        check("feature_weights", not self.feature_weights or self.feature_extractor != "digits",
              "'' with feature_extractor digits (its weights ship with the package)")
        for name, (low, high, note) in SIZE_BOUNDS.items():
            check(name, low <= getattr(self, name) <= high, f"an integer >= {low} and <= {high:,}{note}")
        check("sample_grid", 0 <= self.sample_grid <= 1024, "an integer from 0 (no grids) to 1024")
        check("sample_seed", 0 <= self.sample_seed <= MAX_SEED, f"an integer from 0 to {MAX_SEED}")
        data = self._validated_data(where, check)
        if data is not self:
            return data.validated(where)
        check("seed", 0 <= self.seed <= MAX_SEED, f"an integer from 0 to {MAX_SEED}")
        # Lambda is meaningless without a penalty: canonicalise so equal trials share a key.
        if not PENALTIES.get(self.penalty).active and self.penalty_lambda != 0.0:
            return dataclasses.replace(self, penalty_lambda=0.0)
        return self

    def _validate_tricks(self, check) -> None:
        from study.gan.data import DATASETS
        from study.gan.losses import LOSSES
        from study.gan.models.minibatch import MINIBATCH

        check("feature_matching", 0 <= self.feature_matching <= 1, "0 <= feature_matching <= 1 (0: off, 1: alone)")
        check("historical_averaging", 0 <= self.historical_averaging < math.inf, ">= 0 (0: off)")
        check("label_flip", 0 <= self.label_flip < 0.5, "0 <= label_flip < 0.5")
        check("g_dropout", 0 <= self.g_dropout < 1, "0 <= g_dropout < 1 (0: off)")
        check("d_minibatch", self.d_minibatch in MINIBATCH, ", ".join(MINIBATCH.names()))
        smoothing_losses = ", ".join(n for n in LOSSES.names() if LOSSES.get(n).smoothing)
        for name in ("label_noise", "label_flip"):
            if getattr(self, name):
                check("loss", LOSSES.get(self.loss).smoothing, f"{smoothing_losses} with {name}")
        if self.label_noise:
            check("label_smoothing", self.label_smoothing == 0, "0 with label_noise (noisy targets replace it)")
        if self.conditional:
            check("conditional", self.train_split in DATASETS.get(self.dataset).labelled_splits,
                  "true only with labels for the training split: digits, cifar10, stl10 with train_split: train")
            check("g_norm", self.g_norm == "bn", "bn with conditional: true (its batch norms become conditional)")
            check("metrics", "recon" not in self.metric_set(), "no recon with conditional: true")
        elif "intra_fid" in self.metric_set():
            check("metrics", False, "intra_fid with conditional: true only")

    def _validated_data(self, where: str, check) -> "TrialConfig":
        """Data settings; a real dataset's empty crop and train_split become its defaults, so that
        equal trials share a key."""
        from study.gan.data import SOURCES
        from study.gan.data.transform import CROPS

        if self.dataset not in SOURCES:  # the embedded digits: no files, no crop
            check("crop", self.crop == "", "'' (digits are rendered, not cropped)")
            check("train_split", self.train_split == "", "'' (digits have one fixed split)")
            return self
        source = SOURCES.get(self.dataset)
        check("channels", self.channels == source.channels, f"{source.channels} for {self.dataset}")
        check("crop", self.crop in ("", *CROPS), ", ".join(CROPS))
        check("train_split", self.train_split in ("", *source.train_splits),
              f"{', '.join(source.train_splits)} for {self.dataset}")
        if not self.crop or not self.train_split:
            return dataclasses.replace(self, crop=self.crop or source.default_crop,
                                       train_split=self.train_split or source.train_splits[0])
        return self

    def arch_option_set(self) -> frozenset[str]:
        from study.gan.models import ARCHITECTURES
        from study.gan.models.layers import ARCH_OPTIONS

        if self.arch_options.strip() == "all":  # Kurach et al.'s ablation switches, not the tips' ones
            return frozenset(o for o in ARCHITECTURES.get(self.architecture).options if o in ARCH_OPTIONS)
        return frozenset(o.strip() for o in self.arch_options.split("+") if o.strip())

    def metric_set(self) -> tuple[str, ...]:
        names = [m.strip() for m in self.metrics.split("+") if m.strip()]
        return tuple(dict.fromkeys(["fid"] + names))

    @property
    def d_lr(self) -> float:
        return self.lr_d or self.lr

    # ---- identity ---------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def key(self, *context: str) -> str:
        """Stable 16-hex-digit identity of this config (plus context such as study and phase).

        Execution-only settings (device, threads) do not change what is computed, so they are
        left out: a study resumed on other hardware finds the same keys.
        """
        identity = {k: v for k, v in self.to_dict().items() if k not in EXECUTION_ONLY}
        for name, default in NEW_FIELD_DEFAULTS.items():  # fields added later keep old keys stable
            if identity.get(name) == default:
                del identity[name]
        blob = json.dumps([list(context), identity], sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


# Not what is computed: where it runs, where the data and the extractor's weights lie (rows record
# the weights' sha256), and a published FID kept for comparison.
EXECUTION_ONLY = ("device", "threads", "data_dir", "prepared_dir", "feature_weights", "paper_fid", "step_mode")
# Fields added after results were first stored: left out of the key at their default value, so
# that existing studies keep their trial keys.
NEW_FIELD_DEFAULTS: dict[str, Any] = {
    "arch_options": "", "lr_d": 0.0, "n_dis_schedule": "constant", "label_smoothing": 0.0,
    "instance_noise": 0.0, "instance_noise_steps": 0, "g_ema": 0.0, "precision": "fp32",
    "channels_last": False, "deterministic": False, "metrics": "fid", "fid_resize": "tf_bilinear",
    "recon_samples": 64, "recon_steps": 50, "crop": "", "train_split": "", "eval_real_samples": 0,
    "fid_stats": "", "sample_grid": 64, "sample_seed": 0, "sample_every": False,
    # DCGAN's only choices: its trials keep their keys; the architectures whose layers changed
    # with these fields (sndcgan, the ResNets) get new keys, as they should.
    "init": "dcgan", "upsample": "transposed",
    # issue 14's tricks, off by default
    "feature_matching": 0.0, "historical_averaging": 0.0, "label_noise": False, "label_flip": 0.0,
    "d_minibatch": "none", "g_dropout": 0.0, "conditional": False,
}


def _coerce(field: str, typ: Any, value: Any) -> Any:
    """Accept YAML's natural spellings (5 for 5.0, a number written as a string, '1e-4' or '200',
    for floats and integers alike) but never silently truncate."""
    typ = typ if isinstance(typ, str) else typ.__name__
    if typ == "str":
        if isinstance(value, str):
            return value
    elif typ == "bool":
        if isinstance(value, bool):
            return value
    elif typ == "int":
        if isinstance(value, bool):
            pass
        elif isinstance(value, int):
            if abs(value) <= MAX_INT:
                return value
            raise ConfigError(f"{field}: invalid value {value!r}; allowed: an integer within +-(2**63 - 1)")
        elif isinstance(value, float) and value.is_integer() and abs(value) <= MAX_INT:
            return int(value)
        elif isinstance(value, str):
            number = _number(value)
            if number.is_integer() and abs(number) <= MAX_INT:
                return int(value) if value.strip().lstrip("+-").isdigit() else int(number)
    elif typ == "float":
        if isinstance(value, bool):
            pass
        elif isinstance(value, (int, float)):
            return float(value)
        elif isinstance(value, str) and math.isfinite(number := _number(value)):
            return number
    raise ConfigError(f"{field}: expected {typ}, got {value!r} ({type(value).__name__})")


def _number(text: str) -> float:
    """A number written as a string ('1e-4', '200'); NaN when it is none."""
    try:
        return float(text)
    except ValueError:
        return math.nan
