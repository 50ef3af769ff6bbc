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
