"""Small estimators and file helpers shared by the tests."""

import zipfile

from sklearn_denoiseg import DenoiSegEstimator

TINY = dict(depth=2, n_filters=8, patch_size=32, batch_size=8, verbose=0)
"""A network and batches small enough for tests on two CPU cores."""


def tiny_estimator(**params):
    """A DenoiSegEstimator that fits in about a second."""
    return DenoiSegEstimator(
        **{**TINY, "max_epochs": 2, "steps_per_epoch": 3, "random_state": 0, **params}
    )


def flip_byte_inside(path, member, target):
    """Write to ``target`` a copy of the zip ``path`` with the middle byte of
    ``member``'s stored data inverted; returns ``target``."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(member)
    # data start = local header (30 bytes) + its own name and extra fields
    header = info.header_offset
    name_length = int.from_bytes(data[header + 26:header + 28], "little")
    extra_length = int.from_bytes(data[header + 28:header + 30], "little")
    data[header + 30 + name_length + extra_length + info.compress_size // 2] ^= 0xFF
    target.write_bytes(bytes(data))
    return target
