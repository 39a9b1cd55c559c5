import numpy as np
import pytest
import torch
from PIL import Image

from conftest import write_image_folder
from genforge.core.config import DataConfig
from genforge.core.errors import DataError
from genforge.data.files import load_folder, load_npz
from genforge.data.inspect import dhash, inspect
from genforge.data.prepare import load_images, prepare
from genforge.data.split import BatchStream, epoch_order, split_indices, split_of
from genforge.data.transforms import median3


def test_split_is_deterministic_and_stable_when_items_are_added():
    ids = [f"img{i}" for i in range(1000)]
    a = split_indices(ids, 0, 0.1, 0.1)
    assert sum(len(v) for v in a.values()) == 1000
    assert 60 < len(a["test"]) < 140 and 60 < len(a["val"]) < 140
    before = {i: split_of(i, 0, 0.1, 0.1) for i in ids}
    more = ids + [f"new{i}" for i in range(500)]
    after = {i: split_of(i, 0, 0.1, 0.1) for i in more}
    assert all(after[i] == before[i] for i in ids)
    assert split_indices(ids, 1, 0.1, 0.1)["test"].tolist() != a["test"].tolist()


def test_epoch_order_is_a_pure_function():
    assert torch.equal(epoch_order(50, 3, 7), epoch_order(50, 3, 7))
    assert not torch.equal(epoch_order(50, 3, 7), epoch_order(50, 3, 8))
    assert sorted(epoch_order(50, 3, 7).tolist()) == list(range(50))


def test_batch_stream_resumes_from_epoch_and_offset():
    s = BatchStream(n=25, batch_size=10, seed=1)
    seq = [s.next_indices() for _ in range(7)]
    assert s.epoch == 3  # 2 full batches per epoch, the tail of 5 is dropped
    s2 = BatchStream(n=25, batch_size=10, seed=1)
    for _ in range(3):
        s2.next_indices()
    state = s2.state()
    s3 = BatchStream(n=25, batch_size=10, seed=1)
    s3.load_state(state)
    assert all(torch.equal(a, b) for a, b in zip(seq[3:], [s3.next_indices() for _ in range(4)]))


def test_ranks_partition_the_global_batch():
    full = BatchStream(n=40, batch_size=8, seed=0).next_indices()
    parts = [BatchStream(n=40, batch_size=8, seed=0, rank=r, world=2).next_indices() for r in range(2)]
    assert sorted(torch.cat(parts).tolist()) == sorted(full.tolist())


def test_builtin_mnist_and_digits():
    m = load_images("mnist")
    assert m.x.shape == (5000, 1, 28, 28) and m.x.dtype == torch.uint8
    assert m.counts() == {str(i): 500 for i in range(10)}
    d = load_images("digits", image_size=16)
    assert d.x.shape[1:] == (1, 16, 16) and int(d.x.max()) > 200


def test_normalisation_uses_train_only():
    p = prepare(DataConfig(name="digits"))
    expected = (p.train.x.float() / 255).mean().item()
    assert p.info.mean[0] == pytest.approx(expected, abs=1e-5)
    assert p.info.n_train + p.info.n_val + p.info.n_test == 1797
    assert set(p.train.ids).isdisjoint(p.test.ids)


def test_image_folder_gray_and_rgb(tmp_path):
    write_image_folder(tmp_path, ("cat", "dog"), per_class=3, size=12, mode="L")
    data = load_folder(tmp_path, None, "fail")
    assert data.x.shape == (6, 1, 12, 12) and data.classes == ["cat", "dog"]
    assert data.y.tolist() == [0, 0, 0, 1, 1, 1]
    write_image_folder(tmp_path, ("emu",), per_class=2, size=12, mode="RGB")
    mixed = load_folder(tmp_path, None, "fail")
    assert mixed.x.shape == (8, 3, 12, 12)  # grayscale promoted to RGB
    g = mixed.x[0]
    assert torch.equal(g[0], g[1]) and torch.equal(g[1], g[2])


def test_resize_center_crops(tmp_path):
    (tmp_path / "a").mkdir()
    Image.fromarray(np.zeros((20, 40), np.uint8)).save(tmp_path / "a" / "wide.png")
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(tmp_path / "a" / "sq.png")
    with pytest.raises(DataError, match=r"different sizes .*data.image_size"):
        load_folder(tmp_path, None, "fail")
    assert load_folder(tmp_path, 8, "fail").x.shape == (2, 1, 8, 8)


def test_corrupt_png_fail_and_skip(tmp_path):
    write_image_folder(tmp_path, ("a",), per_class=3)
    good = (tmp_path / "a" / "img_000.png").read_bytes()
    (tmp_path / "a" / "broken.png").write_bytes(good[: len(good) // 2])
    with pytest.raises(DataError, match=r"broken.png is not a readable image .*--on-bad skip"):
        load_folder(tmp_path, None, "fail")
    data = load_folder(tmp_path, None, "skip")
    assert len(data) == 3 and data.skipped[0].startswith("a/broken.png")


def test_empty_and_missing_paths(tmp_path):
    with pytest.raises(DataError, match="no class subfolders"):
        load_images(str(tmp_path))
    with pytest.raises(DataError, match="neither a built-in name nor an existing path.*did you mean 'mnist'"):
        load_images("mnsit")


def test_flat_folder_is_unlabelled(tmp_path):
    for i in range(3):
        Image.fromarray(np.full((8, 8), i * 50, np.uint8)).save(tmp_path / f"{i}.png")
    data = load_images(str(tmp_path))
    assert data.y is None and len(data) == 3


def test_npz_shapes_and_refusals(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (10, 8, 8, 3), dtype=np.uint8)
    np.savez(tmp_path / "ok.npz", x=x, y=np.arange(10) % 2)
    d = load_npz(tmp_path / "ok.npz", None)
    assert d.x.shape == (10, 3, 8, 8) and d.classes == ["0", "1"]
    assert torch.equal(d.x[3].permute(1, 2, 0), torch.from_numpy(x[3]))
    np.savez(tmp_path / "obj.npz", x=np.array([{"a": 1}], dtype=object))
    with pytest.raises(DataError, match="without pickle"):
        load_npz(tmp_path / "obj.npz", None)
    np.savez(tmp_path / "shape.npz", x=np.zeros((4, 5, 6, 7, 8)))
    with pytest.raises(DataError, match="expected"):
        load_npz(tmp_path / "shape.npz", None)
    np.savez(tmp_path / "nox.npz", images=np.zeros((2, 8, 8)))
    with pytest.raises(DataError, match="no array 'x'"):
        load_npz(tmp_path / "nox.npz", None)
    (tmp_path / "junk.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="not a readable .npz"):
        load_npz(tmp_path / "junk.npz", None)
    np.savez(tmp_path / "float.npz", x=np.full((2, 8, 8), 2.0))
    with pytest.raises(DataError, match=r"\[0, 1\]"):
        load_npz(tmp_path / "float.npz", None)


def test_median_filter_removes_salt_noise():
    x = torch.full((1, 1, 9, 9), 100, dtype=torch.uint8)
    noisy = x.clone()
    noisy[0, 0, 4, 4] = 255
    noisy[0, 0, 2, 6] = 0
    assert torch.equal(median3(noisy), x)


def test_inspect_finds_broken_and_duplicates(tmp_path):
    write_image_folder(tmp_path, ("a", "b"), per_class=4, size=16)
    src = tmp_path / "a" / "img_000.png"
    (tmp_path / "b" / "copy.png").write_bytes(src.read_bytes())
    arr = np.asarray(Image.open(src)).astype(np.int16)
    Image.fromarray(np.clip(arr + 1, 0, 255).astype(np.uint8)).save(tmp_path / "b" / "near.png")
    (tmp_path / "b" / "bad.png").write_bytes(b"\x89PNG garbage")
    r = inspect(str(tmp_path))
    assert r["items"] == 10 and r["classes"] == {"a": 4, "b": 6}
    assert r["broken"][0].startswith("b/bad.png")
    assert sorted(r["exact_duplicates"][0]) == ["a/img_000.png", "b/copy.png"]
    near = {frozenset(p[:2]) for p in r["near_duplicates"]}
    assert frozenset({"a/img_000.png", "b/near.png"}) in near


def test_dhash_is_robust_to_small_changes():
    rng = np.random.default_rng(0)
    img = rng.integers(0, 200, (1, 32, 32)).astype(np.uint8)
    other = rng.integers(0, 200, (1, 32, 32)).astype(np.uint8)
    assert bin(dhash(img) ^ dhash(img + 2)).count("1") <= 4
    assert bin(dhash(img) ^ dhash(other)).count("1") > 10
