"""End-to-end tests of the denoiseg command line, run as a subprocess on tiny
TIFF files written here."""

import csv
import pickle
import subprocess
import sys
import warnings

import numpy as np
import pytest
import tifffile

from sklearn_denoiseg import DenoiSegEstimator, cli
from sklearn_denoiseg.cli import main
from sklearn_denoiseg.datasets import make_blobs
from sklearn_denoiseg.io import read_image
from sklearn_denoiseg.metrics import average_precision

TINY_OPTIONS = ["--depth", "2", "--n_filters", "8", "--patch-size", "32", "--batch_size", "8",
                "--max_epochs", "3", "--steps_per_epoch", "5", "--lr", "4e-3",
                "--random_state", "0", "--verbose", "0"]


def denoiseg(*args):
    return subprocess.run([sys.executable, "-m", "sklearn_denoiseg.cli", *map(str, args)],
                          capture_output=True, text=True)


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    """raw/ with 6 TIFFs, masks/ with masks for 3 of them (named img0.tif,
    img1_mask.tif, img2_labels.tif; img1's a binary 0/255 mask), test/ and its
    masks."""
    root = tmp_path_factory.mktemp("cli")
    X, y = make_blobs(n_images=8, shape=(48, 48), random_state=0)
    for sub in ("raw", "masks", "test", "test_masks"):
        (root / sub).mkdir()
    for i in range(6):
        tifffile.imwrite(root / "raw" / f"img{i}.tif", (X[i] * 1000 + 2000).astype(np.uint16))
    tifffile.imwrite(root / "masks" / "img0.tif", y[0].astype(np.uint16))
    tifffile.imwrite(root / "masks" / "img1_mask.tif", np.where(y[1] > 0, 255, 0).astype(np.uint8))
    tifffile.imwrite(root / "masks" / "img2_labels.tif", y[2].astype(np.uint16))
    for i in (6, 7):
        tifffile.imwrite(root / "test" / f"t{i}.tif", (X[i] * 1000 + 2000).astype(np.uint16))
        tifffile.imwrite(root / "test_masks" / f"t{i}.tif", y[i].astype(np.uint16))
    return root


@pytest.fixture(scope="module")
def model(folders):
    path = folders / "model.pt"
    # the image files one by one, as a shell expands an unquoted raw/*.tif
    images = sorted((folders / "raw").glob("*.tif"))
    result = denoiseg("train", *images, "--masks", folders / "masks", "--model", path,
                      *TINY_OPTIONS)
    assert result.returncode == 0, result.stderr
    assert "6 images, 3 annotated" in result.stdout
    assert "epochs: 3" in result.stdout and "threshold:" in result.stdout
    # every warning is one line, without Python's file name and source line
    warning_lines = result.stderr.splitlines()
    assert all(line.startswith("denoiseg train: warning: ") for line in warning_lines), \
        result.stderr
    assert any("img1_mask.tif" in line and "each connected component is read as one object"
               in line for line in warning_lines), result.stderr
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
                                  "bad_model", "bad_option", "model_exists", "no_mask_matches",
                                  "mask_suffix_without_masks"])
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
        tifffile.imwrite(masks / "a.tif", np.ones((32, 32), np.uint16))
        args += ["--alpha", "2"]
        expected = "alpha must be in [0, 1]"
    elif case == "model_exists":
        args[5] = model
        expected = "exists; pass --overwrite"
    elif case == "no_mask_matches":
        tifffile.imwrite(masks / "b.tif", np.ones((32, 32), np.uint16))
        expected = "the images are a.tif, and"
    elif case == "mask_suffix_without_masks":
        args = ["train", raw, "--mask-suffix", "_cp_masks", "--model", tmp_path / "m.pt"]
        expected = "--mask-suffix '_cp_masks' needs --masks"
    # in-process for speed; the subprocess tests above cover the real entry point
    assert main([str(a) for a in args]) == 1
    message = capsys.readouterr().err.strip()
    assert expected in message and "\n" not in message
    assert message.startswith(f"denoiseg {args[0]}: error:")


def test_help_has_examples(capsys):
    for command in ("train", "predict", "evaluate", "export"):
        with pytest.raises(SystemExit) as exit_info:
            main([command, "--help"])
        assert exit_info.value.code == 0
        out = capsys.readouterr().out
        assert "examples:" in out
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    assert "--label_fraction" in capsys.readouterr().out


def test_mask_suffix_option_is_passed_on(tmp_path, capsys):
    raw, masks = tmp_path / "raw", tmp_path / "masks"
    raw.mkdir()
    masks.mkdir()
    tifffile.imwrite(raw / "a.tif", np.zeros((32, 32), np.uint16))
    # a wrong shape stops the command once the mask is found, before training
    tifffile.imwrite(masks / "a_cp_masks.tif", np.ones((32, 30), np.uint16))
    args = ["train", str(raw), "--masks", str(masks), "--model", str(tmp_path / "m.pt")]
    assert main(args) == 1
    assert "--mask-suffix" in capsys.readouterr().err
    assert main(args + ["--mask-suffix", "_cp_masks"]) == 1
    assert "a_cp_masks.tif has shape (32, 30) but" in capsys.readouterr().err


def test_warnings_are_one_line_and_only_while_the_command_runs(monkeypatch, capsys):
    def warn(args):
        warnings.warn("first part,\n  second part", UserWarning)

    monkeypatch.setattr(cli, "train", warn)
    before = warnings.showwarning
    assert main(["train", "raw/", "--model", "m.pt"]) == 0
    assert capsys.readouterr().err == "denoiseg train: warning: first part, second part\n"
    assert warnings.showwarning is before


def test_a_pickled_estimator_is_a_clean_error(tmp_path):
    path = tmp_path / "model.pt"
    with open(path, "wb") as handle:
        pickle.dump(DenoiSegEstimator(), handle)
    (tmp_path / "raw").mkdir()
    tifffile.imwrite(tmp_path / "raw" / "a.tif", np.zeros((32, 32), np.uint16))
    # a fresh process: a warning shown once before must not hide one here
    result = denoiseg("predict", path, tmp_path / "raw", "--output", tmp_path / "out")
    assert result.returncode == 1
    assert result.stderr == (f"denoiseg predict: error: {path} is not a readable "
                             "sklearn_denoiseg model file: it is corrupted, truncated, or "
                             "holds objects other than plain data (UnpicklingError)\n")


def test_preset_sets_the_budget_and_options_replace_it():
    from sklearn_denoiseg.cli import _estimator_params, build_parser

    args = build_parser().parse_args(["train", "raw/", "--model", "m.pt", "--preset", "cpu",
                                      "--max_epochs", "3", "--class_weights", "1", "2", "3"])
    params = _estimator_params(args)
    assert params["n_filters"] == 16 and params["max_epochs"] == 3
    assert params["class_weights"] == (1.0, 2.0, 3.0)
    defaults = _estimator_params(build_parser().parse_args(["train", "raw/", "--model", "m"]))
    assert defaults == {}                   # the paper's defaults, from the estimator


def test_unknown_preset_is_refused(capsys):
    with pytest.raises(SystemExit):
        main(["train", "raw/", "--model", "m.pt", "--preset", "gpu"])
    assert "invalid choice: 'gpu'" in capsys.readouterr().err


SIGINT_IN_FIRST_STEP = """
import os, signal, sys
from sklearn_denoiseg import _net
from sklearn_denoiseg.cli import main

# what a terminal's foreground process has; a suite started as a background
# job (nohup ... &) hands its children an ignored SIGINT instead
signal.signal(signal.SIGINT, signal.default_int_handler)

original = _net.DenoiSegNet.train_step

def train_step(self, batch, **fit_params):
    # Ctrl-C as a terminal sends it: a real SIGINT, during the first epoch
    if len(self.history) == 1:
        os.kill(os.getpid(), signal.SIGINT)
    return original(self, batch, **fit_params)

_net.DenoiSegNet.train_step = train_step
sys.exit(main(sys.argv[1:]))
"""


def test_ctrl_c_in_the_first_epoch_saves_the_model_and_says_so(folders, tmp_path):
    path = tmp_path / "interrupted.pt"
    result = subprocess.run(
        [sys.executable, "-c", SIGINT_IN_FIRST_STEP, "train", folders / "raw", "--masks",
         folders / "masks", "--model", path, *TINY_OPTIONS], capture_output=True, text=True)
    assert result.returncode == cli.INTERRUPTED, result.stderr
    assert "Traceback" not in result.stderr, result.stderr
    assert "interrupted after 0 of 3 epochs" in result.stderr
    assert "epochs: 0" in result.stdout and f"model saved to {path}" in result.stdout
    estimator = DenoiSegEstimator.load(path)
    assert len(estimator.history_) == 0
    assert np.isfinite(estimator.transform([read_image(folders / "test" / "t6.tif")])[0]).all()
