import numpy as np
import pytest

from sklearn_denoiseg.metrics import average_precision, psnr, seg_score


def square(shape, top, left, side, label=1, out=None):
    out = np.zeros(shape, dtype=np.int32) if out is None else out
    out[top : top + side, left : left + side] = label
    return out


@pytest.mark.parametrize(
    "shift, iou, ap, seg",
    [
        (0, 1.0, 1.0, 1.0),
        (1, 12 / 20, 1.0, 12 / 20),   # IoU 0.6: a match for both metrics
        (2, 8 / 24, 0.0, 0.0),        # IoU 1/3: 0 TP, 1 FP, 1 FN; covers exactly half
    ],
)
def test_shifted_squares(shift, iou, ap, seg):
    # 4x4 squares shifted horizontally: intersection 4*(4-shift), union 4*(4+shift)
    truth = square((10, 12), 2, 2, 4)
    pred = square((10, 12), 2, 2 + shift, 4)
    assert (4 - shift) / (4 + shift) == pytest.approx(iou)
    assert average_precision(truth, pred) == pytest.approx(ap)
    assert seg_score(truth, pred) == pytest.approx(seg)


def test_iou_exactly_half_is_not_a_match():
    truth = square((4, 8), 0, 0, 4)             # 16 pixels
    pred = np.zeros_like(truth)
    pred[:4, 2:4] = 1                           # 8 pixels inside: IoU 8/16 = 0.5
    assert average_precision(truth, pred) == 0.0
    pred[0, 1] = 1                              # IoU 9/16 > 0.5
    assert average_precision(truth, pred) == 1.0


def test_counts_tp_fp_fn_with_non_consecutive_ids():
    truth = square((20, 20), 0, 0, 5, label=7)
    square((20, 20), 10, 10, 5, label=1000, out=truth)
    square((20, 20), 0, 12, 5, label=3, out=truth)     # missed
    pred = square((20, 20), 0, 0, 5, label=42)
    square((20, 20), 10, 11, 5, label=5, out=pred)     # IoU 20/30
    square((20, 20), 15, 0, 4, label=9, out=pred)      # false positive
    # TP 2, FP 1, FN 1
    assert average_precision(truth, pred) == pytest.approx(2 / 4)
    # SEG: IoU 1, 20/30, 0 over three GT objects
    assert seg_score(truth, pred) == pytest.approx((1 + 20 / 30) / 3)


def test_empty_images():
    empty = np.zeros((6, 6), dtype=np.int32)
    full = square((6, 6), 1, 1, 3)
    assert np.isnan(average_precision(empty, empty))
    assert average_precision(empty, full) == 0.0
    assert average_precision(full, empty) == 0.0
    assert np.isnan(seg_score(empty, full))
    assert seg_score(full, empty) == 0.0


def test_sequences_skip_empty_ground_truth():
    full = square((6, 6), 1, 1, 3)
    empty = np.zeros_like(full)
    # second image unannotated: skipped even though the prediction is not empty
    assert average_precision([full, empty], [full, full]) == 1.0
    assert average_precision(np.stack([full, full]), np.stack([full, empty])) == 0.5
    with pytest.warns(RuntimeWarning, match="empty"):
        assert np.isnan(average_precision([empty], [full]))


def test_sequences_of_different_sizes():
    a = square((6, 6), 1, 1, 3)
    b = square((9, 5), 1, 1, 3)
    assert average_precision([a, b], [a, np.zeros_like(b)]) == 0.5


def test_metric_errors():
    a = square((6, 6), 1, 1, 3)
    with pytest.raises(ValueError, match="y_pred has shape"):
        average_precision(a, a[:5])
    with pytest.raises(TypeError, match="integer"):
        average_precision(a, a.astype(float))
    with pytest.raises(ValueError, match="negative"):
        average_precision(a, -a)
    with pytest.raises(ValueError, match="iou_threshold"):
        average_precision(a, a, iou_threshold=0.3)
    with pytest.raises(ValueError, match="holds 2 images"):
        average_precision([a, a], [a])


@pytest.mark.parametrize("n_ids, scale", [(30, 1), (30, 10**9), (1500, 1)])
def test_many_objects_agree_with_bruteforce(n_ids, scale):
    # small ids use lookup tables, huge ids sorting; few objects a dense
    # contingency table, many objects a sparse one
    rng = np.random.default_rng(1)
    truth = rng.integers(0, n_ids, size=(40, 40)) * scale
    pred = np.where(rng.random((40, 40)) < 0.8, truth, rng.integers(0, n_ids, size=(40, 40)))
    tp = 0
    for t in np.unique(truth[truth > 0]):
        for p in np.unique(pred[(truth == t) & (pred > 0)]):   # overlapping objects only
            inter = np.sum((truth == t) & (pred == p))
            union = np.sum((truth == t) | (pred == p))
            tp += inter / union > 0.5
    n_true, n_pred = len(np.unique(truth[truth > 0])), len(np.unique(pred[pred > 0]))
    assert average_precision(truth, pred) == pytest.approx(tp / (n_true + n_pred - tp))


def test_psnr_known_value():
    clean = np.array([[0.0, 100.0], [50.0, 50.0]])
    noisy = clean + np.array([[10.0, -10.0], [10.0, -10.0]])
    assert psnr(clean, noisy) == pytest.approx(20 * np.log10(100) - 10 * np.log10(100))
    with pytest.raises(ValueError, match="shape"):
        psnr(clean, noisy[:1])
