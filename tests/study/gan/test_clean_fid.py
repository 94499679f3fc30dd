"""``fid_resize: clean`` against clean-fid 0.1.35 (the ``oracle`` extra): its resizer on the same
uint8 images, and its whole feature path (PNG files read by PIL, its resizer, its
(x - 128) / 128, its Frechet distance) around the same Inception weights.

clean-fid's ``clean`` mode (cleanfid/resize.py ``make_resizer("PIL", False, "bicubic",
(299, 299))``, cleanfid/inception_torchscript.py ``InceptionV3W.forward``) resizes each channel
as a float32 PIL image with bicubic, clips to [0, 255], does not re-quantise, and feeds
(x - 128) / 128 to the network. Measured: the resize equals PIL's to the bit on single square
images and within one float32 ulp (<= 1.5e-5 grey level) in batches; FID 2.5e-7 relative from
clean-fid's (asserted within 1e-4, as the other oracles). Not through PIL: the matrix form is
faster (1,000 32 px RGB images on 2 CPU cores: 1.3 s against 2.2 s for clean-fid's PIL loop) and
runs on the images' device.
"""
import numpy as np
import pytest
import torch

from study.gan.metrics.preprocess import inception_input, resize

SIZES = (8, 16, 28, 32, 64, 128, 256, 512)  # up as the study's datasets, and down (antialiased)
TOLERANCE = 1e-4  # grey levels (of 255)


def clean_resizer():
    resize_module = pytest.importorskip("cleanfid.resize", reason="the oracle extra is not installed")
    return resize_module.make_resizer("PIL", False, "bicubic", (299, 299))


@pytest.mark.parametrize("size", SIZES)
def test_the_resize_equals_clean_fids_on_the_same_uint8_images(size):
    fn = clean_resizer()
    gen = np.random.default_rng(size)
    rgb = gen.integers(0, 256, size=(3, size, size, 3), dtype=np.uint8)
    smooth = np.clip(np.cumsum(gen.integers(-9, 10, size=(size, size, 3)), axis=0) + 128, 0, 255)  # natural-ish
    rgb[0] = smooth.astype(np.uint8)
    rgb[1, : size // 2] = 255  # a hard edge: bicubic overshoots, clean-fid clips
    ref = np.stack([fn(im) for im in rgb]).transpose(0, 3, 1, 2)
    ours = inception_input(torch.tensor(rgb).permute(0, 3, 1, 2).float() / 255, "clean")
    diff = float(np.abs((ours.numpy() * 128 + 128) - ref).max())
    print(f"{size} px RGB: max |ours - clean-fid| = {diff:.2e} grey levels")
    assert diff <= TOLERANCE
    assert np.allclose(ours.numpy(), (ref - 128) / 128, atol=TOLERANCE / 128, rtol=0)  # its network input
    # one channel: tiled to 3 first, as clean-fid's loader does (PIL convert("RGB"))
    gray = rgb[..., :1]
    ref_gray = np.stack([fn(np.repeat(im, 3, axis=2)) for im in gray]).transpose(0, 3, 1, 2)
    ours_gray = inception_input(torch.tensor(gray).permute(0, 3, 1, 2).float() / 255, "clean")
    assert ours_gray.shape == (3, 3, 299, 299)
    assert float(np.abs((ours_gray.numpy() * 128 + 128) - ref_gray).max()) <= TOLERANCE


def test_single_square_images_are_bit_exact_and_non_square_ones_within_float32_rounding():
    """Pillow's arithmetic in its order: double sums, float32 between the passes, horizontal pass
    first. Pillow >= 13 runs the vertical pass first when the height shrinks much more than the
    width (python-pillow/Pillow#9549; never for a square image, the only kind resized here): the
    two orders then differ by float32 rounding (two ulps, 3e-5 grey level)."""
    fn = clean_resizer()
    gen = np.random.default_rng(0)
    for h, w in ((32, 32), (64, 64), (600, 600), (24, 40), (17, 300), (300, 17)):
        img = gen.integers(0, 256, size=(h, w, 3), dtype=np.uint8)
        ours = resize(torch.tensor(img).permute(2, 0, 1)[None].float(), 299, "clean")[0].permute(1, 2, 0).numpy()
        if h == w:
            assert np.array_equal(ours, fn(img)), (h, w)
        assert np.abs(ours - fn(img)).max() <= TOLERANCE, (h, w)  # measured: 3.1e-5 at (300, 17)


N = 24  # images per set (CPU time: 116 Inception passes in all)


@pytest.mark.slow
def test_clean_fid_equals_clean_fids_on_the_same_images_and_weights(tmp_path):
    from PIL import Image

    from study.gan.metrics import inception_weights as w
    from study.gan.metrics.torchvision_import import import_torchvision

    try:
        import_torchvision()  # clean-fid's fid module imports torchvision
    except ImportError:
        pytest.skip("the oracle extra is not installed (pip install -e '.[oracle]')")
    cfid = pytest.importorskip("cleanfid.fid")
    from cleanfid.inception_torchscript import InceptionV3W

    try:
        path, _ = w.resolve()  # `gan-study weights` (make test) puts them in the cache; nothing downloads here
    except w.WeightsError as e:
        pytest.skip(f"Inception weights unavailable: {e}")
    from study.gan.data import load_dataset
    from study.gan.metrics.extractors import EXTRACTORS, extract
    from study.gan.metrics.frechet import feature_statistics, frechet_distance

    # Two different sets at 32 px, as tests/study/gan/test_oracles.py: digits, and the same digits
    # shifted and brightened; written as PNGs, which clean-fid reads with PIL.
    digits = (load_dataset("digits", 32, 3).train[: 2 * N] * 255).round().to(torch.uint8)
    a = digits[:N]
    b = (digits[N:].float() * 0.7 + 60).round().clamp(0, 255).to(torch.uint8).roll(3, dims=-1)
    dirs = []
    for name, images in (("a", a), ("b", b)):
        (tmp_path / name).mkdir()
        for i, im in enumerate(images):
            Image.fromarray(im.permute(1, 2, 0).numpy()).save(tmp_path / name / f"{i:03d}.png")
        dirs.append(str(tmp_path / name))
    # clean-fid's network wrapper around the cached weights (its own download is NVIDIA's
    # stylegan2-ada TorchScript of the same graph): ``layers`` maps (x - 128) / 128 to pool3.
    net = torch.jit.load(str(path)).eval()
    wrapper = InceptionV3W.__new__(InceptionV3W)
    torch.nn.Module.__init__(wrapper)
    wrapper.base, wrapper.layers, wrapper.resize_inside = net, net, False
    ref = cfid.compute_fid(dirs[0], dirs[1], mode="clean", custom_feat_extractor=wrapper, num_workers=0,
                           batch_size=N, device=torch.device("cpu"), verbose=False, use_dataparallel=False)
    ex = EXTRACTORS.get("inception")
    model = ex.load(torch.device("cpu"), "clean")
    fa, fb = (extract(ex, model, x).numpy() for x in (a, b))
    fid = frechet_distance(*feature_statistics(fa), *feature_statistics(fb))
    print(f"clean-fid: {ref}; ours (fid_resize: clean): {fid}; relative {abs(fid - ref) / ref:.1e}")
    assert fid == pytest.approx(ref, rel=1e-4)
    # The resize moves FID: the modes are not interchangeable (on 10 images a side, to save time).
    tf = ex.load(torch.device("cpu"), "tf_bilinear")
    tf_fid = frechet_distance(*feature_statistics(extract(ex, tf, a[:10]).numpy()),
                              *feature_statistics(extract(ex, tf, b[:10]).numpy()))
    clean_fid = frechet_distance(*feature_statistics(fa[:10]), *feature_statistics(fb[:10]))
    assert abs(tf_fid - clean_fid) > 1e-3 * clean_fid
