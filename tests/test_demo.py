import pytest

from sklearn_denoiseg import demo

pytest.importorskip("stardist")
pytest.importorskip("matplotlib")


def test_demo_runs_and_reports(tmp_path, monkeypatch, capsys):
    # the demo's own budget takes minutes; the same code with a tiny network
    monkeypatch.setattr(demo, "DEMO_PARAMS", dict(
        depth=2, n_filters=8, patch_size=32, batch_size=8, steps_per_epoch=3,
        max_epochs=1, lr=1e-3))
    figure = tmp_path / "demo.png"
    results = demo.main(["--epochs", "1", "--figure", str(figure)])
    assert set(results) == {"DenoiSeg (alpha=0.5)", "Baseline (alpha=0)"}
    for scores in results.values():
        assert 0 <= scores["AP"] <= 1 and 0 <= scores["SEG"] <= 1
    out = capsys.readouterr().out
    assert "AP" in out and "PSNR" in out and "noisy input" in out
    assert figure.stat().st_size > 10_000


def test_nuclei_split_shapes():
    data = demo.nuclei_split(n_annotated=2)
    assert data["X_train"].shape == (12, 128, 128)
    assert data["y_train"].any(axis=(1, 2)).sum() == 2
    assert data["X_test"].shape == data["y_test"].shape == data["clean_test"].shape == (4, 128, 128)
