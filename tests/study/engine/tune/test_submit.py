"""`gan-study submit` refuses an open Jobs API before connecting, and finds the token."""
import socket

import pytest

from study.cli import main
from study.engine.tune.submit import find_token, is_loopback, submit
from study.gan.config import ConfigError

STUDY = "name: s\ntrial: {steps: 10, eval_every: 5}\ngrid: {select: [1]}\n"


@pytest.mark.parametrize("address,loopback", [("http://127.0.0.1:8265", True), ("http://localhost:8265", True),
                                              ("http://[::1]:8265", True), ("http://10.0.0.5:8265", False),
                                              ("https://head.example.org:8265", False), ("127.0.0.2:8265", True)])
def test_loopback_addresses(address, loopback):
    assert is_loopback(address) is loopback


def test_a_non_loopback_address_without_a_token_fails_before_connecting(tmp_path, monkeypatch):
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    monkeypatch.delenv("RAY_AUTH_TOKEN_PATH", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "s.yaml").write_text(STUDY)
    connected = []
    monkeypatch.setattr(socket, "create_connection", lambda *a, **k: connected.append(a))
    with pytest.raises(ConfigError, match=r"--address: refusing to send a study to http://198\.51\.100\.7:8265 "
                                          r"without a token"):
        submit(tmp_path / "s.yaml", "http://198.51.100.7:8265", "/tmp/out")
    assert connected == []
    assert main(["submit", str(tmp_path / "s.yaml"), "--address", "http://198.51.100.7:8265", "--out", "x"]) == 2


def test_the_token_comes_from_the_flag_the_environment_or_rays_file(tmp_path, monkeypatch):
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    monkeypatch.delenv("RAY_AUTH_TOKEN_PATH", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert find_token() == (None, "none")
    (tmp_path / ".ray").mkdir()
    (tmp_path / ".ray" / "auth_token").write_text("from-home\n")
    assert find_token()[0] == "from-home"
    (tmp_path / "elsewhere").write_text("from-path")
    monkeypatch.setenv("RAY_AUTH_TOKEN_PATH", str(tmp_path / "elsewhere"))
    assert find_token()[0] == "from-path"
    monkeypatch.setenv("RAY_AUTH_TOKEN", "from-env")
    assert find_token() == ("from-env", "$RAY_AUTH_TOKEN")
    (tmp_path / "flag").write_text("from-flag")
    assert find_token(tmp_path / "flag")[0] == "from-flag"
    with pytest.raises(ConfigError, match="--token-file: .* does not exist"):
        find_token(tmp_path / "missing")
