"""DINOv2 feature spaces (Oquab et al. 2023), as Stein et al. (NeurIPS 2023, "Exposing flaws of
generative model evaluation metrics") score generative models in them with their dgm-eval.

Four extractors, ``dinov2_vits14``, ``dinov2_vitb14``, ``dinov2_vitl14`` (dgm-eval's default, the
space of ``fd_dinov2``) and ``dinov2_vitg14``: the CLS token after the final layer norm, 384-,
768-, 1024- and 1536-d. The network is timm's DINOv2 ViT (``vit_*_patch14_dinov2``, num_classes
0, global pool ``token``); its weights come from a file the user provides (nothing downloads):

- the official checkpoints of the DINOv2 repository (``dinov2_vitl14_pretrain.pth`` and its
  siblings: ``blocks.N.ls1.gamma``, ``mask_token``, for ViT-g a SwiGLU ``mlp.w12``/``mlp.w3``),
  or a timm state dict of the same network; both go through timm's own checkpoint filter
  (``checkpoint_filter_fn``, which renames the official keys) and must then fit the network's
  every tensor, name and shape, or the file is refused, saying which architecture it looks like;
- named by ``trial.feature_weights`` or, when that is empty, ``$GAN_STUDY_DINOV2_WEIGHTS``;
- its sha256 (cached per path, size and modification time) is the extractor's identity,
  recorded in every row (``feature_weights_sha256``) and part of the real statistics' cache key.

The official model (``torch.hub.load('facebookresearch/dinov2', 'dinov2_vitl14')``, as dgm-eval
loads it) is built for 518 px (37 x 37 patches) and fed 224 px (16 x 16): on every forward its
``interpolate_pos_encoding`` resamples the patch position embeddings bicubically with
``scale_factor = (16 + 0.1) / 37`` (the "interpolate offset"; antialias off), not to a size.
That is a function of the weights alone, so it is done once here, at load time, the same way
(``resample_pos_embed``), and the network then runs at 224 px without resampling anything.

Preprocessing is dgm-eval's DINOv2 encoder's (``TF.Resize((224, 224), BICUBIC)``, ``ToTensor``,
``Normalize`` with ImageNet's mean and std, on a PIL image): images in [0, 1] quantised to uint8
by rounding (as for Inception), grey tiled to 3 channels, Pillow's bicubic resize of the uint8
image (study/gan/metrics/pil_resample.py reproduces it to the bit, batched on the images'
device), then / 255 and the normalisation, in float32 as torchvision does them.
"""
from __future__ import annotations

import functools
import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from study.gan.hashing import sha256_of
from study.gan.metrics.inception_weights import WeightsError

ENV_PATH = "GAN_STUDY_DINOV2_WEIGHTS"
FIELD = "trial.feature_weights"
SIZE, PATCH = 224, 14
GRID = SIZE // PATCH  # 16 x 16 patches at 224 px
INTERPOLATE_OFFSET = 0.1  # DinoVisionTransformer.interpolate_offset (torch.hub's default)
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # dgm-eval's ImageNet normalisation


@dataclass(frozen=True)
class Arch:
    name: str  # the extractor's name, as dgm-eval's torch.hub entry point
    timm_name: str
    dim: int
    depth: int

    @property
    def official_file(self) -> str:
        return f"{self.name}_pretrain.pth"

    def describe(self) -> str:
        return f"{self.name} ({self.dim}-d, {self.depth} blocks)"


ARCHS = {a.name: a for a in (
    Arch("dinov2_vits14", "vit_small_patch14_dinov2", 384, 12),
    Arch("dinov2_vitb14", "vit_base_patch14_dinov2", 768, 12),
    Arch("dinov2_vitl14", "vit_large_patch14_dinov2", 1024, 24),
    Arch("dinov2_vitg14", "vit_giant_patch14_dinov2", 1536, 40),  # SwiGLU feed-forward
)}
DEFAULT = "dinov2_vitl14"  # dgm-eval's default encoder, the space of fd_dinov2


def allowed(arch: Arch) -> str:
    return (f"the official {arch.official_file} of the DINOv2 repository (facebookresearch/dinov2; "
            f"downloaded by you, nothing downloads at run time) or a timm state dict of {arch.timm_name}, "
            f"named by {FIELD} or ${ENV_PATH}")


# ---- the file ------------------------------------------------------------------------------------
_DIGESTS: dict[tuple[str, int, int], str] = {}


def file_sha256(path: Path) -> str:
    """The file's sha256, computed once per (path, size, modification time) in this process."""
    st = path.stat()
    key = (str(path.resolve()), st.st_size, st.st_mtime_ns)
    if key not in _DIGESTS:
        _DIGESTS[key] = sha256_of(path)
    return _DIGESTS[key]


@dataclass(frozen=True)
class Weights:
    arch: Arch
    path: Path
    sha256: str
    source: str  # where the path came from: trial.feature_weights or $GAN_STUDY_DINOV2_WEIGHTS


def resolve(name: str, path: str = "") -> Weights:
    """The weights file of extractor ``name``: ``path`` (trial.feature_weights) or the
    environment's; a WeightsError naming where the value came from and what is allowed."""
    arch = ARCHS[name]
    value = path or os.environ.get(ENV_PATH, "")
    source = FIELD if path else f"${ENV_PATH}"
    if not value:
        raise WeightsError(f"{name} needs its weights file and neither {FIELD} nor ${ENV_PATH} is set; "
                           f"allowed: {allowed(arch)}")
    p = Path(value).expanduser()
    if not p.is_file():
        raise WeightsError(f"{source}: invalid value {value!r}: no such file; {name} needs {allowed(arch)}")
    return Weights(arch, p, file_sha256(p), source)


def timm_module():
    """timm, through the torchvision import workaround; a WeightsError when it is not installed."""
    from study.gan.metrics.torchvision_import import import_timm

    try:
        return import_timm()
    except ImportError as e:
        raise WeightsError(f"the DINOv2 extractors need timm, which cannot be imported ({e}); "
                           "allowed: pip install 'gan-study[dinov2]' (or make venv), or feature_extractor "
                           "digits or inception without fd_dinov2") from None


def read_state(w: Weights) -> dict[str, torch.Tensor]:
    """The file's tensors (memory-mapped where the file allows: shapes cost no reading)."""
    try:
        try:
            obj = torch.load(w.path, map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError:  # a legacy (non-zip) file cannot be memory-mapped
            obj = torch.load(w.path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - whatever torch.load raises, the file is not a state dict
        raise WeightsError(f"{w.source}: invalid value {str(w.path)!r}: not a PyTorch state dict "
                           f"({type(e).__name__}: {str(e)[:200]}); {w.arch.name} needs {allowed(w.arch)}") from None
    for key in ("model", "state_dict"):  # wrappers timm's filter also unwraps
        if isinstance(obj, dict) and isinstance(obj.get(key), dict):
            obj = obj[key]
    if not isinstance(obj, dict) or not all(isinstance(v, torch.Tensor) for v in obj.values()):
        raise WeightsError(f"{w.source}: invalid value {str(w.path)!r}: not a state dict of tensors; "
                           f"{w.arch.name} needs {allowed(w.arch)}")
    return obj


def looks_like(state: dict[str, torch.Tensor]) -> str:
    """What a state dict seems to be, for an error message."""
    if "register_tokens" in state or "reg_token" in state:
        return "a DINOv2 checkpoint with registers (the *_reg4_pretrain.pth files), which dgm-eval does not use"
    token = state.get("cls_token")
    if token is None or token.ndim != 3:
        return "no ViT (it has no cls_token)"
    depth = len({m.group(1) for k in state if (m := re.match(r"blocks\.(\d+)\.", k))})
    same = [a for a in ARCHS.values() if (a.dim, a.depth) == (token.shape[-1], depth)]
    if same:
        return f"{same[0].describe()}"
    return f"a {token.shape[-1]}-d ViT with {depth} blocks, none of {', '.join(ARCHS)}"


def resample_pos_embed(pos_embed: torch.Tensor, grid: int = GRID) -> torch.Tensor:
    """(1, 1 + M*M, d) position embeddings for a ``grid`` x ``grid`` patch input, as the official
    ``DinoVisionTransformer.interpolate_pos_encoding`` computes them on every forward: the patch
    part bicubically with ``scale_factor (grid + 0.1) / M`` (not a size), antialias off, in float32."""
    n = pos_embed.shape[1] - 1
    m = math.isqrt(n)
    if m * m != n:
        raise ValueError(f"pos_embed: {n} patch positions are not a square grid")
    if m == grid:
        return pos_embed.float()
    dim = pos_embed.shape[-1]
    pos = pos_embed.float()
    scale = float(grid + INTERPOLATE_OFFSET) / m
    patch = F.interpolate(pos[:, 1:].reshape(1, m, m, dim).permute(0, 3, 1, 2), scale_factor=(scale, scale),
                          mode="bicubic", antialias=False)
    if patch.shape[-2:] != (grid, grid):
        raise ValueError(f"pos_embed: resampled to {tuple(patch.shape[-2:])}, not {grid} x {grid}")
    return torch.cat((pos[:, :1], patch.permute(0, 2, 3, 1).reshape(1, grid * grid, dim)), dim=1)


def _network_shapes(arch: Arch) -> tuple[nn.Module, dict[str, torch.Size]]:
    """timm's network on the meta device (no storage, no initialisation cost) and its tensors' shapes."""
    timm = timm_module()
    with torch.device("meta"):
        net = timm.create_model(arch.timm_name, pretrained=False, num_classes=0, img_size=SIZE)
    return net, {k: v.shape for k, v in net.state_dict().items()}


def converted(w: Weights) -> dict[str, torch.Tensor]:
    """The file's tensors in timm's names for ``w.arch`` at 224 px, every one of the network's
    tensors present with its shape, else a WeightsError naming what the file looks like."""
    state = dict(read_state(w))  # a copy: timm's dinov2 conversion pops mask_token
    net, shapes = _network_shapes(w.arch)
    refuse = (f"{w.source}: invalid value {str(w.path)!r}: not a checkpoint of {w.arch.describe()}; "
              f"it looks like {looks_like(state)}; {w.arch.name} needs {allowed(w.arch)}")
    if looks_like(state) != w.arch.describe() or not isinstance(state.get("pos_embed"), torch.Tensor):
        raise WeightsError(refuse)
    try:
        state["pos_embed"] = resample_pos_embed(state["pos_embed"])
    except ValueError as e:
        raise WeightsError(f"{refuse} ({e})") from None
    from timm.models.vision_transformer import checkpoint_filter_fn

    state = checkpoint_filter_fn(state, net)
    wrong = sorted(set(shapes) ^ set(state)) + sorted(k for k in set(shapes) & set(state)
                                                     if tuple(state[k].shape) != tuple(shapes[k]))
    if wrong:
        raise WeightsError(f"{refuse} (tensors missing, extra or of another shape: {', '.join(wrong[:4])})")
    return state


def check(name: str, path: str = "") -> str:
    """Everything short of building the network (timm importable, the file there, its tensors
    those of ``name``); its sha256. For the driver's check before any trial starts."""
    w = resolve(name, path)
    converted(w)
    return w.sha256


@functools.lru_cache(maxsize=2)
def _network(w: Weights, device: str) -> nn.Module:
    """The network with the file's weights (built on the meta device and given the tensors);
    one per file content and device in this process."""
    state = {k: v.float().contiguous() for k, v in converted(w).items()}
    net, _ = _network_shapes(w.arch)
    net.load_state_dict(state, strict=True, assign=True)
    return net.to(device).eval()


# ---- preprocessing and the extractor ------------------------------------------------------------
def dinov2_input(images: torch.Tensor, size: int = SIZE) -> torch.Tensor:
    """(N, C, H, W) images in [0, 1] -> (N, 3, 224, 224) network input, as dgm-eval prepares a PIL
    image: uint8 (rounded), Pillow's bicubic resize, ToTensor (/ 255), ImageNet normalisation."""
    from study.gan.metrics.pil_resample import resize_uint8

    x = (images.float().clamp(0.0, 1.0) * 255.0).round()
    if x.shape[1] not in (1, 3):
        raise ValueError(f"images: need 1 or 3 channels, got {x.shape[1]}")
    if x.shape[-2:] != (size, size):  # a grey image's one channel, before it is tiled
        x = resize_uint8(x, size, size, dtype=torch.float32)  # integers 0..255, as ToTensor's uint8
    x = x.expand(-1, 3, -1, -1) / 255.0
    mean = torch.tensor(MEAN, dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(STD, dtype=torch.float32, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


class DinoV2Features(nn.Module):
    """A DINOv2 network behind dgm-eval's preprocessing: ``features`` are the normed CLS token."""

    has_logits = False  # no classifier: no Inception Score in this space

    def __init__(self, net: nn.Module, arch: Arch, identity: str) -> None:
        super().__init__()
        self.net, self.arch, self.identity = net, arch, identity

    @torch.no_grad()
    def features(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(dinov2_input(images)).float()


def load(name: str, device: torch.device, path: str = "") -> DinoV2Features:
    w = resolve(name, path)
    return DinoV2Features(_network(w, str(device)), w.arch, w.sha256)
