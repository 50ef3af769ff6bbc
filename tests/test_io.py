import warnings

import numpy as np
import pytest
import tifffile

from sklearn_denoiseg.exceptions import BinaryMaskWarning
from sklearn_denoiseg.io import (MASK_SUFFIXES, find_images, read_image, read_masks,
                                 write_tiff)

SHAPE = (6, 6)


def _write(path, array=None):
    tifffile.imwrite(path, np.zeros(SHAPE, np.uint16) if array is None else array)
    return path


def _instance_mask():
    """Two objects with ids 3 and 5."""
    mask = np.zeros(SHAPE, np.uint16)
    mask[:2, :2] = 3
    mask[4:, 4:] = 5
    return mask


@pytest.fixture
def raw(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    (tmp_path / "masks").mkdir()
    return [_write(raw / f"tile_0{i}.tif") for i in range(5)]


def test_io_functions(tmp_path):
    np.save(tmp_path / "b.npy", np.ones((5, 6)))
    np.savez(tmp_path / "c.npz", image=np.ones((1, 5, 6)))
    np.savez(tmp_path / "d.npz", a=np.ones((5, 6)), b=np.ones((5, 6)))
    write_tiff(tmp_path / "a.tif", np.arange(30).reshape(5, 6))
    paths = find_images(tmp_path)
    assert [p.name for p in paths] == ["a.tif", "b.npy", "c.npz", "d.npz"]
    assert read_image(paths[0]).dtype == np.uint16
    assert read_image(paths[2]).shape == (5, 6)           # singleton dimension dropped
    with pytest.raises(ValueError, match="holds 2 arrays"):
        read_image(paths[3])
    with pytest.raises(FileExistsError):
        write_tiff(tmp_path / "a.tif", np.zeros((2, 2)))
    write_tiff(tmp_path / "big.tif", np.array([[0, 70000]]))
    assert tifffile.imread(tmp_path / "big.tif").dtype == np.uint32
    masks = read_masks(paths[:2], tmp_path, [(5, 6), (5, 6)])
    assert masks[0].max() == 29 and masks[1].max() == 1
    assert [p.name for p in find_images(str(tmp_path / "*.np?"))] == ["b.npy", "c.npz", "d.npz"]


def test_find_images_combines_several_sources_once(raw, tmp_path):
    other = tmp_path / "other"
    other.mkdir()
    extra = _write(other / "a.tif")
    # as a shell expands raw/*.tif, plus the folder itself and another folder
    found = find_images([*reversed(raw), raw[0].parent, str(tmp_path / "raw" / "tile_01.tif"),
                         other])
    assert found == [extra, *raw]
    with pytest.raises(FileNotFoundError, match="nowhere"):
        find_images([raw[0], tmp_path / "nowhere"])


@pytest.mark.parametrize("suffix", MASK_SUFFIXES)
def test_masks_are_found_with_the_common_suffixes(suffix, raw, tmp_path):
    _write(tmp_path / "masks" / f"tile_01{suffix}.tif", _instance_mask())
    masks = read_masks(raw, tmp_path / "masks", [SHAPE] * len(raw))
    np.testing.assert_array_equal(masks[1], _instance_mask())
    assert not any(np.any(m) for i, m in enumerate(masks) if i != 1)


def test_an_explicit_mask_suffix_is_the_only_one_tried(raw, tmp_path):
    masks_dir = tmp_path / "masks"
    _write(masks_dir / "tile_00_cp_masks.tif", _instance_mask())
    _write(masks_dir / "tile_01_mask.tif", _instance_mask())
    _write(masks_dir / "tile_02.tif", _instance_mask())
    annotated = [bool(np.any(m)) for m in
                 read_masks(raw, masks_dir, [SHAPE] * 5, mask_suffix="_cp_masks")]
    assert annotated == [True, False, False, False, False]
    annotated = [bool(np.any(m)) for m in read_masks(raw, masks_dir, [SHAPE] * 5,
                                                      mask_suffix="")]
    assert annotated == [False, False, True, False, False]
    with pytest.raises(TypeError, match="mask_suffix must be a string or None, got 3"):
        read_masks(raw, masks_dir, [SHAPE] * 5, mask_suffix=3)


def test_several_candidate_masks_are_an_error(raw, tmp_path):
    _write(tmp_path / "masks" / "tile_02_mask.tif")
    _write(tmp_path / "masks" / "tile_02_seg.tif")
    with pytest.raises(ValueError, match="several masks match tile_02.tif in .*masks: "
                                         "tile_02_mask.tif, tile_02_seg.tif"):
        read_masks(raw, tmp_path / "masks", [SHAPE] * 5)


@pytest.mark.parametrize("mask_suffix,tried", [
    (None, "IMAGE followed by nothing, '_mask', '_masks', '_label', '_labels' or '_seg', "
           "then .tif, .tiff, .npy, .npz"),
    ("_cp_masks", "IMAGE followed by '_cp_masks', then"),
])
def test_a_mask_folder_matching_no_image_lists_names(mask_suffix, tried, raw, tmp_path):
    masks_dir = tmp_path / "masks"
    for name in ("cell_a.png", "cell_b.png", "cell_c.tif", "cell_d.tif"):
        _write(masks_dir / name)
    with pytest.raises(ValueError) as error:
        read_masks(raw, masks_dir, [SHAPE] * 5, mask_suffix=mask_suffix)
    message = str(error.value)
    assert f"no file in the mask folder {masks_dir} matches an image" in message
    assert "the images are tile_00.tif, tile_01.tif, tile_02.tif and 2 more" in message
    assert f"{masks_dir} holds cell_a.png, cell_b.png, cell_c.tif and 1 more" in message
    assert tried in message
    assert "--mask-suffix (mask_suffix= in Python)" in message


def test_an_empty_mask_folder_is_an_error(raw, tmp_path):
    with pytest.raises(ValueError, match="masks holds no file"):
        read_masks(raw, tmp_path / "masks", [SHAPE] * 5)


def test_binary_masks_are_read_as_connected_components(raw, tmp_path):
    binary = np.zeros(SHAPE, np.uint8)
    binary[:2, :2] = 255
    binary[2:4, 2:4] = 255              # touches the first square at a corner only
    binary[5:, :] = 255
    masks_dir = tmp_path / "masks"
    _write(masks_dir / "tile_00_mask.tif", binary)
    np.save(masks_dir / "tile_01.npy", binary > 0)
    single = np.zeros(SHAPE, np.uint16)
    single[5:, :] = 7
    _write(masks_dir / "tile_02.tif", single)
    _write(masks_dir / "tile_03.tif", _instance_mask())
    with pytest.warns(BinaryMaskWarning) as record:
        masks = read_masks(raw, masks_dir, [SHAPE] * 5)
    assert len(record) == 1                                   # once per call
    message = str(record[0].message)
    assert "2 mask(s)" in message and "tile_00_mask.tif, tile_01.npy" in message
    assert "tile_02" not in message
    assert "each connected component is read as one object" in message
    assert "save masks with one id per object" in message
    for labels in masks[:2]:
        # 4-connectivity: squares touching at a corner stay apart
        assert len(np.unique(labels[:2, :2])) == 1 and labels[0, 0] != labels[2, 2]
        assert len(np.unique(labels)) == 4 and np.array_equal(labels > 0, binary > 0)
    # a single object is one object either way: its id may change, nothing else
    np.testing.assert_array_equal(masks[2], single > 0)
    np.testing.assert_array_equal(masks[3], _instance_mask())
    assert masks[3].dtype == np.uint16
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_masks(raw[2:], masks_dir, [SHAPE] * 3)             # no binary mask: no warning


def test_mask_errors_name_the_mask_file(raw, tmp_path):
    masks_dir = tmp_path / "masks"
    _write(masks_dir / "tile_00_labels.tif", np.zeros((6, 5), np.uint16))
    with pytest.raises(ValueError, match=r"tile_00_labels.tif has shape \(6, 5\) but "
                                         r".*tile_00.tif has shape \(6, 6\)"):
        read_masks(raw, masks_dir, [SHAPE] * 5)
    (masks_dir / "tile_00_labels.tif").write_bytes(b"not a tiff")
    with pytest.raises(ValueError, match="tile_00_labels.tif: cannot read it as an image"):
        read_masks(raw, masks_dir, [SHAPE] * 5)
    (masks_dir / "tile_00_labels.tif").unlink()
    tifffile.imwrite(masks_dir / "tile_01_seg.tif", np.zeros((3, 6, 6), np.uint16),
                     photometric="minisblack")
    with pytest.raises(ValueError, match="tile_01_seg.tif: has shape .* looks like a stack"):
        read_masks(raw, masks_dir, [SHAPE] * 5)
