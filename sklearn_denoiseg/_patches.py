"""Training and validation batches: random crops, dihedral transforms and
Noise2Void masks, drawn on the fly from the normalised images."""

import numpy as np
from torch.utils.data import Dataset, Sampler

from ._masking import n2v_mask
from ._targets import IGNORE


class PatchSampler:
    """Draws batches of augmented, masked patches from a set of images.

    Images smaller than the patch are padded at the bottom and right with 0
    (the mean, after normalisation); padded pixels are never masked and carry
    no segmentation target.

    Parameters
    ----------
    images : list of ndarray (H, W), float32
        Normalised images.
    classes : list of (ndarray (H, W), int8) or None
        Segmentation classes per image, None for unannotated images.
    patch_size : int
        Side of the square patches.
    batch_size : int
        Patches per batch.
    label_fraction : float or None
        Share of each batch drawn from annotated images, the rest from
        unannotated ones; None (or a set of images of only one kind) draws
        every patch from an image chosen in proportion to its area.
    perc_pix, radius : float, int
        Noise2Void masking parameters, see :func:`n2v_mask`.
    """

    def __init__(
        self, images, classes, *, patch_size, batch_size, label_fraction, perc_pix, radius
    ):
        self.patch_size = patch_size
        self.batch_size = batch_size
        self.perc_pix = perc_pix
        self.radius = radius
        self.shapes = np.array([image.shape for image in images])
        self.images = [self._pad(image, 0.0) for image in images]
        self.classes = [None if c is None else self._pad(c, IGNORE) for c in classes]
        annotated = np.array([c is not None for c in classes])
        area = self.shapes.prod(axis=1).astype(np.float64)
        if label_fraction is not None and annotated.any() and not annotated.all():
            self.n_annotated = max(1, int(round(label_fraction * batch_size)))
            self.annotated_p = np.where(annotated, area, 0) / area[annotated].sum()
            self.other_p = np.where(annotated, 0, area) / area[~annotated].sum()
        else:
            self.n_annotated = 0
            self.other_p = area / area.sum()

    def _pad(self, array, value):
        pad = [(0, max(0, self.patch_size - side)) for side in array.shape]
        return np.pad(array, pad, constant_values=value) if any(p for _, p in pad) else array

    def sample(self, rng, augment=True):
        """One batch.

        Returns
        -------
        x : ndarray of shape (B, 1, P, P), float32
            Masked input patches.
        target : dict of ndarrays
            ``original``, ``n2v_mask`` and ``classes``, see
            :class:`~sklearn_denoiseg._loss.DenoiSegLoss`.
        """
        n_other = self.batch_size - self.n_annotated
        which = rng.choice(len(self.images), size=n_other, p=self.other_p)
        if self.n_annotated:
            annotated = rng.choice(
                len(self.images), size=self.n_annotated, p=self.annotated_p
            )
            which = np.concatenate([annotated, which])
        size = self.patch_size
        padded = np.array([self.images[i].shape for i in which])
        top = rng.integers(0, padded[:, 0] - size + 1)
        left = rng.integers(0, padded[:, 1] - size + 1)
        original = np.stack(
            [self.images[i][t : t + size, l : l + size] for i, t, l in zip(which, top, left)]
        )
        classes = np.stack(
            [
                np.full((size, size), IGNORE, np.int8)
                if self.classes[i] is None
                else self.classes[i][t : t + size, l : l + size]
                for i, t, l in zip(which, top, left)
            ]
        )
        valid = np.minimum(self.shapes[which] - np.stack([top, left], axis=1), size)
        masked, mask = n2v_mask(
            original, perc_pix=self.perc_pix, radius=self.radius, rng=rng, valid_shapes=valid
        )
        stacked = [masked, original, mask, classes]
        if augment:
            stacked = _dihedral(stacked, rng.integers(0, 8, size=len(which)))
        masked, original, mask, classes = stacked
        target = {"original": original, "n2v_mask": mask, "classes": classes}
        return masked[:, None], target


def _dihedral(arrays, transforms):
    """Apply one of the 8 rotations/flips per patch to each array of a batch."""
    out = [np.empty_like(a) for a in arrays]
    for transform in np.unique(transforms):
        rows = transforms == transform
        for source, target in zip(arrays, out):
            moved = np.rot90(source[rows], k=transform % 4, axes=(1, 2))
            target[rows] = moved[:, :, ::-1] if transform >= 4 else moved
    return out


class RandomBatches(Dataset):
    """Training batches: item ``seed`` is the batch drawn with that seed, so
    batches are reproducible and independent of data-loader workers."""

    def __init__(self, sampler, n_batches):
        self.sampler = sampler
        self.n_batches = n_batches

    def __len__(self):
        return self.n_batches

    def __getitem__(self, seed):
        return self.sampler.sample(np.random.default_rng(seed))


class BatchSeeds(Sampler):
    """Yields ``n_batches`` fresh random seeds per epoch for :class:`RandomBatches`.

    Training therefore never runs out of patches, whatever the number of
    steps.
    """

    def __init__(self, n_batches, seed):
        self.n_batches = n_batches
        self.rng = np.random.default_rng(seed)

    def __len__(self):
        return self.n_batches

    def __iter__(self):
        return iter(self.rng.integers(0, 2**63 - 1, size=self.n_batches).tolist())


class FixedBatches(Dataset):
    """Validation batches drawn once, so that the validation loss of different
    epochs is computed on the same patches and blind spots."""

    def __init__(self, sampler, n_batches, seed):
        rng = np.random.default_rng(seed)
        self.batches = [sampler.sample(rng, augment=False) for _ in range(n_batches)]

    def __len__(self):
        return len(self.batches)

    def __getitem__(self, index):
        return self.batches[index]
