"""Instance labels -> the three segmentation classes DenoiSeg learns."""

import numpy as np
from skimage.segmentation import find_boundaries

BACKGROUND, FOREGROUND, BORDER = 0, 1, 2
IGNORE = -1
"""Class value of pixels that carry no segmentation target (unannotated
images and padding); they are weighted 0 in the loss."""


def labels_to_classes(labels):
    """Map an instance label image to background / foreground / border.

    Border pixels are ``find_boundaries(labels, mode="outer")`` with
    connectivity 1 (4 neighbours in 2D, 6 in 3D); every other pixel with a
    label > 0 is foreground.

    Parameters
    ----------
    labels : ndarray of shape (H, W) or (Z, Y, X)
        Integer instance labels, 0 is background.

    Returns
    -------
    classes : ndarray, shape of ``labels``, dtype int8
        0 background, 1 foreground, 2 border.

    Examples
    --------
    >>> import numpy as np
    >>> labels = np.zeros((5, 5), dtype=int)
    >>> labels[1:4, 1:4] = 3
    >>> labels_to_classes(labels)
    array([[0, 2, 2, 2, 0],
           [2, 1, 1, 1, 2],
           [2, 1, 1, 1, 2],
           [2, 1, 1, 1, 2],
           [0, 2, 2, 2, 0]], dtype=int8)
    """
    # find_boundaries gives wrong results on int64 images in recent
    # scikit-image releases; int32 is safe for any label count we accept.
    labels = np.asarray(labels).astype(np.int32, copy=False)
    classes = np.where(labels > 0, FOREGROUND, BACKGROUND).astype(np.int8)
    classes[find_boundaries(labels, connectivity=1, mode="outer")] = BORDER
    return classes
