import numpy as np
import pytest

from sklearn_denoiseg._patches import BatchSeeds, FixedBatches, PatchSampler, RandomBatches
from sklearn_denoiseg._targets import IGNORE


def make_sampler(label_fraction=None, sizes=((64, 64), (64, 64)), annotated=(True, False),
                 batch_size=16, patch_size=32):
    rng = np.random.default_rng(0)
    images = [rng.normal(size=(1, *s)).astype(np.float32) for s in sizes]
    classes = [np.ones(s, np.int8) if a else None for s, a in zip(sizes, annotated)]
    return PatchSampler(images, classes, patch_size=patch_size, batch_size=batch_size,
                        label_fraction=label_fraction, perc_pix=1.5, radius=5)


def annotated_share(sampler, n=20):
    rng = np.random.default_rng(1)
    shares = [np.mean((s.sample(rng)[1]["classes"] != IGNORE).any(axis=(1, 2)))
              for s in [sampler] * n]
    return np.mean(shares)


def test_batch_shapes_and_types():
    x, target = make_sampler().sample(np.random.default_rng(0))
    assert x.shape == (16, 1, 32, 32) and x.dtype == np.float32
    assert target["original"].shape == (16, 1, 32, 32)
    assert target["n2v_mask"].dtype == bool
    # masked input differs from the original only at blind spots
    changed = x != target["original"]
    assert not (changed & ~target["n2v_mask"]).any()


def test_area_proportional_sampling():
    # one annotated 32x32 image beside an unannotated 96x96 one: 1/10 of the area
    sampler = make_sampler(None, sizes=((32, 32), (96, 96)), batch_size=64)
    assert annotated_share(sampler) == pytest.approx(0.1, abs=0.03)


@pytest.mark.parametrize("fraction", [0.25, 0.5])
def test_label_fraction_sets_annotated_share(fraction):
    sampler = make_sampler(fraction, sizes=((32, 32), (96, 96)), batch_size=64)
    assert annotated_share(sampler) == pytest.approx(fraction)


def test_small_images_are_padded_without_targets():
    sampler = make_sampler(None, sizes=((20, 12),), annotated=(True,), batch_size=8)
    x, target = sampler.sample(np.random.default_rng(0), augment=False)
    assert x.shape == (8, 1, 32, 32)
    assert (target["classes"][:, :20, :12] == 1).all()
    assert (target["classes"][:, 20:] == IGNORE).all()
    assert not target["n2v_mask"][..., 12:].any()
    assert target["n2v_mask"].any()


def test_dihedral_augmentation_keeps_channels_aligned():
    rng = np.random.default_rng(0)
    image = np.arange(32 * 32, dtype=np.float32).reshape(1, 32, 32)
    classes = (np.arange(32 * 32).reshape(32, 32) % 3).astype(np.int8)
    sampler = PatchSampler([image], [classes], patch_size=32, batch_size=64,
                           label_fraction=None, perc_pix=1.5, radius=5)
    _, target = sampler.sample(rng)
    originals = {target["original"][i].tobytes() for i in range(64)}
    assert len(originals) == 8      # all 8 rotations/flips of the one crop appear
    # classes moved with the image: pixel value v sits where class v % 3 is
    np.testing.assert_array_equal(target["classes"], target["original"][:, 0].astype(int) % 3)


def test_random_batches_reproducible_and_fresh_each_epoch():
    sampler = make_sampler(0.5)
    data = RandomBatches(sampler, 3)
    seeds = BatchSeeds(3, seed=0)
    first, second = list(seeds), list(seeds)
    assert first != second
    np.testing.assert_array_equal(data[first[0]][0], data[first[0]][0])
    assert list(BatchSeeds(3, seed=0)) == first


def test_fixed_batches_do_not_change():
    data = FixedBatches(make_sampler(0.5), 2, seed=0)
    assert len(data) == 2
    np.testing.assert_array_equal(data[1][1]["n2v_mask"], data[1][1]["n2v_mask"])
    assert not np.array_equal(data[0][0], data[1][0])
