"""The one training command: which runs it chains and which checkpoints it ships."""
from models import recipe


def test_second_stage_fine_tunes_the_first_stage_weights_on_the_wide_set():
    for name, steps in recipe.RUNS:
        cmds = recipe.train_commands(name, steps)
        assert len(cmds) == (2 if name in recipe.WIDE else 1)
        assert all("--resume" in c and c[c.index("--seed") + 1] == str(recipe.SEED) for c in cmds)
        if name in recipe.WIDE:
            first, second = cmds
            assert "--init" not in first and second[second.index("--init") + 1] == f"runs/{name}/model.pt"
            assert second[second.index("--data") + 1] == "data/patches_wide.npz"
            assert second[second.index("--out") + 1] == f"runs/wide-{name}"


def test_the_exported_checkpoints_are_each_patch_network_s_last_stage():
    ckpts = recipe.checkpoints()
    assert "runs/wide-siam-2stream-l2/model.pt" in ckpts and "runs/siam-2stream-l2/model.pt" not in ckpts
    assert "runs/2ch-2stream/model.pt" in ckpts and not any("ucn" in c for c in ckpts)
    assert len(ckpts) == len(recipe.RUNS) - 1
