"""Generator files: rebuilt in a new process they give the same images; a damaged, altered or
mismatched file is refused with a message saying why."""
import io
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import torch

import study
from study.gan.config import TrialConfig
from study.gan.export import (
    GeneratorFileError,
    build_generator,
    generator_payload,
    load_generator,
    payload_bytes,
    weights_sha256,
)

CFG = dict(width=0.25, z_dim=16, resolution=16, g_norm="sn")


def _file(tmp_path, cfg=CFG, name="G.pt"):
    torch.manual_seed(0)
    g, _, _ = build_generator(TrialConfig.from_dict(cfg))
    with torch.no_grad():  # move the BN running statistics off their defaults
        for m in g.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 1.5)
    path = tmp_path / name
    path.write_bytes(payload_bytes(generator_payload(TrialConfig.from_dict(cfg), g, step=7, fid=1.5)))
    return path, g


def test_load_generator_is_importable_from_study_and_rebuilds_the_network(tmp_path):
    path, g = _file(tmp_path)
    gen = study.load_generator(str(path), device="cpu")
    assert gen.config == TrialConfig.from_dict(CFG) and gen.info == {"step": 7, "fid": 1.5}
    z = torch.randn(5, 16, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        want = (g.eval()(z) + 1) / 2  # tanh head: [-1, 1] -> [0, 1]
    assert torch.equal(gen.images(z), want.clamp(0, 1))


def test_an_exported_generator_gives_the_same_images_in_a_new_process(tmp_path):
    path, _ = _file(tmp_path)
    here = load_generator(str(path), device="cpu").sample(12, seed=3).numpy()
    out = tmp_path / "there.npy"
    code = textwrap.dedent(f"""
        import numpy as np, study
        g = study.load_generator({str(path)!r}, device="cpu")
        np.save({str(out)!r}, g.sample(12, seed=3).numpy())
    """)
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
    assert np.array_equal(np.load(out), here)
    assert here.shape == (12, 1, 16, 16) and 0 <= here.min() and here.max() <= 1 and here.std() > 0


def _rewrite(path, change):
    payload = torch.load(path, weights_only=True)
    change(payload)
    path.write_bytes(payload_bytes(payload))


def test_altered_weights_are_refused_by_their_sha256(tmp_path):
    path, _ = _file(tmp_path)

    def alter(p):
        name = next(iter(p["state_dict"]))
        p["state_dict"][name] = p["state_dict"][name].clone().flatten().index_fill(0, torch.tensor([0]), 9.0).view_as(
            p["state_dict"][name])
    _rewrite(path, alter)
    with pytest.raises(GeneratorFileError, match="sha256 .* does not match the recorded"):
        load_generator(str(path), device="cpu")


def test_weights_that_do_not_fit_the_config_are_refused(tmp_path):
    path, _ = _file(tmp_path)
    _rewrite(path, lambda p: p["config"].update(z_dim=32))  # the digest still matches: the shapes do not
    with pytest.raises(GeneratorFileError,
                       match=r"do not fit the generator its config builds .*z_dim=32.*size mismatch"):
        load_generator(str(path), device="cpu")


def test_a_config_that_is_not_valid_is_refused(tmp_path):
    path, _ = _file(tmp_path)
    _rewrite(path, lambda p: p["config"].update(architecture="nope"))
    with pytest.raises(GeneratorFileError, match="config is not valid.*architecture: invalid value 'nope'"):
        load_generator(str(path), device="cpu")


def test_files_that_are_not_generator_files_are_refused(tmp_path):
    junk = tmp_path / "junk.pt"
    junk.write_bytes(b"not a torch file")
    with pytest.raises(GeneratorFileError, match="not a readable generator file"):
        load_generator(str(junk))
    other = tmp_path / "other.pt"
    torch.save({"g": torch.zeros(2)}, other)
    with pytest.raises(GeneratorFileError, match="is not a gan-study generator file"):
        load_generator(str(other))
    pickled = tmp_path / "code.pt"  # a pickle that would run code: weights_only refuses it
    torch.save({"format": "gan-study-generator/1", "x": io.BytesIO(b"")}, pickled)
    with pytest.raises(GeneratorFileError, match="not a readable generator file"):
        load_generator(str(pickled))


def test_weights_digest_is_taken_over_names_dtypes_shapes_and_bytes():
    a = {"w": torch.arange(4.0), "b": torch.zeros(2)}
    assert weights_sha256(a) == weights_sha256({"b": torch.zeros(2), "w": torch.arange(4.0)})  # order-free
    assert weights_sha256(a) != weights_sha256({**a, "w": torch.arange(4.0).view(2, 2)})
    assert weights_sha256(a) != weights_sha256({**a, "w": torch.arange(4.0).double()})
    assert weights_sha256(a) != weights_sha256({"v": torch.arange(4.0), "b": torch.zeros(2)})


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_loads_on_cuda_and_gives_the_cpu_images(tmp_path):
    path, _ = _file(tmp_path)
    cpu = load_generator(str(path), device="cpu").sample(8, seed=1)
    gpu = load_generator(str(path), device="cuda").sample(8, seed=1)
    assert torch.allclose(cpu, gpu, atol=1e-4)
