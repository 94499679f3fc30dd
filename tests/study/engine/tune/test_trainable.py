"""Trial checkpoints: saved with their sha256, loaded with weights_only, refused when altered."""
import pytest
import torch

from study.engine.tune.trainable import CHECKPOINT_FILE, load_state, save_state


def test_a_checkpoint_round_trips_and_an_altered_one_is_refused(tmp_path):
    state = {"g": {"w": torch.arange(6.0).reshape(2, 3)}, "step": 20, "best_fid": 3.5}
    save_state(state, str(tmp_path))
    back = load_state(str(tmp_path))
    assert back["step"] == 20 and torch.equal(back["g"]["w"], state["g"]["w"])
    data = (tmp_path / CHECKPOINT_FILE).read_bytes()
    (tmp_path / CHECKPOINT_FILE).write_bytes(data[:-8] + bytes(8))
    with pytest.raises(ValueError, match="does not match its recorded sha256"):
        load_state(str(tmp_path))
