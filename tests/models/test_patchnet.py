"""Every patch architecture: shapes, batch sizes, siamese decomposition, SPP sizes, the loss."""
import pytest
import torch
import torch.nn.functional as F

from models.losses import hinge, patch_loss
from models.patchnet import ARCHS, SPP, SPP_MIN, build
from models.training import optimiser

PAPER = {"siam", "pseudo-siam", "siam-l2", "siam-2stream", "siam-2stream-l2", "siam-spp",
         "2ch", "2ch-deep", "2ch-2stream", "2ch-spp"}


def test_all_paper_architectures_are_defined_and_one_faster_student():
    assert set(ARCHS) == PAPER | {"siam-2stream-l2-s2"}


@pytest.mark.parametrize("arch", sorted(ARCHS))
@pytest.mark.parametrize("batch", [1, 7])
def test_pair_to_score_shape(arch, batch):
    net = build(arch).eval()
    out = net(torch.rand(batch, 2, 64, 64))
    assert out.shape == (batch,)
    assert torch.isfinite(out).all()


@pytest.mark.parametrize("arch", ["siam", "siam-l2", "siam-2stream", "siam-2stream-l2", "siam-2stream-l2-s2",
                                  "siam-spp"])
def test_siamese_forward_is_describe_then_decide(arch):
    net = build(arch).eval()
    x = torch.rand(4, 2, 64, 64)
    da, db = net.describe(x[:, :1]), net.describe(x[:, 1:])
    assert da.shape == (4, net.dim)
    torch.testing.assert_close(net(x), net.decide(da, db))


def test_l2_descriptors_are_unit_length_and_score_is_negative_distance():
    net = build("siam-2stream-l2").eval()
    d = net.describe(torch.rand(5, 1, 64, 64))
    torch.testing.assert_close(d.norm(dim=1), torch.ones(5))
    x = torch.rand(1, 1, 64, 64)
    assert net(torch.cat([x, x], 1)).item() == pytest.approx(0.0, abs=1e-6)


def test_a_strided_stream_gives_its_pooled_twins_shapes_with_a_quarter_of_the_first_convolutions_work():
    plain, strided = build("siam-2stream-l2", 0.25), build("siam-2stream-l2-s2", 0.25)
    assert strided.dim == plain.dim
    for net in (plain, strided):
        first = net.branches[0][0][0][0]
        assert first.kernel_size == (5, 5) and first.out_channels == 24
    assert plain.branches[0][0][0][0].stride == (1, 1) and strided.branches[0][0][0][0].stride == (2, 2)
    pools = [sum(isinstance(m, torch.nn.MaxPool2d) for m in n.modules()) for n in (plain, strided)]
    assert pools == [4, 2]
    x = torch.rand(3, 1, 32, 32)
    assert strided.branches[0][0](x).shape == plain.branches[0][0](x).shape == (3, 48 * 4)


def test_pseudo_siamese_branches_differ_and_siamese_share():
    assert len(build("pseudo-siam").branches) == 2
    assert len(build("siam").branches) == 1


def test_2ch_deep_has_one_4x4_and_six_3x3_convs():
    convs = [m for m in build("2ch-deep").modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.kernel_size for c in convs] == [(4, 4)] + [(3, 3)] * 6


def test_score_is_invariant_to_gain_and_offset():
    """Up to the standardisation's epsilon (1e-3 against a patch's spread of 0.14 here)."""
    net = build("2ch-2stream").eval()
    x = torch.rand(3, 2, 64, 64) * 0.5
    scores = net(x)
    torch.testing.assert_close(scores, net(x * 1.7 + 0.1), atol=5e-3 * scores.abs().max().item(), rtol=0)


@pytest.mark.parametrize("arch", ["2ch-spp", "siam-spp"])
@pytest.mark.parametrize("side", [SPP_MIN, 64, 99])
def test_spp_takes_any_size(arch, side):
    assert build(arch).eval()(torch.rand(2, 2, side, side + 5)).shape == (2,)


def test_spp_matches_adaptive_max_pooling():
    x = torch.rand(2, 3, 13, 9)
    ref = torch.cat([F.adaptive_max_pool2d(x, n).flatten(1) for n in SPP.levels], 1)
    assert torch.equal(SPP()(x), ref)


def test_hinge_loss_known_values():
    scores = torch.tensor([2.0, 0.5, -1.0, 0.2])
    labels = torch.tensor([1.0, 1.0, -1.0, -1.0])
    # max(0, 1 - y*o): 0, 0.5, 0, 1.2
    assert hinge(scores, labels).item() == pytest.approx(1.7 / 4)
    # positives' terms weighted by 3: 0, 1.5, 0, 1.2
    assert hinge(scores, labels, pos_weight=3.0).item() == pytest.approx(2.7 / 4)


def test_the_loss_is_the_hinge_alone_and_never_holds_the_weights():
    """L2 regularisation is the optimiser's decoupled decay (models.training.optimiser): the loss
    does not change when the weights grow."""
    net = build("2ch")
    x, y = torch.rand(4, 2, 64, 64), torch.tensor([1.0, -1.0, 1.0, -1.0])
    scores = net(x)
    assert patch_loss(net, scores, y).item() == pytest.approx(hinge(scores, y).item())


def test_l2_descriptors_end_in_a_linear_layer():
    """A ReLU right before the normalisation lets descriptor units go silent for good (62 % of
    siam-2stream-l2's last central layer within 400 steps): its last convolution is linear."""
    net = build("siam-2stream-l2")
    assert not isinstance(net.branches[0][0][5][-1], torch.nn.ReLU)
    assert isinstance(build("siam-2stream").branches[0][0][5][-1], torch.nn.ReLU)


def test_loss_decreases_on_a_separable_toy_problem():
    torch.manual_seed(0)
    net = build("2ch")
    same = torch.rand(16, 1, 64, 64)
    x = torch.cat([torch.cat([same, same], 1), torch.rand(16, 2, 64, 64)])
    y = torch.cat([torch.ones(16), -torch.ones(16)])
    opt = optimiser(net, "adamw", 1e-3, 1e-2)
    first = None
    for _ in range(30):
        loss = patch_loss(net, net(x), y)
        first = first if first is not None else loss.item()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert loss.item() < 0.5 * first
