"""Training commands: seeded runs repeat exactly, and a resumed run equals an uninterrupted one."""
import numpy as np
import pytest
import torch

from models.data.synth import PatchSet
from models.train_patch import degrade, load_sets, lost_share, main, occlude, parallax, sample_batch, set_scores
from tests.models.sets import tiny_set


def weights(path):
    return torch.load(path / "model.pt", weights_only=False)["model"]


def steps(run):
    return [line.split(",")[0] for line in (run / "log.csv").read_text().splitlines()]


def test_resume_continues_bit_for_bit(tmp_path):
    data = tiny_set(tmp_path / "d.npz")
    common = ["--arch", "2ch", "--steps", "12", "--batch", "8", "--ckpt-every", "6", "--data", data,
              "--val", "none", "--threads", "1"]
    main(common + ["--out", str(tmp_path / "straight")])
    main(common + ["--out", str(tmp_path / "split"), "--stop-at", "6"])
    assert not (tmp_path / "split" / "model.pt").exists()
    with open(tmp_path / "split" / "log.csv", "a") as f:  # a row the interrupted run wrote after its checkpoint
        f.write("9" + ",0" * (len(steps(tmp_path / "straight")[0].split(",")) - 1) + "\n")
    main(common + ["--out", str(tmp_path / "split"), "--resume"])
    a, b = weights(tmp_path / "straight"), weights(tmp_path / "split")
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert steps(tmp_path / "split") == steps(tmp_path / "straight")
    other = tmp_path / "seed1"
    main(common + ["--out", str(other), "--seed", "1"])
    assert not all(torch.equal(a[k], weights(other)[k]) for k in a)


def test_batches_are_half_positive_and_labelled(tmp_path):
    ps = PatchSet.load(tiny_set(tmp_path / "d.npz"))
    x, y = sample_batch(ps, np.random.default_rng(0), 16)
    assert x.shape == (16, 2, 64, 64) and (y == 1).sum() == 8 and set(np.unique(y)) == {-1.0, 1.0}


class Likes(torch.nn.Module):
    """A stand-in scorer: a pair's score is the mean of its first patch."""
    l2 = False

    def forward(self, x):
        return x[:, 0].mean(dim=(1, 2))


def test_mining_keeps_the_negatives_the_model_scores_highest(tmp_path):
    ps = PatchSet.load(tiny_set(tmp_path / "d.npz"))
    for side in (0, 1):  # each negative pair's two patches are flat at its own value
        ps.patches[ps.neg[:, side]] = np.arange(len(ps.neg), dtype=np.uint8)[:, None, None] * 10
    hard = sample_batch(ps, np.random.default_rng(0), 16, Likes(), pool=8)[0][8:12, 0, 0, 0]
    unmined = sample_batch(ps, np.random.default_rng(0), 16)[0][8:12, 0, 0, 0]
    assert hard.min() >= 10 * (len(ps.neg) - 6)  # among the top 6 of 19 values, from 32 candidates
    assert unmined.min() < hard.min()


def test_a_fine_tune_starts_from_its_base_and_records_both_commands_and_both_step_counts(tmp_path):
    data = tiny_set(tmp_path / "d.npz")
    common = ["--arch", "2ch", "--batch", "8", "--data", data, "--val", "none", "--threads", "1"]
    main(common + ["--steps", "4", "--out", str(tmp_path / "base")])
    main(common + ["--steps", "1", "--lr", "0", "--init", str(tmp_path / "base" / "model.pt"),
                   "--mine", "2", "--out", str(tmp_path / "ft")])
    ft = torch.load(tmp_path / "ft" / "model.pt", weights_only=False)
    base = weights(tmp_path / "base")
    assert all(torch.equal(base[k], ft["model"][k]) for k in base if "running" not in k and "num_batches" not in k)
    assert ft["steps"] == 5 and ft["command"].count("python -m models.train_patch") == 2 and "--init" in ft["command"]
    assert steps(tmp_path / "ft")[1:] == ["5"]  # its curve goes on from the base's four steps


def test_degrade_blurs_and_noises_one_patch_of_a_pair():
    rng = np.random.default_rng(0)
    x = np.zeros((64, 2, 64, 64), np.uint8)
    x[:, :, :, 32:] = 200  # a sharp vertical edge in every patch
    out = degrade(x, rng, 1.0)
    changed = (out != x).any(axis=(2, 3))  # (B, 2)
    assert changed.any(axis=1).all() and x.max() == 200 and (x[:, :, :, :32] == 0).all()  # input untouched
    # blur softens the edge in one patch of each pair (the step across columns 31/32, averaged
    # over the rows so that noise cancels) and leaves it sharp in the other
    step = (out[:, :, :, 32].astype(float) - out[:, :, :, 31]).mean(axis=2)
    assert (step.min(axis=1) < 170).all() and (step.max(axis=1) > 185).all()
    assert (degrade(x, rng, 0.0) == x).all()


@pytest.mark.parametrize("augmentation", ["blur", "occlusion", "shift"])
def test_the_default_batch_draws_no_augmentation(tmp_path, augmentation):
    ps = PatchSet.load(tiny_set(tmp_path / "d.npz"))
    a = sample_batch(ps, np.random.default_rng(3), 16)[0]
    b = sample_batch(ps, np.random.default_rng(3), 16, **{augmentation: 0.0})[0]
    c = sample_batch(ps, np.random.default_rng(3), 16, **{augmentation: 1.0})[0]
    assert (a == b).all() and not (a == c).all()


def test_occlude_replaces_one_patch_beyond_an_edge_and_keeps_the_centre():
    rng = np.random.default_rng(0)
    x = np.zeros((200, 2, 64, 64), np.uint8)
    donors = np.full((5, 64, 64), 255, np.uint8)
    out = occlude(x, donors, rng, 1.0)
    changed = (out == 255).reshape(200, 2, -1).mean(axis=2)  # share of each patch replaced
    assert (x == 0).all()  # input untouched
    assert ((changed > 0).sum(axis=1) == 1).all()  # one patch of every pair, never both
    # beyond an edge 3 to 20 pixels from the centre: under half the patch, never its middle 4x4
    assert changed.max() < 0.5 and changed.max(axis=1).min() > 0.05 and (out[:, :, 30:34, 30:34] == 0).all()
    assert (occlude(x, donors, rng, 0.0) == x).all()
    c = sample_batch(PatchSet(donors, np.arange(5), np.array([[0, 1]]), np.array([[2, 3]])), rng, 8, occlusion=0.5)
    assert c[0].shape == (8, 2, 64, 64)


def test_parallax_moves_one_patch_beyond_an_edge_against_the_rest():
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (200, 2, 64, 64), dtype=np.uint8)  # texture everywhere
    before = x.copy()
    out = parallax(x, rng, 1.0)
    changed = (out != x).reshape(200, 2, -1).mean(axis=2)
    assert (x == before).all()  # input untouched
    assert ((changed > 0).sum(axis=1) == 1).all()  # one patch of every pair, never both
    # beyond an edge 3 to 20 pixels from the centre: under half the patch, never its middle 4x4
    assert changed.max() < 0.5 and (out[:, :, 30:34, 30:34] == x[:, :, 30:34, 30:34]).all()
    # the patch itself moved, not another one: a flat patch stays as it was
    flat = np.full((20, 2, 64, 64), 90, np.uint8)
    assert (parallax(flat, rng, 1.0) == 90).all()
    assert (parallax(x, rng, 0.0) == x).all()


def test_lost_positives_counts_positives_scored_as_confident_negatives(tmp_path):
    ps = PatchSet.load(tiny_set(tmp_path / "d.npz"))
    ps.patches[ps.pos[:5, 0]] = 0  # Likes scores a pair by its first patch's mean: 0 here
    ps.patches[ps.pos[5:, 0]] = 200
    pos, neg = set_scores(Likes(), ps)
    assert len(pos) == len(ps.pos) and len(neg) == len(ps.neg)
    assert lost_share(pos, at=0.1) == pytest.approx(5 / 20)
    assert lost_share(pos, at=-0.1) == 0.0


def test_several_training_sets_join_into_one(tmp_path):
    one = tiny_set(tmp_path / "a.npz")
    other = PatchSet.load(one)
    other.patches[:] = 7  # the second set's patches are flat, so its pairs can be told apart
    other.save(tmp_path / "b.npz")
    both = load_sets(f"{one},{tmp_path / 'b.npz'}")
    assert len(both.patches) == 80 and len(both.pos) == 40 and len(both.neg) == 38
    assert (both.patches[both.pos[20:]] == 7).all() and not (both.patches[both.pos[:20]] == 7).all()
    assert np.array_equal(load_sets(one).patches, PatchSet.load(one).patches)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_gpu_run_fine_tunes_on_cuda_and_saves_cpu_weights(tmp_path):
    data = tiny_set(tmp_path / "d.npz")
    common = ["--arch", "2ch", "--batch", "8", "--data", data, "--val", "none", "--threads", "1"]
    main(common + ["--steps", "2", "--out", str(tmp_path / "base")])
    main(common + ["--steps", "3", "--mine", "2", "--device", "cuda", "--init", str(tmp_path / "base" / "model.pt"),
                   "--out", str(tmp_path / "gpu")])
    ft = torch.load(tmp_path / "gpu" / "model.pt", weights_only=False)
    base = weights(tmp_path / "base")
    assert all(t.device.type == "cpu" for t in ft["model"].values())  # servable and exportable without a GPU
    assert not all(torch.equal(base[k], ft["model"][k]) for k in base)  # it trained
    assert "--device cuda" in ft["command"]
