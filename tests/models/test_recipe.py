"""The one training command: which runs it chains and which checkpoints it ships."""
import json
import shlex
from pathlib import Path

from models import recipe, train_patch, train_ucn


def test_each_later_stage_fine_tunes_the_stage_before():
    for name, steps in recipe.RUNS:
        cmds = recipe.train_commands(name, steps)
        stages = recipe.STAGES.get(name, [])
        assert len(cmds) == 1 + len(stages)
        assert all("--resume" in c and c[c.index("--seed") + 1] == str(recipe.SEED) for c in cmds)
        assert "--init" not in cmds[0]
        base = f"runs/{name}/model.pt"
        for cmd, (stage, data, _, extra) in zip(cmds[1:], stages, strict=True):
            assert cmd[cmd.index("--init") + 1] == base and cmd[cmd.index("--data") + 1] == data
            assert cmd[len(cmd) - len(shlex.split(extra)):] == shlex.split(extra)
            base = cmd[cmd.index("--out") + 1] + "/model.pt"
            assert base == f"runs/{stage}-{name}/model.pt"
    assert recipe.STAGES["siam-2stream-l2"][0][1] == "data/patches_wide.npz"
    assert [s[0] for s in recipe.STAGES["2ch-2stream"]] == ["restart", "centre", "occlude"]
    assert "--occlude 0.1" in " ".join(recipe.train_commands("2ch-2stream", 20000)[-1])


def test_the_one_view_exports_take_each_patch_network_s_shipped_stage():
    ckpts = recipe.checkpoints()
    assert "runs/wide-siam-2stream-l2/model.pt" in ckpts and "runs/siam-2stream-l2/model.pt" not in ckpts
    assert "runs/centre-2ch-2stream/model.pt" in ckpts and "runs/restart-2ch-2stream/model.pt" not in ckpts
    assert "runs/2ch-deep/model.pt" in ckpts and not any("ucn" in c for c in ckpts)
    assert len(ckpts) == len(recipe.RUNS) - 1
    assert recipe.checkpoints("2ch-2stream,2ch-deep") == ["runs/centre-2ch-2stream/model.pt", "runs/2ch-deep/model.pt"]


def test_the_8_view_export_of_2ch_2stream_takes_its_last_stage_and_the_one_view_export_stops_before():
    assert recipe.checkpoints("2ch-2stream", views=8) == ["runs/occlude-2ch-2stream/model.pt"]
    assert recipe.checkpoints("2ch-2stream", views=1) == ["runs/centre-2ch-2stream/model.pt"]
    assert recipe.checkpoints("2ch-deep", views=8) == ["runs/2ch-deep/model.pt"]
    assert [s[0] for s in recipe.shipped_stages("2ch-2stream")] == ["restart", "centre"]


def test_the_recipe_replays_each_shipped_networks_training_command():
    """What the manifest says made each shipped network is what `make weights` runs, argument for
    argument after defaults (where the run wrote its files and its logged curve aside)."""
    manifest = json.loads((Path(__file__).parents[2] / "models/weights/manifest.json").read_text())
    steps = dict(recipe.RUNS)
    for entry in manifest["models"]:
        shipped = [shlex.split(stage) for stage in entry["training_command"].split(" && ")]
        stages = recipe.shipped_stages(entry["architecture"], entry.get("views", 1))
        replay = recipe.train_commands(entry["architecture"], steps[entry["architecture"]])[:1 + len(stages)]
        assert len(shipped) == len(replay), entry["name"]
        for s, r in zip(shipped, replay, strict=True):
            assert s[1:3] == r[1:3]  # -m models.train_...
            parse = {"models.train_patch": train_patch.parser, "models.train_ucn": train_ucn.parser}[s[2]]
            a, b = vars(parse().parse_args(s[3:])), vars(parse().parse_args(r[3:]))
            for ignored in ("out", "val", "resume"):
                a.pop(ignored, None), b.pop(ignored, None)
            assert a == b, entry["name"]
