import errno
import os

import pytest
import torch

from genforge.core import checkpoint as ck
from genforge.core.errors import CheckpointError


def _nets(seed):
    torch.manual_seed(seed)
    net = torch.nn.Linear(4, 3)
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, betas=(0.5, 0.9))
    net(torch.randn(2, 4)).sum().backward()
    opt.step()
    return net, opt


def _save(d, step, seed=0):
    net, opt = _nets(seed)
    return ck.save_checkpoint(d, step, {"net": net.state_dict()}, {"net": opt}, {"step": step, "selection": float(step)})


def test_round_trip_is_bit_exact(tmp_path):
    net, opt = _nets(0)
    c = ck.save_checkpoint(tmp_path, 5, {"net": net.state_dict()}, {"net": opt}, {"step": 5})
    ck.verify(c)
    net2, opt2 = _nets(1)
    net2.load_state_dict(ck.load_tensors(c, "net"))
    ck.load_optimizer(c, "net", opt2)
    for a, b in zip(net.state_dict().values(), net2.state_dict().values()):
        assert torch.equal(a, b)
    s1, s2 = opt.state_dict(), opt2.state_dict()
    assert s1["param_groups"] == s2["param_groups"]
    for k in s1["state"]:
        for name in s1["state"][k]:
            assert torch.equal(s1["state"][k][name], s2["state"][k][name])


@pytest.mark.parametrize("point", ck.CRASH_POINTS)
def test_crash_at_every_point_leaves_an_intact_checkpoint(tmp_path, monkeypatch, point):
    _save(tmp_path, 10)
    monkeypatch.setenv("GENFORGE_CRASH_AT", point)
    with pytest.raises(ck.CrashInjected):
        _save(tmp_path, 20, seed=1)
    monkeypatch.delenv("GENFORGE_CRASH_AT")
    latest = ck.newest_intact(tmp_path, warn=lambda m: None)
    committed = point == "after-rename"
    assert latest.step == (20 if committed else 10)
    ck.verify(latest)
    removed = ck.clean_stale(tmp_path)
    assert (removed == []) == committed or point == "begin" and removed == ["20.tmp"]
    assert not any(p.name.endswith(".tmp") for p in tmp_path.iterdir())


def test_crash_point_can_target_a_step(tmp_path, monkeypatch):
    monkeypatch.setenv("GENFORGE_CRASH_AT", "before-rename@20")
    _save(tmp_path, 10)
    with pytest.raises(ck.CrashInjected):
        _save(tmp_path, 20)


def test_flipped_byte_is_detected_and_skipped(tmp_path):
    _save(tmp_path, 10)
    c20 = _save(tmp_path, 20)
    path = c20.path / "net.safetensors"
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="net.safetensors does not match its SHA-256"):
        ck.verify(c20)
    warnings = []
    assert ck.newest_intact(tmp_path, warn=warnings.append).step == 10
    assert "falling back" in warnings[0] and "net.safetensors" in warnings[0]


def test_truncated_and_missing_files(tmp_path):
    c = _save(tmp_path, 10)
    (c.path / "state.json").write_text("{")
    with pytest.raises(CheckpointError, match="state.json"):
        ck.verify(c)
    (c.path / "net.safetensors").unlink()
    with pytest.raises(CheckpointError, match="missing"):
        ck.verify(c)


def test_full_disk_keeps_previous_checkpoint(tmp_path, monkeypatch):
    _save(tmp_path, 10)

    def no_space(*a, **k):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(ck, "write_json", no_space)
    with pytest.raises(CheckpointError, match="disk is full.*earlier checkpoints are intact"):
        _save(tmp_path, 20)
    assert [c.step for c in ck.complete_checkpoints(tmp_path)] == [10]
    assert not (tmp_path / "20.tmp").exists()


def test_prune_keeps_last_k_and_best(tmp_path):
    for step, sel in [(10, 5.0), (20, 1.0), (30, 3.0), (40, 4.0), (50, 6.0)]:
        net, opt = _nets(0)
        ck.save_checkpoint(tmp_path, step, {"net": net.state_dict()}, {"net": opt}, {"step": step, "selection": sel})
    ck.prune(tmp_path, keep_last=2)
    assert [c.step for c in ck.complete_checkpoints(tmp_path)] == [20, 40, 50]
    assert ck.best_checkpoint(ck.complete_checkpoints(tmp_path)).step == 20
