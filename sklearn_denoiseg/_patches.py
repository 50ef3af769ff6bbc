"""Training and validation batches: random crops, dihedral transforms and
Noise2Void masks, drawn on the fly from the normalised images."""

import numpy as np
from torch.utils.data import Dataset, Sampler

from ._axes import per_axis
from ._masking import n2v_mask
from ._targets import IGNORE


class PatchSampler:
    """Draws batches of augmented, masked patches from a set of images.

    Images smaller than the patch are padded at the end of each spatial axis
    with 0 (the mean, after normalisation); padded pixels are never masked
    and carry no segmentation target. Blind spots are drawn for every channel
    independently: the other channels at a blind spot then show the signal
    there, but not the noise of the masked channel (the noise of different
    channels is independent), as in the Noise2Void implementation.

    Parameters
    ----------
    images : list of ndarray (C, *spatial), float32
        Normalised images, channels first, 2D or 3D.
    classes : list of (ndarray (*spatial), int8) or None
        Segmentation classes per image, None for unannotated images.
    patch_size : int or tuple of int
        Patch side on every spatial axis, or per axis.
    batch_size : int
        Patches per batch.
    label_fraction : float or None
        Share of each batch drawn from annotated images, the rest from
        unannotated ones; None (or a set of images of only one kind) draws
        every patch from an image chosen in proportion to its area.
    perc_pix, radius : float, int
        Noise2Void masking parameters, see :func:`n2v_mask`.
    replacement, struct_axis, struct_span : str, str or None, int
        Replacement rule and structN2V line, see :func:`n2v_mask`.
    """

    def __init__(
        self, images, classes, *, patch_size, batch_size, label_fraction, perc_pix, radius,
        replacement="uniform_with_center", struct_axis=None, struct_span=5,
    ):
        self.patch_size = per_axis(patch_size, images[0].ndim - 1)
        self.batch_size = batch_size
        self.masking = dict(perc_pix=perc_pix, radius=radius, replacement=replacement,
                            struct_axis=struct_axis, struct_span=struct_span)
        self.shapes = np.array([image.shape[1:] for image in images])
        self.images = [self._pad(image, 0.0, channels=True) for image in images]
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
        # quarter turns need patches as wide as high
        self.transforms = 8 if self.patch_size[-1] == self.patch_size[-2] else 4

    def _pad(self, array, value, channels=False):
        spatial = array.shape[1:] if channels else array.shape
        pad = [(0, max(0, size - side)) for size, side in zip(self.patch_size, spatial)]
        if not any(p for _, p in pad):
            return array
        return np.pad(array, ([(0, 0)] if channels else []) + pad, constant_values=value)

    def sample(self, rng, augment=True):
        """One batch.

        Returns
        -------
        x : ndarray of shape (B, C, *patch), float32
            Masked input patches.
        target : dict of ndarrays
            ``original`` (B, C, *patch), ``n2v_mask`` (B, C, *patch) and
            ``classes`` (B, *patch), see
            :class:`~sklearn_denoiseg._loss.DenoiSegLoss`.
        """
        n_other = self.batch_size - self.n_annotated
        which = rng.choice(len(self.images), size=n_other, p=self.other_p)
        if self.n_annotated:
            annotated = rng.choice(
                len(self.images), size=self.n_annotated, p=self.annotated_p
            )
            which = np.concatenate([annotated, which])
        padded = np.array([self.images[i].shape[1:] for i in which])
        starts = np.stack([rng.integers(0, padded[:, axis] - size + 1)
                           for axis, size in enumerate(self.patch_size)], axis=1)

        def window(corner):
            return tuple(slice(c, c + size) for c, size in zip(corner, self.patch_size))

        original = np.stack([self.images[i][(slice(None), *window(corner))]
                             for i, corner in zip(which, starts)])
        classes = np.stack([
            np.full(self.patch_size, IGNORE, np.int8) if self.classes[i] is None
            else self.classes[i][window(corner)]
            for i, corner in zip(which, starts)
        ])
        valid = np.minimum(self.shapes[which] - starts, self.patch_size)
        n, n_channels = original.shape[:2]
        # every channel gets its own blind spots
        masked, mask = n2v_mask(
            original.reshape(n * n_channels, *self.patch_size), rng=rng,
            valid_shapes=np.repeat(valid, n_channels, axis=0), **self.masking,
        )
        stacked = [masked.reshape(original.shape), original, mask.reshape(original.shape),
                   classes]
        if augment:
            if self.transforms == 8:
                transforms = rng.integers(0, 8, size=len(which))
            else:  # the identity, a half turn, and both flipped: the shape stays
                transforms = 2 * rng.integers(0, 4, size=len(which))
            stacked = _dihedral(stacked, transforms)
        masked, original, mask, classes = stacked
        target = {"original": original, "n2v_mask": mask, "classes": classes}
        return masked, target


def _dihedral(arrays, transforms):
    """Apply one of the 8 rotations/flips in the YX plane (the last two axes)
    per patch to each array of a batch; transforms 0-3 rotate by 90 degrees
    k times, 4-7 also flip X. Z is never moved."""
    out = [np.empty_like(a) for a in arrays]
    for transform in np.unique(transforms):
        rows = transforms == transform
        for source, target in zip(arrays, out):
            moved = np.rot90(source[rows], k=transform % 4, axes=(-2, -1))
            target[rows] = moved[..., ::-1] if transform >= 4 else moved
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
