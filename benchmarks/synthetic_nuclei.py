"""How close ``make_nuclei`` comes to the real nuclei image: statistics
and a figure.

The real image is the annotated DSB2018 image that ``stardist`` ships
(512x512, 125 nuclei); the synthetic set is 16 images of 128x128 (the same
area) at the default settings. For both: nuclei per 10,000 pixels, the
foreground share, object areas (10th, 50th and 90th percentile), the share
of nuclei that touch another, and a signal-to-noise ratio (mean foreground
minus mean background, over the background's standard deviation). The
figure puts a 256x256 crop of the real image beside 4 synthetic images,
with the outlines of their labels.

    python benchmarks/synthetic_nuclei.py [--figure synthetic_nuclei.png]
"""

import argparse

import numpy as np
from scipy import ndimage

from sklearn_denoiseg.datasets import load_nuclei, make_nuclei

from _common import table


def statistics(images, labels):
    areas, touching = [], []
    for image_labels in labels:
        counts = np.bincount(image_labels.ravel())[1:]
        areas.extend(counts[counts > 0])
        for i in np.unique(image_labels[image_labels > 0]):
            ring = ndimage.binary_dilation(image_labels == i) & (image_labels > 0)
            touching.append((ring & (image_labels != i)).any())
    pixels = sum(lab.size for lab in labels)
    snr = np.mean([(im[lab > 0].mean() - im[lab == 0].mean()) / im[lab == 0].std()
                   for im, lab in zip(images, labels)])
    p10, p50, p90 = np.percentile(areas, [10, 50, 90])
    return [f"{len(areas) / pixels * 1e4:.1f}",
            f"{np.mean([(lab > 0).mean() for lab in labels]):.2f}",
            f"{p10:.0f} / {p50:.0f} / {p90:.0f}", f"{np.mean(touching):.2f}", f"{snr:.1f}"]


def figure(path, real, real_labels, images, labels):
    import matplotlib.pyplot as plt
    from skimage.segmentation import find_boundaries

    panels = [(real[:256, :256], real_labels[:256, :256], "real (DSB2018), 256x256")]
    panels += [(im, lab, f"make_nuclei #{i}, 128x128")
               for i, (im, lab) in enumerate(zip(images[:4], labels[:4]))]
    fig, axes = plt.subplots(2, len(panels), figsize=(3 * len(panels), 6))
    for column, (image, image_labels, title) in enumerate(panels):
        axes[0, column].imshow(image, cmap="gray")
        axes[0, column].set_title(title, fontsize=9)
        scaled = (image - image.min()) / (image.max() - image.min())
        outlined = np.stack([scaled] * 3, axis=-1)
        outlined[find_boundaries(image_labels)] = (1, 0, 1)
        axes[1, column].imshow(outlined)
    for axis in axes.ravel():
        axis.axis("off")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--figure", default="synthetic_nuclei.png")
    args = parser.parse_args()
    real, real_labels = load_nuclei()
    images, labels, _ = make_nuclei(n_images=16, random_state=0)
    print(table(["data", "nuclei / 10^4 px", "foreground", "area p10 / p50 / p90 (px)",
                 "touching", "SNR"],
                [["real DSB2018 image", *statistics([real], [real_labels])],
                 ["make_nuclei, 16 x 128x128", *statistics(images, labels)]]))
    figure(args.figure, real, real_labels, images, labels)
    print(f"\nfigure saved to {args.figure}")


if __name__ == "__main__":
    main()
