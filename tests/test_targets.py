import numpy as np
import pytest

from sklearn_denoiseg._targets import labels_to_classes


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.int32, np.int64])
def test_two_touching_objects(dtype):
    labels = np.zeros((6, 8), dtype=dtype)
    labels[1:5, 1:4] = 1
    labels[1:5, 4:7] = 2          # touches object 1 along a column
    # "outer" boundaries: the background ring, and on both sides of the contact
    expected = np.array(
        [
            [0, 2, 2, 2, 2, 2, 2, 0],
            [2, 1, 1, 2, 2, 1, 1, 2],
            [2, 1, 1, 2, 2, 1, 1, 2],
            [2, 1, 1, 2, 2, 1, 1, 2],
            [2, 1, 1, 2, 2, 1, 1, 2],
            [0, 2, 2, 2, 2, 2, 2, 0],
        ]
    )
    np.testing.assert_array_equal(labels_to_classes(labels), expected)


def test_large_ids_and_empty():
    labels = np.zeros((5, 5), dtype=np.int64)
    assert not labels_to_classes(labels).any()
    labels[2, 2] = 2**40 // 2**20  # a large id, still fits int32
    classes = labels_to_classes(labels)
    assert classes[2, 2] == 1 and classes[1, 2] == 2 and classes[1, 1] == 0


def test_borders_in_3d_use_the_6_neighbourhood():
    labels = np.zeros((5, 5, 5), dtype=int)
    labels[1:4, 1:4, 1:4] = 1
    classes = labels_to_classes(labels)
    assert (classes[1:4, 1:4, 1:4] == 1).all()            # the cube itself
    assert classes[0, 2, 2] == 2 and classes[2, 2, 0] == 2  # face neighbours: border
    assert classes[0, 0, 2] == 0 and classes[0, 0, 0] == 0  # edge and corner: background
