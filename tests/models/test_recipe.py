"""The one training command: what it trains and which checkpoints it ships."""
import json
import shlex
from pathlib import Path

from models import distill_patch, recipe, train_patch, train_ucn
from models.export_patch import model_name
from models.patchnet import WIDTH

MAKEFILE = Path(__file__).parents[2] / "Makefile"


def test_each_network_is_trained_once_from_scratch_with_the_recipe_s_seed():
    for name, steps in recipe.RUNS:
        cmd = recipe.train_commands(name, steps)[0]
        assert "--resume" in cmd and cmd[cmd.index("--seed") + 1] == str(recipe.SEED)
        assert cmd[cmd.index("--steps") + 1] == str(steps) and "--init" not in cmd
    assert {n for n, _ in recipe.RUNS} == {"2ch-2stream", "siam-2stream-l2", "siam-2stream-l2-w0.25", "2ch-deep",
                                           "ucn"}


def test_a_fine_tune_starts_from_its_run_from_scratch_as_exported_and_ends_in_the_network_s_folder():
    scratch, export, unfold, tune = recipe.train_commands("2ch-2stream", 20000)
    a, b = train_patch.parser().parse_args(scratch[3:]), train_patch.parser().parse_args(tune[3:])
    assert (a.out, a.init, a.steps) == ("runs/2ch-2stream-base", None, 20000)
    assert export[2:] == ["models.export_patch", "runs/2ch-2stream-base/model.pt", "--out",
                          "runs/2ch-2stream-base/export"]
    assert unfold[2:] == ["models.unfold", "runs/2ch-2stream-base/export/2ch-2stream.onnx", "--out",
                          "runs/2ch-2stream-base/unfolded.pt"]
    assert (b.out, b.init, b.seed) == ("runs/2ch-2stream", "runs/2ch-2stream-base/unfolded.pt", recipe.SEED)
    assert "data/patches_trainvideo.npz" in b.data.split(",") and "trainvideo" in recipe.PATCH_SETS.split(",")
    assert recipe.checkpoints("2ch-2stream") == ["runs/2ch-2stream/model.pt"]


def test_a_run_named_by_its_width_trains_its_architecture_at_that_width_into_its_own_folder():
    (cmd,) = recipe.train_commands("siam-2stream-l2-w0.25", 10000)
    a = train_patch.parser().parse_args(cmd[3:])
    assert (a.arch, a.width, a.out) == ("siam-2stream-l2", 0.25, "runs/siam-2stream-l2-w0.25")
    (usual,) = recipe.train_commands("siam-2stream-l2", 10000)
    assert train_patch.parser().parse_args(usual[3:]).width == 0.5 and "--out" not in usual


def test_the_exports_take_each_patch_network_s_run():
    assert recipe.checkpoints() == ["runs/2ch-2stream/model.pt", "runs/siam-2stream-l2/model.pt",
                                    "runs/siam-2stream-l2-w0.25/model.pt", "runs/2ch-deep/model.pt"]
    assert recipe.checkpoints("2ch-deep") == ["runs/2ch-deep/model.pt"]


def test_the_recipe_replays_each_shipped_networks_training_command():
    """What the manifest says made each shipped network is what `make weights` runs, argument for
    argument after defaults (where the run wrote its files and its logged curve aside)."""
    manifest = json.loads((Path(__file__).parents[2] / "models/weights/manifest.json").read_text())
    steps = dict(recipe.RUNS)

    def args(words: list[str]) -> dict:
        return vars(distill_patch.resolved(distill_patch.parser().parse_args(words)))
    lines = MAKEFILE.read_text().replace("\\\n", " ").splitlines()  # continued lines joined
    made = [args(shlex.split(line.split("#")[0].split("distill_patch")[1]))  # make weights' distillations
            for line in lines if "$(PY) -m models.distill_patch" in line]
    for entry in manifest["models"]:
        shipped = shlex.split(entry["training_command"])
        if entry.get("distilled_from"):  # after the teacher's export: one of make weights' distillations
            assert shipped[1:3] == ["-m", "models.distill_patch"] and entry["distilled_from"] in steps
            assert args(shipped[3:]) in made, entry["name"]
            continue
        run = model_name(entry["architecture"], entry.get("width", WIDTH))  # without the views of an export
        replays = [c[1:] for c in recipe.train_commands(run, steps[run]) if c[2] != "models.export_patch"]
        chain = [shlex.split(c)[1:] for c in entry["training_command"].split(" && ")]
        assert [c[:2] for c in chain] == [c[:2] for c in replays], entry["name"]  # -m models.train_..., unfold
        for shipped, replay in zip(chain, replays, strict=True):
            if shipped[1] == "models.unfold":  # where the export lay and the checkpoint went aside
                continue
            parse = {"models.train_patch": train_patch.parser, "models.train_ucn": train_ucn.parser}[shipped[1]]
            a, b = vars(parse().parse_args(shipped[2:])), vars(parse().parse_args(replay[2:]))
            for ignored in ("out", "val", "resume", "threads"):
                a.pop(ignored, None), b.pop(ignored, None)
            assert bool(a.pop("init", None)) == bool(b.pop("init", None)), entry["name"]
            assert a == b, entry["name"]
