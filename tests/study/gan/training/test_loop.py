"""The one loop (study/gan/training/): a member of any group is its trial, bit for bit, on CPU.

The reference is ``run_trial`` itself (a group of one). A group of several trains each member
member by member with its own modules, ``torch.optim.Adam``, generators and global random state,
so every member's rows (losses, FID, best FID at every evaluation) must equal its solo trial's
exactly, for every registry entry and every trick. The batched executor (vmap) is checked
against the same reference within float rounding; an acceleration that fails continues eagerly
from the members' own states.
"""
import copy
import dataclasses
import gc
import math
import weakref

import pytest

from study.engine.schema import REPORTED_COLUMNS
from study.gan.config import EXECUTION_ONLY, TrialConfig
from study.gan.fused.batched import BatchedSteps
from study.gan.fused.grouping import MEMBER_FIELDS, unbatchable
from study.gan.losses import LOSSES
from study.gan.models import ARCHITECTURES
from study.gan.models.minibatch import MINIBATCH
from study.gan.normalizers import NORMALIZERS
from study.gan.penalties import PENALTIES
from study.gan.training import loop
from study.gan.training.loop import run_group
from study.gan.trial import run_trial

TINY = dict(width=0.125, z_dim=16, batch_size=16, steps=8, eval_every=4, resolution=8, eval_samples=64,
            sample_grid=0)
RATES = [dict(seed=0), dict(lr=1e-4, beta1=0.0, beta2=0.9, seed=1), dict(lr=5e-4, beta2=0.99, seed=2)]
KEYS = ("step", "fid", "best_fid", "d_loss", "g_loss", "status", "error", "is_final")
TRICKS = {
    "feature_matching": dict(feature_matching=0.5), "historical_averaging": dict(historical_averaging=0.1),
    "label_noise": dict(label_noise=True, label_flip=0.1), "instance_noise": dict(instance_noise=0.1),
    "g_dropout": dict(g_dropout=0.3), "conditional": dict(conditional=True), "vbn": dict(g_norm="vbn"),
    "g_ema": dict(g_ema=0.9), "iwgan": dict(n_dis_schedule="iwgan", steps=110, eval_every=55, loss="wgan"),
    "n_dis": dict(n_dis=2, loss="hinge"), "label_smoothing": dict(label_smoothing=0.1),
    "channels_last": dict(channels_last=True), "step_unit": dict(step_unit="generator", steps=4, eval_every=2),
    **{f"d_minibatch={m}": dict(d_minibatch=m) for m in MINIBATCH.names() if m != "none"},
}


def configs(rates=RATES, **kw) -> list[TrialConfig]:
    active = PENALTIES.get(kw.get("penalty", "none")).active
    return [TrialConfig.from_dict({**TINY, **kw, **r, "penalty_lambda": (1.0 + 4 * i) if active else 0.0})
            for i, r in enumerate(rates)]


def solo_rows(cfg: TrialConfig, state=None) -> list[dict]:
    rows = []
    run_trial(cfg, lambda r, s=None: rows.append(r), state=state)
    return rows


def group_rows(cfgs, states=None, checkpoints=False):
    rows, saved = [[] for _ in cfgs], [[] for _ in cfgs]

    def report(event_rows, event_states):
        for i, r in enumerate(event_rows):
            if r is not None:
                rows[i].append(r)
                saved[i].append(event_states[i])

    last = run_group(cfgs, report, states=states, checkpoints=checkpoints)
    return rows, saved, last


def values(rows: list[dict]) -> list[tuple]:
    return [tuple(r[k] for k in KEYS) for r in rows]


def assert_members_are_their_trials(cfgs):
    grouped, _, _ = group_rows(cfgs)
    for cfg, rows in zip(cfgs, grouped):
        alone = solo_rows(cfg)
        assert values(rows) == values(alone), cfg.seed
        assert rows[-1]["status"] == "ok" and rows[-1]["fused_members"] == len(cfgs)
        assert alone[-1]["fused_members"] == 1 and rows[-1]["step_mode_used"] == "eager"


@pytest.mark.parametrize("loss", LOSSES.names())
def test_every_loss_groups_bit_identically(loss):
    assert_members_are_their_trials(configs(loss=loss))


@pytest.mark.parametrize("penalty", PENALTIES.names())
def test_every_penalty_groups_bit_identically(penalty):
    assert_members_are_their_trials(configs(penalty=penalty))


@pytest.mark.parametrize("norm", [n for n in NORMALIZERS.names() if not NORMALIZERS.get(n).generator_only])
def test_every_discriminator_normalizer_groups_bit_identically(norm):
    assert_members_are_their_trials(configs(d_norm=norm))


@pytest.mark.parametrize("norm", NORMALIZERS.names())
def test_every_generator_normalizer_groups_bit_identically(norm):
    assert_members_are_their_trials(configs(g_norm=norm))


@pytest.mark.parametrize("trick", sorted(TRICKS))
def test_every_trick_groups_bit_identically(trick):
    assert_members_are_their_trials(configs(**TRICKS[trick]))


@pytest.mark.slow
@pytest.mark.parametrize("architecture", [a for a in ARCHITECTURES.names() if a != "dcgan"])
def test_every_architecture_groups_bit_identically(architecture):
    spec = ARCHITECTURES.get(architecture)
    assert_members_are_their_trials(configs(RATES[:2], architecture=architecture, resolution=spec.resolutions[0],
                                            width=1 / 32, batch_size=4, steps=2, eval_every=2, eval_samples=16))


def test_a_member_fed_nan_diverges_alone_and_the_others_are_their_trials():
    """Member 1 resumes from a state whose generator holds a NaN: it is reported diverged at its
    first step; members 0 and 2 end exactly as they do alone from the same states."""
    cfgs = configs(steps=12, eval_every=4)
    states = []
    for cfg in cfgs:  # each member's solo checkpoint at step 2
        saved = []
        run_trial(dataclasses.replace(cfg, steps=4, eval_every=2), lambda r, s=None: saved.append(copy.deepcopy(s)),
                  checkpoints=True)
        states.append(saved[0])
    poisoned = copy.deepcopy(states)
    first = next(k for k, v in poisoned[1]["g"].items() if v.is_floating_point() and "weight" in k)
    poisoned[1]["g"][first].view(-1)[0] = float("nan")
    rows, _, last = group_rows(cfgs, states=poisoned)
    assert last[1]["status"] == "diverged" and last[1]["is_final"] and len(rows[1]) == 1
    assert last[1]["step"] == 3 and "non-finite loss at step 3" in last[1]["error"]
    for i in (0, 2):
        assert last[i]["status"] == "ok" and last[i]["step"] == 12
        assert values(rows[i]) == values(solo_rows(cfgs[i], state=copy.deepcopy(states[i])))


def test_checkpoints_resume_the_group_and_each_member_alone_exactly():
    cfgs = configs(steps=12, eval_every=6, g_ema=0.9, historical_averaging=0.1)
    rows, saved, _ = group_rows(cfgs, checkpoints=True)
    states = [s[0] for s in saved]
    assert all(s["step"] == 6 for s in states) and saved[0][1] is None  # no state with the final row
    again, _, _ = group_rows(cfgs, states=copy.deepcopy(states))
    for full, resumed in zip(rows, again):
        assert resumed[-1]["restored_from_step"] == 6
        assert values(full[1:]) == values(resumed)
    assert values(rows[1][1:]) == values(solo_rows(cfgs[1], state=copy.deepcopy(states[1])))


def test_states_at_different_steps_are_refused():
    with pytest.raises(ValueError, match="different steps"):
        run_group(configs(RATES[:2]), lambda r, s: None, states=[{"step": 2, "g_iter": 2}, {"step": 4, "g_iter": 4}])


def test_a_group_of_two_models_is_refused_naming_the_field():
    a, b = configs(RATES[:2])
    with pytest.raises(ValueError, match=r"member 1 differs from member 0 in loss"):
        run_group([a, dataclasses.replace(b, loss="wgan")], lambda r, s: None)


# ---- the batched executor and its fallback ---------------------------------------------------------

def deviation(a: list[dict], b: list[dict]) -> float:
    assert [r["step"] for r in a] == [r["step"] for r in b]
    return max(abs(ra[k] - rb[k]) / max(abs(ra[k]), 1.0) for ra, rb in zip(a, b) for k in ("d_loss", "g_loss", "fid"))


@pytest.mark.parametrize("setting", [dict(), dict(penalty="gp", d_norm="sn"), dict(penalty="dragan", d_norm="ln"),
                                     dict(penalty="l2"), dict(g_ema=0.9, n_dis=2, loss="hinge"),
                                     dict(loss="wgan", penalty="gp", n_dis_schedule="iwgan", steps=110,
                                          eval_every=55)])
def test_batched_members_follow_their_trials_within_rounding(setting):
    """vmap over stacked members: the same step batched; small rates, so rounding is not amplified."""
    cfgs = configs(BATCHED_RATES, **{"eval_every": 1, **setting}, step_mode="batched")
    grouped, _, _ = group_rows(cfgs)
    for cfg, rows in zip(cfgs, grouped):
        assert rows[-1]["step_mode_used"] == "batched"
        assert deviation(solo_rows(dataclasses.replace(cfg, step_mode="eager")), rows) <= 1e-4


BATCHED_RATES = [dict(lr=2e-5, seed=0), dict(lr=5e-5, beta1=0.0, beta2=0.9, seed=1)]
BATCHED_ENTRIES = ([("loss", n) for n in LOSSES.names()] + [("penalty", n) for n in PENALTIES.names()]
                   + [("d_norm", n) for n in NORMALIZERS.names() if not NORMALIZERS.get(n).generator_only]
                   + [("g_norm", n) for n in NORMALIZERS.names() if n != "vbn"])


@pytest.mark.parametrize("field,name", BATCHED_ENTRIES)
def test_every_registry_entry_batches_within_rounding(field, name):
    cfgs = configs(BATCHED_RATES, **{field: name}, step_mode="batched", eval_every=2)
    grouped, _, _ = group_rows(cfgs)
    for cfg, rows in zip(cfgs, grouped):
        assert rows[-1]["step_mode_used"] == "batched"
        assert deviation(solo_rows(dataclasses.replace(cfg, step_mode="eager")), rows) <= 1e-4


def test_an_unbatchable_group_asked_to_batch_warns_and_is_exact():
    cfgs = configs(RATES[:2], g_dropout=0.3, step_mode="batched")
    with pytest.warns(UserWarning, match="g_dropout not batched"):
        grouped, _, _ = group_rows(cfgs)
    for cfg, rows in zip(cfgs, grouped):
        assert values(rows) == values(solo_rows(dataclasses.replace(cfg, step_mode="eager")))


def test_a_failed_acceleration_continues_eagerly_from_the_same_states(monkeypatch):
    """A batched step that raises in its guarded first iteration leaves the members as they were
    (generators included): the group then trains exactly as its trials do alone."""
    def broken(self):
        raise RuntimeError("no batching rule")

    monkeypatch.setattr(BatchedSteps, "d_step", broken)
    cfgs = configs(RATES[:2], penalty="gp", step_mode="batched")
    with pytest.warns(UserWarning, match="no batching rule.*continue one by one"):
        grouped, _, _ = group_rows(cfgs)
    for cfg, rows in zip(cfgs, grouped):
        assert rows[-1]["step_mode_used"] == "eager"
        assert values(rows) == values(solo_rows(dataclasses.replace(cfg, step_mode="eager")))


@pytest.mark.parametrize("mode", ["eager", "batched"])
def test_a_finished_group_is_freed_without_the_cyclic_collector(monkeypatch, mode):
    """Hazard 1: nothing of a group refers back to it, so reference counting frees its networks
    and executor when run_group returns (with reuse_actors one worker runs group after group)."""
    refs = []
    choose = loop.choose_executor

    def recording(shared, live):
        executor = choose(shared, live)
        refs.extend(weakref.ref(x) for x in (executor, shared, *live, *(m.g for m in live), *(m.d for m in live)))
        return executor

    monkeypatch.setattr(loop, "choose_executor", recording)
    gc.collect()
    gc.disable()
    try:
        group_rows(configs(RATES[:2], g_ema=0.5, step_mode=mode, d_norm="sn"))
        assert refs and [r for r in refs if r() is not None] == []
    finally:
        gc.enable()


# ---- what every field means to a group ---------------------------------------------------------------

SHARED_BATCHED = {  # fields every member shares, that the batched step carries
    "dataset", "resolution", "channels", "crop", "train_split", "architecture", "arch_options", "init", "upsample",
    "width", "loss", "penalty", "d_norm", "g_norm", "g_head", "z_dim", "z_dist", "n_dis", "n_dis_schedule",
    "batch_size", "steps", "step_unit", "label_smoothing", "g_ema", "deterministic", "eval_every", "eval_split",
    "eval_samples", "eval_real_samples", "feature_extractor", "metrics", "fid_resize", "fid_stats", "recon_samples",
    "recon_steps", "sample_grid", "sample_seed", "sample_every",
    "instance_noise_steps"}  # the decay's horizon: inert unless instance_noise (not batched) is on
SHARED_UNBATCHED = {  # shared too, but a group with them on steps member by member (value that turns it on)
    "feature_matching": 0.5, "historical_averaging": 0.1, "label_noise": True, "label_flip": 0.1,
    "instance_noise": 0.1, "d_minibatch": "stddev", "g_dropout": 0.3, "conditional": True, "g_norm": "vbn",
    "channels_last": True, "precision": "bf16"}


def test_every_config_field_is_classified_for_groups():
    """A new TrialConfig field must be placed here: shared (batched or not), per member, or
    execution-only, so a trick cannot be silently dropped by the batched step."""
    names = {f.name for f in dataclasses.fields(TrialConfig)}
    classified = SHARED_BATCHED | set(SHARED_UNBATCHED) | set(MEMBER_FIELDS) | set(EXECUTION_ONLY)
    assert names == classified, (names - classified, classified - names)
    base = TrialConfig().validated()
    assert unbatchable(base) == ""
    for name, value in SHARED_UNBATCHED.items():
        assert name in unbatchable(dataclasses.replace(base, **{name: value})), name


def test_a_trials_rows_carry_exactly_the_reported_columns():
    """Every key of a row is a schema column the store keeps (``feature_extractor``, a config
    column, repeats the config's value), and every reported column but the worker's node id and
    the metrics this trial does not compute is in the row."""
    rows = solo_rows(TrialConfig.from_dict({**TINY, "metrics": "fid+kid+pr+dc+hist+recon", "recon_samples": 4,
                                            "recon_steps": 2}))
    optional = {"node_id", "inception_score", "inception_score_std", "intra_fid", "fd_dinov2"}
    for row in rows:
        assert set(row) - {"feature_extractor"} <= set(REPORTED_COLUMNS), set(row) - set(REPORTED_COLUMNS)
        assert row["feature_extractor"] == "digits"
        assert set(REPORTED_COLUMNS) - set(row) == optional
        assert math.isfinite(row["fid"])
