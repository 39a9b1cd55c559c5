"""Hostile and unusual data inputs: every PIL mode decodes by a stated rule, every .npz size is bounded
before anything is allocated, and every refusal is one DataError line. All files are made here by code."""
import hashlib
import io
import struct
import subprocess
import sys
import time
import zipfile
import zlib
from pathlib import Path

import numpy as np
import numpy.lib.format as npy
import pytest
import torch
from PIL import Image

from genforge.core.config import DataConfig
from genforge.core.errors import DataError
from genforge.data import decode, files, npz
from genforge.data.files import load_folder, load_npz
from genforge.data.imageset import hash_parts
from genforge.data.inspect import inspect
from genforge.data.prepare import load_images, prepare


def _one(tmp_path: Path, img: Image.Image, name: str = "img.png", **save) -> Path:
    (tmp_path / "a").mkdir(parents=True, exist_ok=True)
    img.save(tmp_path / "a" / name, **save)
    return tmp_path


def _decoded(root: Path) -> tuple[np.ndarray, list[str]]:
    """The only image of a folder as (H, W) or (H, W, 3), and the dataset's notes."""
    data = load_folder(root, None, "fail")
    x = data.x[0].numpy()
    return (x[0] if x.shape[0] == 1 else x.transpose(1, 2, 0)), data.notes


# ------------------------------------------------------------------------------------ image modes


def test_16bit_png_is_a_gradient_not_a_mask(tmp_path):
    v = np.linspace(0, 65535, 64).round().astype(np.uint16)
    img = Image.fromarray(np.tile(v, (8, 1)))
    assert img.mode == "I;16"
    x, notes = _decoded(_one(tmp_path, img, "g16.png"))
    expected = np.rint(v.astype(np.float64) * 255 / 65535).astype(np.uint8)
    assert np.array_equal(x, np.tile(expected, (8, 1)))
    assert x.min() == 0 and x.max() == 255 and len(np.unique(x)) == 64
    assert notes == ["1 image was 16-bit and was reduced to 8 bits (value*255/65535, rounded) (first: a/g16.png)"]


def test_16bit_png_holding_8bit_values_has_no_note(tmp_path):
    v = np.arange(256, dtype=np.uint16) * 257
    x, notes = _decoded(_one(tmp_path, Image.fromarray(v.reshape(16, 16))))
    assert np.array_equal(x.reshape(-1), np.arange(256)) and notes == []


def test_int32_image_rules(tmp_path):
    v = np.linspace(0, 65535, 64).round().astype(np.int32).reshape(8, 8)
    x, notes = _decoded(_one(tmp_path / "in", Image.fromarray(v), "i.tif"))
    assert np.array_equal(x, (v + 128) // 257) and "16-bit" in notes[0]
    w = np.linspace(-1000, 100_000, 64).astype(np.int32).reshape(8, 8)
    x, notes = _decoded(_one(tmp_path / "out", Image.fromarray(w), "i.tif"))
    assert np.array_equal(x, np.rint((w - w.min()) * 255 / (w.max() - w.min())))
    assert notes == ["1 image was 32-bit integer outside 0..65535 and was rescaled per image from min..max to 0..255 "
                     "(first: a/i.tif)"]


def test_float_image_rules(tmp_path):
    v = np.linspace(0, 1, 64, dtype=np.float32).reshape(8, 8)
    x, notes = _decoded(_one(tmp_path / "unit", Image.fromarray(v), "f.tif"))
    assert np.array_equal(x, np.rint(v.astype(np.float64) * 255)) and notes == []
    w = np.linspace(-2, 10, 64, dtype=np.float32).reshape(8, 8)
    x, notes = _decoded(_one(tmp_path / "wide", Image.fromarray(w), "f.tif"))
    assert np.array_equal(x, np.rint((w.astype(np.float64) + 2) * 255 / 12))
    assert "outside [0, 1] and was rescaled per image" in notes[0]
    w[3, 3] = np.nan
    root = _one(tmp_path / "nan", Image.fromarray(w), "f.tif")
    with pytest.raises(DataError, match=r"f.tif is not a readable image \(NaN or infinite pixel values\); use --on-bad skip"):
        load_folder(root, None, "fail")


def test_palette_with_transparency_is_composited_on_black(tmp_path):
    p = Image.new("P", (4, 4), 1)
    p.putpalette([255, 0, 0, 0, 0, 255, 0, 255, 0])
    p.putpixel((0, 0), 0)  # transparent red
    p.putpixel((1, 0), 2)  # opaque green
    x, notes = _decoded(_one(tmp_path, p, transparency=0))
    assert x.shape == (4, 4, 3)
    assert x[0, 0].tolist() == [0, 0, 0] and x[0, 1].tolist() == [0, 255, 0] and x[1, 1].tolist() == [0, 0, 255]
    assert "transparency" in notes[0] and "black" in notes[0]


def test_gray_palette_is_grayscale(tmp_path):
    p = Image.new("P", (4, 4))
    p.putpalette([v for i in range(256) for v in (i, i, i)])
    p.putdata(list(range(16)))
    x, notes = _decoded(_one(tmp_path, p))
    assert x.shape == (4, 4) and x.reshape(-1).tolist() == list(range(16)) and notes == []


def test_la_and_rgba_are_composited_on_black(tmp_path):
    x, notes = _decoded(_one(tmp_path / "la", Image.new("LA", (4, 4), (200, 100))))
    assert x.shape == (4, 4) and (x == round(200 * 100 / 255)).all() and "transparency" in notes[0]
    x, notes = _decoded(_one(tmp_path / "rgba", Image.new("RGBA", (4, 4), (200, 100, 50, 128))))
    assert x[0, 0].tolist() == [round(c * 128 / 255) for c in (200, 100, 50)] and "transparency" in notes[0]
    x, notes = _decoded(_one(tmp_path / "opaque", Image.new("RGBA", (4, 4), (200, 100, 50, 255))))
    assert x[0, 0].tolist() == [200, 100, 50] and notes == []


def test_cmyk_is_converted_with_a_note(tmp_path):
    c = (10, 20, 30, 40)
    x, notes = _decoded(_one(tmp_path, Image.new("CMYK", (4, 4), c), "c.tif"))
    expected = [(255 - v) * (255 - c[3]) / 255 for v in c[:3]]
    assert np.abs(x[0, 0] - np.array(expected)).max() <= 1
    assert "CMYK" in notes[0]


def test_bilevel_and_colour_spaces_decode_like_pillow(tmp_path):
    bits = Image.fromarray(np.array([[0, 1], [1, 0]], bool))
    assert bits.mode == "1"
    x, notes = _decoded(_one(tmp_path / "bits", bits))
    assert x.tolist() == [[0, 255], [255, 0]] and notes == []
    for mode in ("YCbCr", "LAB"):
        img = Image.new(mode, (2, 2), (140, 90, 170))
        x, notes = _decoded(_one(tmp_path / mode, img, "c.tif"))
        assert x[0, 0].tolist() == list(img.convert("RGB").getpixel((0, 0))) and notes == []


def test_exif_orientation_is_applied(tmp_path):
    a = np.arange(6, dtype=np.uint8).reshape(2, 3) * 40
    exif = Image.Exif()
    exif[0x0112] = 3  # rotate 180
    x, _ = _decoded(_one(tmp_path, Image.fromarray(a), exif=exif))
    assert np.array_equal(x, a[::-1, ::-1])


def test_animated_gif_uses_the_first_frame_with_a_note(tmp_path):
    frames = [Image.fromarray(np.full((4, 4), v, np.uint8)) for v in (10, 200)]
    (tmp_path / "a").mkdir()
    frames[0].save(tmp_path / "a" / "anim.gif", save_all=True, append_images=frames[1:])
    x, notes = _decoded(tmp_path)
    assert (x == 10).all() and "several frames" in notes[0]


def _png16_rgb(w: int = 2) -> bytes:
    raw = b"\x00" + struct.pack(">" + "H" * 3 * w, *([1000, 2000, 3000] * w))

    def chunk(t: bytes, d: bytes) -> bytes:
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d))

    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, 1, 16, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def test_16bit_colour_png_reports_the_depth_loss(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "c16.png").write_bytes(_png16_rgb())
    x, notes = _decoded(tmp_path)
    assert x[0, 0].tolist() == [1000 // 256, 2000 // 256, 3000 // 256]
    assert "16-bit colour" in notes[0]


def test_notes_are_aggregated_per_dataset_and_reach_prepare(tmp_path):
    (tmp_path / "a").mkdir()
    for i in range(12):
        Image.fromarray(np.full((8, 8), 1000 + i, np.uint16)).save(tmp_path / "a" / f"d{i:02d}.png")
    Image.new("LA", (8, 8), (10, 20)).save(tmp_path / "a" / "t.png")
    data = load_folder(tmp_path, None, "fail")
    assert data.notes == [
        "1 image had transparency and was composited onto black (alpha dropped) (first: a/t.png)",
        "12 images were 16-bit and were reduced to 8 bits (value*255/65535, rounded) (first: a/d00.png)",
    ]
    said = []
    prepare(DataConfig(name=str(tmp_path), val_fraction=0.0, test_fraction=0.0), warn=said.append)
    assert said == [f"warning: {n}" for n in data.notes]
    assert inspect(str(tmp_path))["notes"] == data.notes


# --------------------------------------------------------------------------------- folder bounds


def test_folder_decoded_size_is_bounded_before_decoding(tmp_path, monkeypatch):
    root = tmp_path / "f"
    for i in range(10):
        _one(root, Image.fromarray(np.full((16, 16), i, np.uint8)), f"{i}.png")
    monkeypatch.setattr(files, "MAX_FOLDER_BYTES", 1000)
    with pytest.raises(DataError, match=r"3.png: the decoded images of .* would pass the 1,000 bytes limit here "
                                        r"\(after 3 images\); make them smaller"):
        load_folder(root, None, "skip")  # a limit is not a bad file: never skipped
    monkeypatch.setattr(files, "MAX_FOLDER_BYTES", 3 * 256 + 768)
    mixed = tmp_path / "m"
    for i in range(3):
        _one(mixed, Image.fromarray(np.full((16, 16), i, np.uint8)), f"{i}.png")
    _one(mixed, Image.new("RGB", (16, 16)), "rgb.png")  # promotes the three gray ones to 3 channels
    with pytest.raises(DataError, match=r"decoded images would take .* over the .* limit"):
        load_folder(mixed, None, "fail")


def test_image_file_size_is_bounded(tmp_path, monkeypatch):
    root = _one(tmp_path, Image.fromarray(np.random.default_rng(0).integers(0, 256, (32, 32), np.uint8)), "big.png")
    _one(tmp_path, Image.new("L", (32, 32)), "small.png")
    monkeypatch.setattr(decode, "MAX_IMAGE_FILE_BYTES", 500)
    with pytest.raises(DataError, match=r"big.png is not a readable image \(the file is .* over the .* limit per image\)"):
        load_folder(root, None, "fail")
    assert load_folder(root, None, "skip").ids == ["a/small.png"]


def test_content_hash_is_unchanged_by_streaming(tmp_path):
    root = tmp_path / "f"
    for i in range(3):
        _one(root, Image.fromarray(np.full((8, 8), i * 9, np.uint8)), f"{i}.png")
    h = hashlib.sha256()
    for i in range(3):
        h.update(hash_parts(f"a/{i}.png", (root / "a" / f"{i}.png").read_bytes()).encode())
    assert load_folder(root, None, "fail").content_hash == h.hexdigest()
    np.savez(tmp_path / "d.npz", x=np.zeros((2, 8, 8), np.uint8))
    assert load_npz(tmp_path / "d.npz", None).content_hash == hash_parts((tmp_path / "d.npz").read_bytes())


def test_hostile_class_name_is_kept_verbatim(tmp_path):
    name = "<img src=x onerror=alert(1)>"
    (tmp_path / name).mkdir()
    Image.new("L", (8, 8), 7).save(tmp_path / name / "i.png")
    (tmp_path / "b").mkdir()
    Image.new("L", (8, 8), 9).save(tmp_path / "b" / "i.png")
    data = load_images(str(tmp_path))
    assert data.classes == sorted([name, "b"]) and data.ids[0] == f"{name}/i.png"


# ------------------------------------------------------------------------------------ npz dtypes


def _npz(tmp_path: Path, name: str = "d.npz", **arrays) -> Path:
    np.savez(tmp_path / name, **arrays)
    return tmp_path / name


def _npy(shape, dtype, data: bytes = b"") -> bytes:
    buf = io.BytesIO()
    npy.write_array_header_1_0(buf, {"descr": npy.dtype_to_descr(np.dtype(dtype)), "fortran_order": False, "shape": shape})
    return buf.getvalue() + data


def _npz_members(path: Path, **members: bytes) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for key, raw in members.items():
            zf.writestr(f"{key}.npy", raw)
    return path


@pytest.mark.parametrize("x, match", [
    (np.ones((2, 8, 8), np.complex128) * 0.5j, r"'x' has dtype complex128; expected uint8, uint16, bool"),
    (np.zeros((2, 8, 8), [("a", "u1"), ("b", "f4")]), r"'x' has dtype .*; expected uint8, uint16, bool"),
    (np.full((2, 8, 8), "abc"), r"'x' has dtype <U3; expected uint8, uint16, bool"),
    (np.zeros((0, 8, 8), np.uint8), r"'x' has shape \(0, 8, 8\), which holds no pixels"),
    (np.zeros((3, 0, 8), np.float32), r"'x' has shape \(3, 0, 8\), which holds no pixels"),
    (np.zeros((3, 8, 8, 0), np.uint8), r"'x' has shape \(3, 8, 8, 0\); expected \(N,H,W\)"),
    (np.arange(-5, 123, dtype=np.int32).reshape(2, 8, 8) * 3, r"'x' is int32 with values -15..366; integer 'x' other "
                                                              r"than uint16 must be in 0..255"),
    (np.array([0, 1, np.inf, 0.5] * 16, np.float32).reshape(1, 8, 8), r"finite and in \[0, 1\] \(found NaN or infinite"),
])
def test_npz_refused_dtypes_and_shapes(tmp_path, x, match):
    with pytest.raises(DataError, match=match):
        load_npz(_npz(tmp_path, x=x), None)


def test_npz_object_dtype_is_refused_without_unpickling(tmp_path):
    pickled = b"\x80\x04\x95" + b"c__builtin__\neval\n" * 4  # never executed: the header is refused first
    path = _npz_members(tmp_path / "obj.npz", x=_npy((2, 8, 8), object, pickled))
    with pytest.raises(DataError, match="dtype object, which cannot be loaded without pickle"):
        load_npz(path, None)


def test_npz_accepted_dtypes(tmp_path):
    u16 = np.array([0, 128, 129, 257, 1000, 65535] * 16, np.uint16).reshape(6, 4, 4)
    d = load_npz(_npz(tmp_path, "u16.npz", x=u16), None)
    assert torch.equal(d.x[:, 0], torch.from_numpy(((u16.astype(np.int64) + 128) // 257).astype(np.uint8)))
    assert d.notes == ["u16.npz: 'x' is uint16 and was reduced to 8 bits (value*255/65535, rounded)"]
    small = load_npz(_npz(tmp_path, "s16.npz", x=np.full((1, 4, 4), 200, np.uint16)), None)
    assert "all its values are <= 255" in small.notes[0]
    assert load_npz(_npz(tmp_path, "e16.npz", x=np.full((1, 4, 4), 257 * 3, np.uint16)), None).notes == []
    i16 = np.arange(64, dtype=np.int16).reshape(1, 8, 8) * 4
    assert torch.equal(load_npz(_npz(tmp_path, "i16.npz", x=i16), None).x[0, 0], torch.from_numpy(i16[0].astype(np.uint8)))
    b = np.eye(8, dtype=bool)[None]
    assert load_npz(_npz(tmp_path, "b.npz", x=b), None).x[0, 0].tolist() == (np.eye(8) * 255).tolist()
    f16 = np.linspace(0, 1, 64).astype(np.float16).reshape(1, 8, 8)
    got = load_npz(_npz(tmp_path, "f16.npz", x=f16), None).x[0, 0].numpy()
    assert np.array_equal(got, np.rint(f16[0].astype(np.float64) * 255))


# ------------------------------------------------------------------------------------ npz labels


def test_labels_map_to_their_sorted_distinct_values(tmp_path):
    x = np.zeros((6, 4, 4), np.uint8)
    dense = load_npz(_npz(tmp_path, "dense.npz", x=x, y=np.array([0, 1, 2, 1, 0, 2])), None)
    assert dense.classes == ["0", "1", "2"] and dense.y.tolist() == [0, 1, 2, 1, 0, 2]
    t = time.perf_counter()
    sparse = load_npz(_npz(tmp_path, "sparse.npz", x=x, y=np.array([10**9, 0, 10**9, 0, 0, 10**9])), None)
    assert time.perf_counter() - t < 2
    assert sparse.classes == ["0", "1000000000"] and sparse.y.tolist() == [1, 0, 1, 0, 0, 1]
    floats = load_npz(_npz(tmp_path, "float.npz", x=x, y=np.array([3.0, 1, 1, 3, 3, 1])), None)
    assert floats.classes == ["1", "3"] and floats.y.tolist() == [1, 0, 0, 1, 1, 0]


@pytest.mark.parametrize("y, match", [
    (np.arange(6).reshape(6, 1), r"'y' has shape \(6, 1\); expected \(6,\), one label per image"),
    (np.arange(5), r"'y' has shape \(5,\); expected \(6,\)"),
    (np.array([0, 1, 0.5, 1, 0, 1]), "not whole numbers"),
    (np.array([0, 1, -1, 1, 0, 1]), r"negative labels \(min -1\)"),
    (np.array(["a", "b", "a", "b", "a", "b"]), r"'y' has dtype <U1; expected integer labels"),
])
def test_bad_labels_are_refused(tmp_path, y, match):
    with pytest.raises(DataError, match=match):
        load_npz(_npz(tmp_path, x=np.zeros((6, 4, 4), np.uint8), y=y), None)


def test_too_many_classes_are_refused(tmp_path):
    n = npz.MAX_CLASSES + 1
    with pytest.raises(DataError, match=r"'y' has 10,001 distinct labels, over the limit of 10,000 classes"):
        load_npz(_npz(tmp_path, x=np.zeros((n, 1, 1), np.uint8), y=np.arange(n) * 7), None)


# ------------------------------------------------------------------------- npz bounds (headers)


def _zip_by_hand(path: Path, name: bytes, stored: bytes, method: int, declared: int, crc: int = 0) -> Path:
    """One member whose directory entry declares `declared` uncompressed bytes (zip64 extra field)."""
    local = struct.pack("<IHHHHHIIIHH", 0x04034B50, 45, 0, method, 0, 0, crc, len(stored), 0xFFFFFFFF, len(name), 0)
    extra = struct.pack("<HHQ", 1, 8, declared)
    central = struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 45, 45, 0, method, 0, 0, crc, len(stored), 0xFFFFFFFF,
                          len(name), len(extra), 0, 0, 0, 0, 0) + name + extra
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, 1, 1, len(central), len(local) + len(name) + len(stored), 0)
    path.write_bytes(local + name + stored + central + end)
    return path


def _deflate_bomb(header: bytes, zeros: int) -> bytes:
    """`header` then `zeros` zero bytes, raw-deflated (~1000:1), made in slices."""
    z = zlib.compressobj(9, zlib.DEFLATED, -15)
    out = [z.compress(header)]
    block = bytes(1 << 20)
    out += [z.compress(block) for _ in range(zeros >> 20)]
    return b"".join(out) + z.flush()


BOMB_ZEROS = 200 << 20


def _hostile_npz(tmp_path: Path) -> dict[str, Path]:
    """The hostile .npz files of the bound tests, by name; the bomb inflates to 200 MB for real."""
    huge = _npy((10**12, 28, 28), np.uint8)
    big = _npy((6_848_000, 28, 28), np.uint8)  # 5.0 GiB: within the item and side limits, over the byte limit
    bomb = _deflate_bomb(big, BOMB_ZEROS)
    return {
        "huge_header": _npz_members(tmp_path / "huge_header.npz", x=huge + bytes(64)),
        "lying_header": _npz_members(tmp_path / "lying_header.npz", x=_npy((100_000, 28, 28), np.float64, bytes(64))),
        "zip_bomb": _zip_by_hand(tmp_path / "zip_bomb.npz", b"x.npy", bomb, zipfile.ZIP_DEFLATED, len(big) + 6_848_000 * 784),
        # the directory says header + 64 bytes (with their CRC), the stream inflates to 200 MB: read only what it says
        "truncating_directory": _zip_by_hand(tmp_path / "truncating_directory.npz", b"x.npy", bomb, zipfile.ZIP_DEFLATED,
                                             len(big) + 64, crc=zlib.crc32(big + bytes(64))),
    }


def test_huge_header_is_refused_fast(tmp_path):
    path = _npz_members(tmp_path / "h.npz", x=_npy((10**12, 28, 28), np.uint8, bytes(64)))
    t = time.perf_counter()
    with pytest.raises(DataError, match=r"h.npz: 'x' declares 1,000,000,000,000 images, over the limit of 10,000,000"):
        load_npz(path, None)
    assert time.perf_counter() - t < 1


@pytest.mark.parametrize("shape, dtype, match", [
    ((1, 9000, 10), np.uint8, r"'x' declares 10x9000 images, over the limit of 8192 pixels a side"),
    ((6_000_000, 28, 28), np.float32, r"'x' declares \(6000000, 28, 28\) float32 = 17.5 GiB, over the 4 GiB limit"),
    ((100, 8, 8), np.uint8, r"'x' declares shape \(100, 8, 8\) uint8 \(6,400 bytes\) but its zip member holds 64; "
                            r"the file is damaged"),
])
def test_declared_sizes_are_checked_before_reading(tmp_path, shape, dtype, match):
    with pytest.raises(DataError, match=match):
        load_npz(_npz_members(tmp_path / "h.npz", x=_npy(shape, dtype, bytes(64))), None)


def test_zip_directory_claiming_a_huge_member_is_refused(tmp_path):
    path = _zip_by_hand(tmp_path / "z.npz", b"x.npy", _npy((1, 4, 4), np.uint8, bytes(16)), 0, 5 << 30)
    with pytest.raises(DataError, match=r"z.npz: 'x' unpacks to 5 GiB, over the 4 GiB limit for one array"):
        load_npz(path, None)


def test_huge_zip_directory_is_refused(tmp_path):
    path = tmp_path / "many.npz"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("x.npy", _npy((1, 4, 4), np.uint8, bytes(16)))
        for i in range(20):
            zf.writestr(f"{i:02d}" + "n" * 60_000, b"")
    with pytest.raises(DataError, match=r"its zip directory is .* bytes, over the 1 MiB limit"):
        load_npz(path, None)


def test_hostile_npz_peak_memory_stays_near_baseline(tmp_path):
    """Each file in a fresh interpreter: peak RSS of the refusal vs loading a tiny valid file."""
    paths = {"baseline": _npz(tmp_path, "tiny.npz", x=np.zeros((4, 8, 8), np.uint8)), **_hostile_npz(tmp_path)}
    code = ("import resource, sys\nfrom pathlib import Path\nfrom genforge.core.errors import DataError\n"
            "from genforge.data.files import load_npz\n"
            "try:\n    load_npz(Path(sys.argv[1]), None); r = 'loaded'\n"
            "except DataError as e:\n    r = 'DataError'\n"
            "print(r, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n")
    procs = {k: subprocess.Popen([sys.executable, "-c", code, str(p)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                 text=True) for k, p in paths.items()}
    result = {}
    for k, p in procs.items():
        out, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
        verdict, kib = out.split()
        result[k] = (verdict, int(kib) / 1024)
    print({k: f"{v} {mib:.0f} MiB" for k, (v, mib) in result.items()})
    assert result["baseline"][0] == "loaded"
    for k in paths:
        if k != "baseline":
            assert result[k][0] == "DataError", k
            assert result[k][1] <= result["baseline"][1] + 100, (k, result)


# -------------------------------------------------------------------------------- preparation hash


def test_decoder_version_enters_prep_hash_of_file_data_only(tmp_path, monkeypatch):
    path = _npz(tmp_path, x=np.random.default_rng(0).integers(0, 256, (40, 8, 8), np.uint8), y=np.arange(40) % 2)
    cfg = DataConfig(name=str(path), max_items=30)
    before = prepare(cfg, warn=lambda _: None).info
    monkeypatch.setattr(decode, "DECODER_VERSION", decode.DECODER_VERSION + 1)
    after = prepare(cfg, warn=lambda _: None).info
    assert after.content_hash == before.content_hash and after.prep_hash != before.prep_hash
    digits = prepare(DataConfig(name="digits")).info  # built-in: the hash of earlier releases
    assert digits.prep_hash == hash_parts(digits.content_hash, "None", "none", "None", "0:0.1:0.1")


def test_npz_resize_center_crops_like_folders(tmp_path):
    """Non-square .npz images with data.image_size are center-cropped to a square first (as image folders are),
    not stretched; a height that already equals the size is still cropped (it used to be left non-square)."""
    x = np.zeros((4, 8, 12), dtype=np.uint8)
    x[:, :, 2:10] = 200  # the centre 8x8 block
    np.savez(tmp_path / "wide.npz", x=x)
    data = load_npz(tmp_path / "wide.npz", 8)
    assert tuple(data.x.shape) == (4, 1, 8, 8) and (data.x == 200).all()


def test_resize_output_is_bounded_before_it_is_allocated():
    from genforge.data.transforms import resize

    tiny = torch.zeros((100_000, 1, 2, 2), dtype=torch.uint8)
    with pytest.raises(DataError, match="over the 8 GiB limit; choose a smaller data.image_size"):
        resize(tiny, 1024)  # 100 GB of output: refused before np.empty
