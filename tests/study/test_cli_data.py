"""`gan-study prepare`: prepares once and prints the manifest's checksum; a bad input exits 2
with the one message and writes nothing."""
import hashlib

from study.cli import main
from tests.study.gan.data import fakes


def test_prepare_prints_where_and_the_checksum(tmp_path, capsys):
    fakes.cifar10_dir(tmp_path)
    assert main(["prepare", "cifar10", "--resolution", "32", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    manifest = tmp_path / "prepared" / "cifar10-32px-center_crop_resize" / "manifest.json"
    assert f"manifest sha256: {hashlib.sha256(manifest.read_bytes()).hexdigest()}" in out
    assert "train 15, test 4" in out and "preparing cifar10" in out
    assert main(["prepare", "cifar10", "--resolution", "32", "--data-dir", str(tmp_path)]) == 0
    assert "preparing" not in capsys.readouterr().out  # found, not prepared again


def test_prepare_refuses_bad_input_with_one_message(tmp_path, capsys):
    assert main(["prepare", "cifar10", "--resolution", "32", "--data-dir", str(tmp_path / "none")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gan-study: error: dataset 'cifar10': ") and "no such directory" in err
    assert main(["prepare", "imagenet", "--resolution", "32", "--data-dir", str(tmp_path)]) == 2
    assert "allowed: celeba_hq, cifar10, folder, lsun_bedroom, stl10" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
