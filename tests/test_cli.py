"""End-to-end tests of the denoiseg command line, run as a subprocess on tiny
TIFF files written here."""

import csv
import subprocess
import sys

import numpy as np
import pytest
import tifffile

from sklearn_denoiseg import DenoiSegEstimator
from sklearn_denoiseg.cli import main
from sklearn_denoiseg.datasets import make_blobs
from sklearn_denoiseg.io import find_images, read_image, read_masks, write_tiff
from sklearn_denoiseg.metrics import average_precision

TINY_OPTIONS = ["--depth", "2", "--n_filters", "8", "--patch-size", "32", "--batch_size", "8",
                "--max_epochs", "3", "--steps_per_epoch", "5", "--lr", "4e-3",
                "--random_state", "0", "--verbose", "0"]


def denoiseg(*args):
    return subprocess.run([sys.executable, "-m", "sklearn_denoiseg.cli", *map(str, args)],
                          capture_output=True, text=True)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """raw/ with 6 TIFFs, masks/ with masks for 3 of them, test/ and its masks."""
    root = tmp_path_factory.mktemp("cli")
    X, y = make_blobs(n_images=8, shape=(48, 48), random_state=0)
    for sub in ("raw", "masks", "test", "test_masks"):
        (root / sub).mkdir()
    for i in range(6):
        tifffile.imwrite(root / "raw" / f"img{i}.tif", (X[i] * 1000 + 2000).astype(np.uint16))
        if i < 3:
            tifffile.imwrite(root / "masks" / f"img{i}.tif", y[i].astype(np.uint16))
    for i in (6, 7):
        tifffile.imwrite(root / "test" / f"t{i}.tif", (X[i] * 1000 + 2000).astype(np.uint16))
        tifffile.imwrite(root / "test_masks" / f"t{i}.tif", y[i].astype(np.uint16))
    return root


@pytest.fixture(scope="module")
def model(folders):
    path = folders / "model.pt"
    result = denoiseg("train", folders / "raw", "--masks", folders / "masks", "--model", path,
                      *TINY_OPTIONS)
    assert result.returncode == 0, result.stderr
    assert "6 images, 3 annotated" in result.stdout
    assert "epochs: 3" in result.stdout and "threshold:" in result.stdout
    return path


def test_train_writes_a_loadable_model_with_the_options(model):
    est = DenoiSegEstimator.load(model)
    assert est.get_params()["depth"] == 2 and est.get_params()["patch_size"] == 32
    assert len(est.history_) == 3


def test_predict_writes_labels_and_denoised_images(folders, model):
    out = folders / "out"
    result = denoiseg("predict", model, folders / "test", "--output", out, "--denoised")
    assert result.returncode == 0, result.stderr
    est = DenoiSegEstimator.load(model)
    for name in ("t6", "t7"):
        labels = tifffile.imread(out / f"{name}.tif")
        denoised = tifffile.imread(out / f"{name}_denoised.tif")
        image = read_image(folders / "test" / f"{name}.tif")
        assert labels.dtype == np.uint16 and denoised.dtype == np.float32
        np.testing.assert_array_equal(labels, est.predict([image])[0])
        np.testing.assert_allclose(denoised, est.transform([image])[0], rtol=1e-6)
    # never overwrite without being asked
    again = denoiseg("predict", model, folders / "test", "--output", out)
    assert again.returncode != 0
    assert "exists; pass --overwrite" in again.stderr and "Traceback" not in again.stderr
    assert denoiseg("predict", model, folders / "test", "--output", out, "--overwrite",
                    "--quiet").returncode == 0


def test_evaluate_predictions_and_model(folders, model):
    out = folders / "eval_out"
    assert denoiseg("predict", model, folders / "test", "--output", out).returncode == 0
    table = folders / "scores.csv"
    result = denoiseg("evaluate", "--predictions", out, "--masks", folders / "test_masks",
                      "--csv", table)
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(table.open()))
    assert [r["image"] for r in rows] == ["t6", "t7", "mean"]
    for row in rows[:2]:
        truth = tifffile.imread(folders / "test_masks" / f"{row['image']}.tif")
        pred = tifffile.imread(out / f"{row['image']}.tif")
        assert float(row["AP"]) == pytest.approx(average_precision(truth, pred), abs=1e-6)
    from_model = denoiseg("evaluate", "--model", model, "--images", folders / "test",
                          "--masks", folders / "test_masks")
    assert from_model.returncode == 0
    assert from_model.stdout.splitlines()[-1] == result.stdout.splitlines()[-1]


@pytest.mark.parametrize("case", ["missing_folder", "shape_mismatch", "rgb", "stack",
                                  "bad_model", "bad_option", "model_exists"])
def test_errors_are_one_line(case, folders, model, tmp_path, capsys):
    raw, masks = tmp_path / "raw", tmp_path / "masks"
    raw.mkdir()
    masks.mkdir()
    tifffile.imwrite(raw / "a.tif", np.zeros((32, 32), np.uint16))
    args = ["train", raw, "--masks", masks, "--model", tmp_path / "m.pt", *TINY_OPTIONS]
    expected = None
    if case == "missing_folder":
        args[1] = tmp_path / "nowhere"
        expected = "no image files"
    elif case == "shape_mismatch":
        tifffile.imwrite(masks / "a.tif", np.zeros((32, 30), np.uint16))
        expected = "has shape (32, 30) but"
    elif case == "rgb":
        tifffile.imwrite(raw / "b.tif", np.zeros((32, 32, 3), np.uint8))
        expected = "looks like an RGB image"
    elif case == "stack":
        tifffile.imwrite(raw / "b.tif", np.zeros((4, 32, 32), np.uint16), photometric="minisblack")
        expected = "looks like a stack"
    elif case == "bad_model":
        (tmp_path / "junk.pt").write_bytes(b"not a model")
        args = ["predict", tmp_path / "junk.pt", raw, "--output", tmp_path / "o"]
        expected = "not a readable sklearn_denoiseg model file"
    elif case == "bad_option":
        args += ["--alpha", "2"]
        expected = "alpha must be in [0, 1]"
    elif case == "model_exists":
        args[5] = model
        expected = "exists; pass --overwrite"
    # in-process for speed; the subprocess tests above cover the real entry point
    assert main([str(a) for a in args]) == 1
    message = capsys.readouterr().err.strip()
    assert expected in message and "\n" not in message
    assert message.startswith(f"denoiseg {args[0]}: error:")


def test_help_has_examples(capsys):
    for command in ("train", "predict", "evaluate"):
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--help"])
        assert exit_info.value.code == 0
        out = capsys.readouterr().out
        assert "examples:" in out
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "--label_fraction" in capsys.readouterr().out


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
