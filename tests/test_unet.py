import ctypes
import subprocess
import sys

import pytest
import torch

from sklearn_denoiseg._unet import UNet, receptive_field_radius


def test_parameter_count_of_paper_network():
    n_params = sum(p.numel() for p in UNet().parameters())
    assert 5.4e6 < n_params < 5.6e6


@pytest.mark.parametrize("batch_norm", [True, False])
def test_output_shape(batch_norm):
    net = UNet(depth=2, n_filters=8, batch_norm=batch_norm)
    assert net(torch.zeros(3, 1, 24, 40)).shape == (3, 4, 24, 40)


@pytest.mark.parametrize("n2v2", [False, True])
@pytest.mark.parametrize("depth", [1, 2, 3])
def test_receptive_field_bound(depth, n2v2):
    # without batch norm and with enough filters no output is dead at init
    net = UNet(depth=depth, n_filters=8, batch_norm=False, n2v2=n2v2).eval()
    size = 4 * receptive_field_radius(depth, n2v2) // 2**depth * 2**depth
    for offset in range(2**depth):  # every alignment with the pooling grid
        x = torch.randn(1, 1, size, size, requires_grad=True)
        centre = size // 2 + offset
        net(x)[0, :, centre, centre].sum().backward()
        rows = torch.nonzero(x.grad[0, 0].abs().sum(dim=1))
        reach = max(centre - rows.min().item(), rows.max().item() - centre)
        assert reach <= receptive_field_radius(depth, n2v2)


BF16_ON_POISONED_MEMORY = """
import ctypes
import torch
from sklearn_denoiseg._unet import UNet, memory_format

libc = ctypes.CDLL(None)
libc.mallopt(-4, 0)        # M_MMAP_MAX: every block from the heap, none fresh from mmap
libc.mallopt(-6, 0x80)     # M_PERTURB: fresh blocks hold 0x7f bytes, 3.4e38 as a float
worst = 0.0
for n_dims, shape in [(2, (4, 1, 32, 32)), (3, (4, 1, 8, 16, 16))]:
    torch.manual_seed(0)
    net = UNet(depth=2, n_filters=8, n_dims=n_dims).to(memory_format=memory_format(n_dims))
    for _ in range(2):
        x = torch.randn(shape).contiguous(memory_format=memory_format(n_dims))
        grads = []
        for bf16 in (False, True):
            net.zero_grad()
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                out = net(x)
            out.float().square().mean().backward()
            grads.append(torch.cat([p.grad.flatten() for p in net.parameters()]))
        fp32, bf16 = grads
        assert torch.isfinite(bf16).all(), f"{n_dims}D: a bf16 gradient is not finite"
        worst = max(worst, ((bf16 - fp32).norm() / fp32.norm()).item())
print(worst)
"""


def test_bf16_kernels_read_no_memory_they_did_not_write():
    # Random NaN in 3D bf16 training (issue item 5) pointed at kernels that
    # read memory they never wrote: during fit the package keeps freed memory
    # in the heap (_allocator), so such a read sees stale values instead of
    # the zeros of fresh pages. Here every fresh block holds 3.4e38, so such
    # a read in the forward or backward pass of either U-Net turns into inf
    # or NaN. Which kernels run depends on the CPU: oneDNN's on CPUs with
    # AVX512, PyTorch's own elsewhere. Rounding to bf16 alone moves the
    # gradient by about 16 % of its norm (the conv biases before batch norm
    # get only rounding noise); stale values would move it by far more.
    try:
        ctypes.CDLL(None).gnu_get_libc_version  # noqa: B018
    except (OSError, AttributeError):
        pytest.skip("poisoning fresh memory needs glibc")
    result = subprocess.run([sys.executable, "-c", BF16_ON_POISONED_MEMORY],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert float(result.stdout) < 0.5
