"""Fused groups (study/gan/fused/): each member trains as its solo trial would, on CPU.

The reference is ``run_trial`` itself: a member's per-step losses (eval_every 1) and FIDs are
compared with the same config run alone. Rates are small in the registry-wide tests so that
the comparison measures the algorithm, not float32 chaos: at Adam's first steps a gradient
that is rounding noise (a bias before batch norm) moves its weight by +-lr whatever its size,
so two float paths that differ by 1e-7 part by lr per step (the solo trial run with 2 threads
instead of 1 drifts as far as the fused one: 2e-4 and 9e-4 relative over 20 steps for
DCGAN with SN and GP at lr 1e-4 and 2e-4). The default rates are checked on the base model.
"""
import copy
import math

import pytest
import torch

from study.gan.config import TrialConfig
from study.gan.fused.adam import StackedAdam
from study.gan.fused.group import run_group
from study.gan.fused.grouping import fusion_key, groups, unfusable
from study.gan.losses import LOSSES
from study.gan.models import ARCHITECTURES
from study.gan.normalizers import NORMALIZERS
from study.gan.penalties import PENALTIES
from study.gan.trial import run_trial

TINY = dict(width=0.125, z_dim=16, batch_size=16, steps=20, eval_every=1, resolution=8, eval_samples=64,
            sample_grid=0)
SMALL_RATES = [dict(lr=2e-5, beta1=0.5, beta2=0.999, seed=0), dict(lr=5e-5, beta1=0.0, beta2=0.9, seed=1)]
TOLERANCE = 1e-4


def configs(rates=SMALL_RATES, **kw) -> list[TrialConfig]:
    penalty = kw.get("penalty", "none")
    out = []
    for i, r in enumerate(rates):
        lam = 0.0 if not PENALTIES.get(penalty).active else 1.0 + 4 * i
        out.append(TrialConfig.from_dict({**TINY, **kw, **r, "penalty_lambda": lam}))
    return out


def solo_rows(cfg: TrialConfig, state=None) -> list[dict]:
    rows = []
    run_trial(cfg, lambda r, s=None: rows.append(r), state=state)
    return rows


def group_rows(cfgs, states=None, checkpoints=False, batched=True):
    """The group's rows per member; ``batched`` (vmap, CUDA's default) unless asked otherwise."""
    rows, saved = [[] for _ in cfgs], [[] for _ in cfgs]

    def report(event_rows, event_states):
        for i, r in enumerate(event_rows):
            if r is not None:
                rows[i].append(r)
                saved[i].append(event_states[i])

    last = run_group(cfgs, report, states=states, checkpoints=checkpoints, batched=batched)
    return rows, saved, last


def deviation(a: list[dict], b: list[dict], keys=("d_loss", "g_loss", "fid")) -> float:
    """Largest |a - b| / max(|a|, 1) over the rows' losses and FIDs (losses near 0: absolute)."""
    assert [r["step"] for r in a] == [r["step"] for r in b]
    return max(abs(ra[k] - rb[k]) / max(abs(ra[k]), 1.0) for ra, rb in zip(a, b) for k in keys)


def assert_members_match_solo(cfgs, tolerance=TOLERANCE, batched=True):
    grouped, _, _ = group_rows(cfgs, batched=batched)
    for cfg, rows in zip(cfgs, grouped):
        alone = solo_rows(cfg)
        assert len(rows) == len(alone) == cfg.steps // cfg.n_dis
        assert deviation(alone, rows) <= tolerance, (cfg.seed, deviation(alone, rows))
        assert rows[-1]["fused_members"] == len(cfgs) and alone[-1]["fused_members"] == 1
        assert rows[-1]["step_mode_used"] == "eager"


@pytest.mark.parametrize("loss", LOSSES.names())
def test_every_loss_fuses_as_its_solo_trials(loss):
    assert_members_match_solo(configs(loss=loss))


@pytest.mark.parametrize("penalty", PENALTIES.names())
def test_every_penalty_fuses_as_its_solo_trials(penalty):
    assert_members_match_solo(configs(penalty=penalty))


@pytest.mark.parametrize("norm", [n for n in NORMALIZERS.names() if not NORMALIZERS.get(n).generator_only])
def test_every_discriminator_normalizer_fuses(norm):
    assert_members_match_solo(configs(d_norm=norm, penalty="gp"))


@pytest.mark.parametrize("norm", [n for n in NORMALIZERS.names() if n != "vbn"])
def test_every_generator_normalizer_fuses(norm):
    assert_members_match_solo(configs(g_norm=norm))


@pytest.mark.slow
@pytest.mark.parametrize("architecture", [a for a in ARCHITECTURES.names() if a != "dcgan"])
def test_every_architecture_fuses(architecture):
    arch = ARCHITECTURES.get(architecture)
    assert_members_match_solo(configs(architecture=architecture, resolution=arch.resolutions[0], steps=6,
                                      d_norm="sn", eval_samples=32))


@pytest.mark.parametrize("penalty", ["gp", "l2"])
def test_member_by_member_the_cpus_default_is_the_solo_trial(penalty):
    """batched=False (the CPU's default): the members' own kernels on views of the stacks."""
    assert_members_match_solo(configs(penalty=penalty, d_norm="sn", g_ema=0.5), tolerance=1e-6, batched=False)


def test_default_rates_match_solo_on_the_base_model():
    """Kurach et al.'s default Adam (2e-4, 0.5, 0.999) and a faster D, n_dis 2, EMA of G."""
    rates = [dict(lr=2e-4, beta1=0.5, beta2=0.999, seed=3), dict(lr=1e-4, lr_d=4e-4, beta1=0.5, beta2=0.999, seed=4)]
    assert_members_match_solo(configs(rates, n_dis=2, g_ema=0.9))


def test_a_member_fed_nan_diverges_alone_and_the_others_go_on():
    """Member 1 starts from a state whose generator holds a NaN: it is reported diverged at its
    first step, and members 0 and 2 continue exactly as they do alone from the same states."""
    rates = SMALL_RATES + [dict(lr=3e-5, beta1=0.5, beta2=0.99, seed=2)]
    cfgs = configs(rates, steps=12, eval_every=4)
    states = []
    for cfg in cfgs:  # each member's solo checkpoint at step 4
        saved = []
        run_trial(cfg.__class__(**{**cfg.__dict__, "steps": 4, "eval_every": 2}),
                  lambda r, s=None: saved.append(copy.deepcopy(s)), checkpoints=True)
        # the checkpoint at step 2, continued to 12 by everything below
        states.append(saved[0])
    poisoned = copy.deepcopy(states)
    first = next(k for k, v in poisoned[1]["g"].items() if v.is_floating_point() and "weight" in k)
    poisoned[1]["g"][first].view(-1)[0] = float("nan")
    rows, _, last = group_rows(cfgs, states=poisoned)
    assert last[1]["status"] == "diverged" and last[1]["is_final"]
    assert last[1]["step"] == 3 and "non-finite loss at step 3" in last[1]["error"]
    assert len(rows[1]) == 1
    for i in (0, 2):
        assert last[i]["status"] == "ok" and last[i]["step"] == 12
        alone = solo_rows(cfgs[i], state=copy.deepcopy(states[i]))
        assert deviation(alone, rows[i]) <= TOLERANCE


def test_checkpoints_resume_the_group_and_each_member_alone():
    """A member's checkpoint is a solo trial's: the group resumed from its step-10 states ends
    where the uninterrupted group ends, and member 0 resumed alone ends there too."""
    cfgs = configs(steps=20, eval_every=10)
    rows, saved, _ = group_rows(cfgs, checkpoints=True)
    states = [s[0] for s in saved]
    assert all(s["step"] == 10 for s in states) and saved[0][1] is None  # no state with the final row
    again, _, _ = group_rows(cfgs, states=copy.deepcopy(states))
    for full, resumed in zip(rows, again):
        assert resumed[-1]["restored_from_step"] == 10
        assert deviation(full[1:], resumed) <= 1e-6
    alone = solo_rows(cfgs[0], state=copy.deepcopy(states[0]))
    assert deviation(rows[0][1:], alone) <= TOLERANCE
    # the optimiser state loads into torch's own Adam
    g, _ = _solo_models(cfgs[0])
    torch.optim.Adam([p for p in g.parameters() if p.requires_grad]).load_state_dict(states[0]["opt_g"])


def _solo_models(cfg):
    from study.gan.models import HEADS, build_models

    cfg = cfg.validated()
    return build_models(cfg.architecture, resolution=cfg.resolution, channels=cfg.channels, z_dim=cfg.z_dim,
                        width=cfg.width, d_norm=NORMALIZERS.get(cfg.d_norm), g_norm=NORMALIZERS.get(cfg.g_norm),
                        head=HEADS.get(cfg.g_head), init=cfg.init, upsample=cfg.upsample)


def test_states_at_different_steps_are_refused():
    cfgs = configs()
    with pytest.raises(ValueError, match="different steps"):
        run_group(cfgs, lambda r, s: None, states=[{"step": 2, "g_iter": 2}, {"step": 4, "g_iter": 4}])


def test_a_group_of_two_models_is_refused_naming_the_field():
    a, b = configs()
    with pytest.raises(ValueError, match=r"member 1 differs from member 0 in loss"):
        run_group([a, b.__class__(**{**b.__dict__, "loss": "wgan"})], lambda r, s: None)


def test_grouping_by_model_size_and_tricks():
    base = TrialConfig().validated()

    def with_(**kw):
        return base.__class__(**{**base.__dict__, **kw})

    cfgs = [with_(lr=1e-4), with_(lr=2e-4, seed=3), with_(loss="wgan"), with_(lr=3e-4, beta1=0.1),
            with_(g_dropout=0.5), with_(penalty_lambda=0.0, lr=5e-5)]
    assert fusion_key(cfgs[0]) == fusion_key(cfgs[1]) != fusion_key(cfgs[2])
    assert "g_dropout" in unfusable(cfgs[4]) and unfusable(cfgs[0]) == ""
    assert "channels_last" in unfusable(with_(channels_last=True))
    assert groups(cfgs, size=2) == [[0, 1], [2], [3, 5], [4]]
    assert groups(cfgs, size=10) == [[0, 1, 3, 5], [2], [4]]
    assert groups(cfgs, size=1) == [[i] for i in range(6)]


def test_stacked_adam_is_torch_adam_per_member():
    """Two members with their own lr and betas against torch.optim.Adam, and a state round trip."""
    torch.manual_seed(0)
    rates = [(1e-3, 0.5, 0.999), (2e-4, 0.0, 0.9)]
    params = [torch.randn(5, 3, requires_grad=True) for _ in rates]
    opts = [torch.optim.Adam([p], lr=lr, betas=(b1, b2)) for p, (lr, b1, b2) in zip(params, rates)]
    stacked = torch.stack([p.detach() for p in params]).requires_grad_(True)
    adam = StackedAdam({"weight": stacked}, *map(list, zip(*rates)))
    for _ in range(6):
        grads = torch.randn(2, 5, 3)
        for p, opt, g in zip(params, opts, grads):
            p.grad = g.clone()
            opt.step()
        adam.step({"weight": grads})
    assert torch.allclose(torch.stack([p.detach() for p in params]), stacked.detach(), rtol=0, atol=1e-6)
    module = torch.nn.Linear(3, 5, bias=False)
    state = adam.member_state(1, module)
    assert state["param_groups"][0]["lr"] == 2e-4 and state["param_groups"][0]["betas"] == (0.0, 0.9)
    ref = opts[1].state_dict()["state"][0]
    assert float(state["state"][0]["step"]) == 6.0
    assert torch.allclose(state["state"][0]["exp_avg_sq"], ref["exp_avg_sq"], rtol=1e-5, atol=1e-9)
    other = StackedAdam({"weight": stacked.detach().clone()}, [1.0, 1.0], [0.9, 0.9], [0.99, 0.99])
    other.load_member(0, module, state)
    assert math.isclose(float(other.lr[0]), 2e-4) and float(other.step_count[0]) == 6.0
    assert torch.equal(other.exp_avg["weight"][0], state["state"][0]["exp_avg"])


# ---- step modes (CUDA graphs): what can be checked without CUDA ------------------------------------

class ReplayOnHost:
    """StepGraphs' bookkeeping with the CUDA parts replaced: capture records the step functions
    (running nothing, as a real capture trains nothing) and replay calls them."""

    def __init__(self, d_step, g_step, fail=False):
        from study.gan.fused.graphs import WARMUP_ITERATIONS

        self.d_step, self.g_step, self.fail, self.warmup = d_step, g_step, fail, WARMUP_ITERATIONS
        self.graphs, self.warm, self.captures, self.replays = None, 0, 0, 0

    def reset(self):
        self.graphs, self.warm = None, 0

    def ready(self):
        return self.graphs is None and self.warm >= self.warmup

    def capture(self, generators):
        if self.fail:
            raise RuntimeError("operation not permitted when stream is capturing")
        self.captures += 1
        self.graphs = (self.d_step, self.g_step)

    def iteration(self, n_critic):
        if self.graphs is None:
            for _ in range(n_critic):
                self.d_step()
            self.g_step()
            self.warm += 1
            return
        for _ in range(n_critic):
            self.graphs[0]()
        self.graphs[1]()
        self.replays += 1


def test_replayed_steps_train_as_eager_ones_and_rows_say_graph(monkeypatch):
    """n_dis 2, EMA and a member that diverges mid-run (the stacks change: captured again)."""
    from study.gan.fused import group

    made = []

    def graphs(self):
        made.append(ReplayOnHost(self._d_step, self._g_step))
        return made[-1]

    cfgs = configs(steps=16, eval_every=4, n_dis=2, g_ema=0.5)
    eager, _, _ = group_rows(cfgs)
    monkeypatch.setattr(group._Group, "_step_graphs", graphs)
    replayed, _, _ = group_rows(cfgs)
    assert made[0].captures == 1 and made[0].replays == 8 - 3
    for a, b in zip(eager, replayed):
        assert deviation(a, b) == 0.0
        assert b[-1]["step_mode_used"] == "graph" and a[-1]["step_mode_used"] == "eager"


def test_a_failed_capture_warns_and_trains_eagerly(monkeypatch):
    from study.gan.fused import group

    cfgs = configs(steps=8, eval_every=4)
    eager, _, _ = group_rows(cfgs)
    monkeypatch.setattr(group._Group, "_step_graphs", lambda self: ReplayOnHost(self._d_step, self._g_step, True))
    with pytest.warns(UserWarning, match="CUDA graph capture failed .*RuntimeError.*runs eagerly"):
        fallen, _, _ = group_rows(cfgs)
    for a, b in zip(eager, fallen):
        assert deviation(a, b) == 0.0 and b[-1]["step_mode_used"] == "eager"


def test_step_mode_graph_on_cpu_warns_and_runs_the_eager_loop():
    cfg = configs(steps=4, eval_every=4, step_mode="graph")[0]
    with pytest.warns(UserWarning, match="step_mode: graph: CUDA graphs need a CUDA device, not cpu"):
        rows = solo_rows(cfg)
    assert rows[-1]["step_mode_used"] == "eager" and rows[-1]["fused_members"] == 1
    with pytest.warns(UserWarning, match="step_mode: graph: CUDA graphs need a CUDA device"):
        group_rows(configs(steps=4, eval_every=4, step_mode="graph"))
    assert TrialConfig.from_dict({"step_mode": "graph"}).key() == TrialConfig.from_dict({}).key()
    with pytest.raises(Exception, match=r"trial.step_mode: invalid value 'fast'; allowed: auto, eager, graph"):
        TrialConfig.from_dict({"step_mode": "fast"})


def test_a_trial_through_a_group_of_one_is_the_trial(tmp_path):
    """What a CUDA trial runs (run_as_group): the same rows, a checkpoint in the trial's format,
    and the same kept files."""
    from study.gan.artifacts import ArtifactDir
    from study.gan.trial import run_as_group

    cfg = configs(steps=12, eval_every=4, sample_grid=16)[1]
    alone, alone_states, via_group, group_states = [], [], [], []
    run_trial(cfg, lambda r, s=None: (alone.append(r), alone_states.append(copy.deepcopy(s))), checkpoints=True,
              artifacts=ArtifactDir(tmp_path.as_uri(), "alone"))
    run_as_group(cfg, lambda r, s=None: (via_group.append(r), group_states.append(s)), checkpoints=True,
                 artifacts=ArtifactDir(tmp_path.as_uri(), "group"))
    assert deviation(alone, via_group) <= TOLERANCE
    assert [s is None for s in group_states] == [s is None for s in alone_states] == [False, False, True]
    for a, b in zip(alone_states[:2], group_states[:2]):
        assert a.keys() == b.keys() and a["g"].keys() == b["g"].keys() and a["step"] == b["step"]
        assert a["opt_d"]["param_groups"] == b["opt_d"]["param_groups"]
    resumed = solo_rows(cfg, state=copy.deepcopy(group_states[0]))  # the group's checkpoint resumes alone
    assert deviation(via_group[1:], resumed) <= TOLERANCE
    kept = sorted(p.relative_to(tmp_path / "generators" / "group").as_posix()
                  for p in (tmp_path / "generators" / "group").rglob("*"))
    assert kept == sorted(p.relative_to(tmp_path / "generators" / "alone").as_posix()
                          for p in (tmp_path / "generators" / "alone").rglob("*"))
