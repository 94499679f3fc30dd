"""DINOv2 feature spaces (study/gan/metrics/dinov2.py) against timm called directly on images
prepared independently, as dgm-eval prepares them (torchvision's Resize((224, 224), BICUBIC),
ToTensor and Normalize on PIL images), with the reference's position-embedding resampling
written out here as the official DinoVisionTransformer.interpolate_pos_encoding calls it.

No real checkpoint is needed (nor downloaded): the networks are randomly initialised at the real
shapes (ViT-S/14 for most tests, ViT-L/14 once), with layer scales, norms and position
embeddings drawn far from their initial values so that every block matters, and written to a
temporary file in the official format (518 px position embeddings, mask_token) and in timm's.
Skipped without timm (the ``dinov2`` extra).
"""
import dataclasses
import math
import os
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from study.gan.config import ConfigError, TrialConfig
from study.gan.hashing import sha256_of
from study.gan.metrics import dinov2
from study.gan.metrics.extractors import EXTRACTORS, check_spaces, extract
from study.gan.metrics.inception_weights import WeightsError
from study.gan.metrics.pil_resample import resize_uint8


def _timm():
    from study.gan.metrics.torchvision_import import import_timm

    try:
        return import_timm()
    except ImportError:
        pytest.skip("timm is not installed (pip install -e '.[dinov2]')", allow_module_level=True)


timm = _timm()
import torchvision.transforms as TF  # noqa: E402  (importable once _timm has imported torchvision)
from PIL import Image  # noqa: E402

CPU = torch.device("cpu")


def random_network(timm_name: str, seed: int = 0):
    """timm's DINOv2 network at the official 518 px, its tensors drawn so that nothing is negligible."""
    torch.manual_seed(seed)
    net = timm.create_model(timm_name, pretrained=False, num_classes=0, img_size=518)
    gen = torch.Generator().manual_seed(seed + 1)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if "gamma" in name or ("norm" in name and name.endswith("weight")):  # layer scales start at 1e-5
                p.copy_(1 + 0.5 * torch.randn(p.shape, generator=gen))
            elif name.endswith("bias") or name == "cls_token":
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
            elif name == "pos_embed":
                p.copy_(0.5 * torch.randn(p.shape, generator=gen))
    return net


def official_state(state: dict, swiglu: bool = False) -> dict:
    """The DINOv2 repository's format of timm's tensors: mask_token, and ViT-g's SwiGLU as w12 / w3."""
    rename = (lambda k: k.replace("mlp.fc1", "mlp.w12").replace("mlp.fc2", "mlp.w3")) if swiglu else (lambda k: k)
    out = {rename(k): v for k, v in state.items()}
    out["mask_token"] = torch.zeros(1, state["cls_token"].shape[-1])
    return out


def reference_pos_embed(pos_embed: torch.Tensor) -> torch.Tensor:
    """DinoVisionTransformer.interpolate_pos_encoding (facebookresearch/dinov2) for a 224 px input."""
    n = pos_embed.shape[1] - 1
    m, dim = int(math.sqrt(n)), pos_embed.shape[-1]
    w0 = h0 = 224 // 14
    patch = F.interpolate(pos_embed[:, 1:].float().reshape(1, m, m, dim).permute(0, 3, 1, 2), mode="bicubic",
                          antialias=False, scale_factor=(float(w0 + 0.1) / m, float(h0 + 0.1) / m))
    return torch.cat((pos_embed[:, :1], patch.permute(0, 2, 3, 1).reshape(1, -1, dim)), dim=1)


def reference_features(net518, timm_name: str, images: torch.Tensor) -> torch.Tensor:
    """timm's network at 224 px with the reference's position embeddings, on images prepared as
    dgm-eval's DINOv2 encoder does (PIL, torchvision transforms)."""
    state = {k: v.clone() for k, v in net518.state_dict().items()}
    state["pos_embed"] = reference_pos_embed(state["pos_embed"])
    net = timm.create_model(timm_name, pretrained=False, num_classes=0, img_size=224).eval()
    net.load_state_dict(state, strict=True)
    prepare = TF.Compose([TF.Resize((224, 224), TF.InterpolationMode.BICUBIC), TF.ToTensor(),
                          TF.Normalize(np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225]))])
    u8 = (images.clamp(0, 1) * 255).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()
    pil = [Image.fromarray(a[..., 0], "L").convert("RGB") if a.shape[-1] == 1 else Image.fromarray(a) for a in u8]
    with torch.no_grad():
        return net(torch.stack([prepare(p) for p in pil]))


@pytest.fixture(scope="module")
def vits(tmp_path_factory):
    """A random ViT-S/14 in both formats: (network at 518 px, official file, timm file)."""
    net = random_network("vit_small_patch14_dinov2")
    folder = tmp_path_factory.mktemp("vits14")
    official, timm_file = folder / "dinov2_vits14_pretrain.pth", folder / "vits14_timm.pth"
    torch.save(official_state(net.state_dict()), official)
    torch.save(net.state_dict(), timm_file)
    return net, str(official), str(timm_file)


@pytest.fixture(scope="module")
def vitl(tmp_path_factory):
    """A random ViT-L/14 in the official format (1.2 GB): the one large network of these tests."""
    net = random_network("vit_large_patch14_dinov2", seed=3)
    path = tmp_path_factory.mktemp("vitl14") / "dinov2_vitl14_pretrain.pth"
    torch.save(official_state(net.state_dict()), path)
    return net, str(path)


def images(n: int, channels: int, size: int, seed: int = 0) -> torch.Tensor:
    return torch.rand(n, channels, size, size, generator=torch.Generator().manual_seed(seed))


# ---- preprocessing and the position embeddings ------------------------------------------------------
@pytest.mark.parametrize("shape", [(8, 8), (16, 16), (32, 32), (64, 64), (224, 224), (256, 256), (300, 500),
                                   (225, 223), (40, 60), (60, 40), (7, 300)])
def test_the_uint8_resize_is_pillows_to_the_bit(shape):
    rng = np.random.default_rng(sum(shape))
    a = rng.integers(0, 256, (*shape, 3), dtype=np.uint8)
    a[: shape[0] // 3] = rng.integers(0, 2, a[: shape[0] // 3].shape) * 255  # hard edges: clipping in both passes
    for out in ((224, 224), (13, 97)):
        expected = np.asarray(Image.fromarray(a).resize(out[::-1], Image.BICUBIC))
        ours = resize_uint8(torch.from_numpy(a).permute(2, 0, 1), *out).permute(1, 2, 0).numpy()
        assert np.array_equal(ours, expected), (shape, out)


def test_the_input_is_dgm_evals_transform_exactly():
    prepare = TF.Compose([TF.Resize((224, 224), TF.InterpolationMode.BICUBIC), TF.ToTensor(),
                          TF.Normalize(np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225]))])
    for x in (images(3, 3, 32), images(3, 1, 16, seed=1), images(2, 3, 224, seed=2)):
        u8 = (x * 255).round().to(torch.uint8).expand(-1, 3, -1, -1).permute(0, 2, 3, 1).numpy()
        expected = torch.stack([prepare(Image.fromarray(np.ascontiguousarray(a))) for a in u8])
        assert torch.equal(dinov2.dinov2_input(x), expected)


def test_position_embeddings_are_resampled_as_the_reference_does_once_at_load():
    pos = torch.randn(1, 1 + 37 * 37, 64, generator=torch.Generator().manual_seed(0))
    ours = dinov2.resample_pos_embed(pos)
    assert ours.shape == (1, 257, 64) and torch.equal(ours, reference_pos_embed(pos))
    assert torch.equal(ours[:, 0], pos[:, 0])  # the class token's is kept
    from timm.layers import resample_abs_pos_embed

    timms = resample_abs_pos_embed(pos, new_size=[16, 16], num_prefix_tokens=1)  # to a size, antialiased
    assert (timms - ours).abs().max() > 1e-3  # what doing it timm's way would have changed
    assert torch.equal(dinov2.resample_pos_embed(ours), ours)  # already 16 x 16: kept


# ---- the features ---------------------------------------------------------------------------------
@pytest.mark.parametrize("fmt", ["official", "timm"])
def test_vits14_features_equal_timm_on_independently_prepared_images(vits, fmt):
    net, official, timm_file = vits
    model = EXTRACTORS.get("dinov2_vits14").load(CPU, "tf_bilinear", official if fmt == "official" else timm_file)
    for x in (images(5, 3, 32), images(4, 1, 16, seed=1)):
        expected = reference_features(net, "vit_small_patch14_dinov2", x)
        ours = extract(EXTRACTORS.get("dinov2_vits14"), model, x)
        assert ours.shape == (len(x), 384)
        assert torch.allclose(ours.float(), expected, rtol=1e-5, atol=1e-5), (ours.float() - expected).abs().max()
    assert model.identity == sha256_of(official if fmt == "official" else timm_file)
    assert not model.has_logits


@pytest.mark.slow
def test_vitl14_features_equal_timm_on_independently_prepared_images(vitl):
    net, path = vitl
    model = EXTRACTORS.get("dinov2_vitl14").load(CPU, "", path)
    x = images(3, 3, 32, seed=5)
    expected = reference_features(net, "vit_large_patch14_dinov2", x)
    ours = model.features(x)
    assert ours.shape == (3, 1024)
    assert torch.allclose(ours, expected, rtol=1e-5, atol=1e-5), (ours - expected).abs().max()


# ---- refusals -------------------------------------------------------------------------------------
def cfg(**kw) -> TrialConfig:
    return TrialConfig.from_dict({"feature_extractor": "dinov2_vits14", **kw})


def test_a_missing_file_is_refused_before_any_trial_naming_the_field(monkeypatch, tmp_path):
    monkeypatch.delenv(dinov2.ENV_PATH, raising=False)
    missing = str(tmp_path / "nowhere.pth")
    with pytest.raises(ConfigError, match=r"trial\.feature_extractor: dinov2_vits14 cannot be computed: "
                                          r"trial\.feature_weights: invalid value '.*nowhere\.pth': no such file; "
                                          r"dinov2_vits14 needs the official dinov2_vits14_pretrain\.pth"):
        check_spaces(cfg(feature_weights=missing))
    with pytest.raises(ConfigError, match=r"neither trial\.feature_weights nor \$GAN_STUDY_DINOV2_WEIGHTS is set"):
        check_spaces(cfg())
    monkeypatch.setenv(dinov2.ENV_PATH, missing)
    with pytest.raises(ConfigError, match=r"\$GAN_STUDY_DINOV2_WEIGHTS: invalid value '.*nowhere\.pth'"):
        check_spaces(cfg())
    with pytest.raises(ConfigError, match=r"trial\.metrics: fd_dinov2 \(in dinov2_vitl14 space, with the weights of "
                                          r"\$GAN_STUDY_DINOV2_WEIGHTS.*\) cannot be computed"):
        check_spaces(TrialConfig.from_dict({"metrics": "fid+fd_dinov2"}))


def test_a_file_of_another_architecture_is_refused_saying_what_it_looks_like(vits, tmp_path):
    _, official, timm_file = vits
    for name in ("dinov2_vitb14", "dinov2_vitl14"):
        for path in (official, timm_file):
            with pytest.raises(WeightsError, match=rf"not a checkpoint of {name} .*it looks like dinov2_vits14 "
                                                   r"\(384-d, 12 blocks\)"):
                dinov2.check(name, path)
    state = torch.load(official, weights_only=True)
    registers = tmp_path / "reg.pth"
    torch.save({**state, "register_tokens": torch.zeros(1, 4, 384)}, registers)
    with pytest.raises(WeightsError, match="with registers"):
        dinov2.check("dinov2_vits14", str(registers))
    truncated = tmp_path / "truncated.pth"
    torch.save({k: v for k, v in state.items() if "blocks.11.mlp" not in k}, truncated)
    with pytest.raises(WeightsError, match=r"missing, extra or of another shape: blocks\.11\.mlp"):
        dinov2.check("dinov2_vits14", str(truncated))
    other = tmp_path / "digits.pth"
    torch.save({"conv.weight": torch.zeros(3, 3)}, other)
    with pytest.raises(WeightsError, match=r"it looks like no ViT"):
        dinov2.check("dinov2_vits14", str(other))
    (tmp_path / "text.pth").write_text("not a checkpoint")
    with pytest.raises(WeightsError, match="not a PyTorch state dict"):
        dinov2.check("dinov2_vits14", str(tmp_path / "text.pth"))
    assert dinov2.check("dinov2_vits14", official) == dinov2.check("dinov2_vits14", official)  # accepted


def test_vitg14s_swiglu_checkpoints_are_accepted_in_both_formats(tmp_path):
    """ViT-g/14 (1.1e9 parameters) as zero tensors of the real shapes that take no memory (a
    broadcast scalar each): the names and shapes are checked, SwiGLU's w12 / w3 renamed."""
    with torch.device("meta"):
        shapes = {k: v.shape for k, v in timm.create_model("vit_giant_patch14_dinov2", num_classes=0,
                                                         img_size=518).state_dict().items()}
    state = {k: torch.zeros(()).expand(s) for k, s in shapes.items()}
    state["pos_embed"] = torch.randn(shapes["pos_embed"])
    official, timm_file = tmp_path / "dinov2_vitg14_pretrain.pth", tmp_path / "vitg14_timm.pth"
    torch.save(official_state(state, swiglu=True), official)
    torch.save(state, timm_file)
    assert "blocks.39.mlp.w12.weight" in torch.load(official, weights_only=True, mmap=True)
    for path in (official, timm_file):
        assert dinov2.check("dinov2_vitg14", str(path)) == sha256_of(path)
        with pytest.raises(WeightsError, match=r"it looks like dinov2_vitg14 \(1536-d, 40 blocks\)"):
            dinov2.check("dinov2_vitl14", str(path))


def test_without_timm_the_dinov2_spaces_are_refused_by_name(vits, monkeypatch):
    monkeypatch.setitem(sys.modules, "timm", None)  # import timm now raises ImportError
    with pytest.raises(ConfigError, match=r"trial\.feature_extractor: dinov2_vits14 cannot be computed: .*need timm.*"
                                          r"pip install 'gan-study\[dinov2\]'"):
        check_spaces(cfg(feature_weights=vits[1]))
    dinov2._network.cache_clear()  # a network built earlier in this process would be served
    with pytest.raises(WeightsError, match="need timm"):
        EXTRACTORS.get("dinov2_vits14").load(CPU, "", vits[1])


def test_a_changed_file_is_hashed_again_and_never_served_from_a_cache(vits, tmp_path):
    net, official, _ = vits
    path = tmp_path / "w.pth"
    state = official_state(net.state_dict())
    torch.save(state, path)
    first = EXTRACTORS.get("dinov2_vits14").load(CPU, "", str(path))
    x = images(2, 3, 16)
    before = first.features(x)
    state["norm.bias"] = state["norm.bias"] + 1.0  # same size, other content
    torch.save(state, path)
    os.utime(path, ns=(os.stat(path).st_atime_ns, os.stat(path).st_mtime_ns + 10**9))
    second = EXTRACTORS.get("dinov2_vits14").load(CPU, "", str(path))
    assert second.identity != first.identity and second.identity == sha256_of(path)
    assert torch.allclose(second.features(x), before + 1.0, atol=1e-5)


def test_inception_weights_are_checked_before_any_trial_too(tmp_path):
    bad = tmp_path / "inception.pt"
    bad.write_bytes(b"not the network")
    with pytest.raises(ConfigError, match=r"trial\.feature_extractor: inception cannot be computed: inception weights: "
                                          r".*inception\.pt has sha256 .* not a known Inception file"):
        check_spaces(TrialConfig.from_dict({"feature_extractor": "inception", "feature_weights": str(bad)}))
    with pytest.raises(ConfigError, match=r"trial\.feature_weights: invalid value .*; allowed: '' with "):
        TrialConfig.from_dict({"feature_weights": str(bad)})  # digits: its weights ship with the package


def test_the_driver_refuses_a_study_before_anything_is_written(tmp_path, monkeypatch):
    import yaml

    from study.engine.driver import run_study
    from study.engine.spec import parse_spec

    monkeypatch.delenv(dinov2.ENV_PATH, raising=False)
    study = {"name": "dino", "factors": {"loss": ["ns"]}, "grid": {"preset": "kurach2019", "select": [1]},
             "trial": {"feature_extractor": "dinov2_vitl14", "steps": 2, "eval_every": 2}}
    out = tmp_path / "study"
    with pytest.raises(ConfigError, match=r"trial\.feature_extractor: dinov2_vitl14 cannot be computed"):
        run_study(parse_spec(study), yaml.safe_dump(study), out)
    assert not out.exists()


# ---- trials end to end ------------------------------------------------------------------------------
TINY = dict(width=0.125, z_dim=16, batch_size=16, steps=4, eval_every=2, resolution=8, sample_grid=0)


def trial_rows(config: TrialConfig) -> list[dict]:
    from study.gan.trial import run_trial

    rows = []
    run_trial(config, lambda r, s=None: rows.append(r))
    return rows


@pytest.mark.slow
def test_a_trial_in_vits14_space_records_the_weights_sha256(vits, monkeypatch, tmp_path):
    monkeypatch.setenv("GAN_STUDY_CACHE", str(tmp_path))
    monkeypatch.setenv(dinov2.ENV_PATH, vits[1])
    config = TrialConfig.from_dict({**TINY, "feature_extractor": "dinov2_vits14", "metrics": "fid+kid+pr",
                                    "eval_samples": 12, "eval_real_samples": 12})
    rows = trial_rows(config)
    digest = sha256_of(vits[1])
    assert [r["step"] for r in rows] == [2, 4] and rows[-1]["status"] == "ok"
    for r in rows:
        assert r["feature_extractor"] == "dinov2_vits14" and r["feature_weights_sha256"] == digest
        assert r["fd_dinov2_weights_sha256"] == ""
        assert all(math.isfinite(r[k]) for k in ("fid", "kid", "pr_precision", "pr_recall"))
    assert len(list((tmp_path / "real_stats").glob("*.npz"))) == 1  # the real features, cached once
    again = trial_rows(dataclasses.replace(config, feature_weights=vits[2]))  # the timm file: other bytes
    assert again[-1]["feature_weights_sha256"] == sha256_of(vits[2]) != digest
    assert abs(again[-1]["fid"] - rows[-1]["fid"]) < 1e-6 * max(1.0, rows[-1]["fid"])  # the same network


@pytest.mark.slow
def test_a_trial_with_fd_dinov2_records_it_beside_its_fid(vitl, monkeypatch, tmp_path):
    from study.gan.metrics.digits_classifier import weights_sha256

    monkeypatch.setenv("GAN_STUDY_CACHE", str(tmp_path))
    monkeypatch.setenv(dinov2.ENV_PATH, vitl[1])
    config = TrialConfig.from_dict({**TINY, "steps": 2, "metrics": "fid+fd_dinov2", "eval_samples": 6,
                                    "eval_real_samples": 6})
    assert check_spaces(config)["fd_dinov2_weights_sha256"] == sha256_of(vitl[1])
    (row,) = trial_rows(config)
    assert row["status"] == "ok" and row["feature_extractor"] == "digits"
    assert row["feature_weights_sha256"] == weights_sha256()
    assert row["fd_dinov2_weights_sha256"] == sha256_of(vitl[1])
    assert math.isfinite(row["fd_dinov2"]) and row["fd_dinov2"] > 0 and math.isfinite(row["fid"])
    assert row["fd_dinov2"] != row["fid"]  # another space


def test_fd_dinov2_is_the_fid_of_that_space_and_shares_its_real_statistics(vits, monkeypatch, tmp_path):
    """ViT-S stands in for ViT-L (the same code, a fraction of the time): fd_dinov2 beside a digits
    FID equals the FID of an evaluator in that space, is that FID when it is the main space, and
    both find the same cached real statistics."""
    from study.gan.data import load_dataset
    from study.gan.metrics import evaluator, extractors
    from study.gan.metrics.evaluator import Evaluator, EvaluatorOptions

    monkeypatch.setattr(extractors, "FD_DINOV2", "dinov2_vits14")
    monkeypatch.setattr(evaluator, "_REAL_STATS", {})  # earlier tests may hold these statistics in this process
    monkeypatch.setenv(dinov2.ENV_PATH, vits[1])
    data = load_dataset("digits", 8, 1)
    gen = torch.nn.Sequential(torch.nn.Linear(4, 64), torch.nn.Sigmoid(), torch.nn.Unflatten(1, (1, 8, 8)))

    def evaluate(extractor: str):
        options = EvaluatorOptions(split="test", extractor=extractor, resolution=8, channels=1, samples=6,
                                   real_samples=6, metrics=("fid", "fd_dinov2"), cache=tmp_path)
        ev = Evaluator(data, options, CPU)
        return ev, ev(gen, ev.latents(4, "normal"), 0.0, 1.0)

    beside, result = evaluate("digits")
    main, alone = evaluate("dinov2_vits14")
    assert beside.fd_dinov2_weights_sha256 == main.weights_sha256 == sha256_of(vits[1])
    assert result.extra["fd_dinov2"] == pytest.approx(alone.fid, rel=1e-9) and alone.extra["fd_dinov2"] == alone.fid
    assert len(list((tmp_path / "real_stats").glob("*.npz"))) == 2  # digits', and the one DINOv2 space's
