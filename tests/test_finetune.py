"""Fine-tuning on a user's folder: a held-out share of it, starting from a scorer, a portable result."""

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

import i2imetric
from i2imetric.cli.main import main
from i2imetric.errors import CheckpointError, ConfigError, I2IInputError
from i2imetric_training.config import load_train_config
from i2imetric_training.data import split_folder
from i2imetric_training.train import build_metric, build_mixture, build_validation_sets, train

README = Path(__file__).resolve().parents[1] / "README.md"

TINY = (
    "model=test-tiny",
    "steps=2",
    "checkpoint_every=2",
    "log_every=1",
    "calibrate=false",
    "data.image_size=32",
    "data.working_size=32",
    "data.groups_per_step=2",
    "validation.every=2",
    "validation.shapes_count=2",
    "validation.photo_crops=1",
    "validation.grammar_count=2",
)

COLOURS = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30), (30, 200, 200), (200, 30, 200)]


def solid_folder(root: Path, colours=COLOURS) -> Path:
    """One flat-coloured PNG per colour: any crop or resize of one keeps its colour, so a
    group's source tells which file it came from."""
    root.mkdir(parents=True, exist_ok=True)
    for index, colour in enumerate(colours):
        Image.new("RGB", (48, 40), colour).save(root / f"img{index}.png")
    return root


def colour_of(tensor: torch.Tensor) -> tuple:
    return tuple(int(round(v)) for v in (tensor.reshape(3, -1).mean(1) * 255).tolist())


def file_colour(path) -> tuple:
    with Image.open(path) as image:
        return image.convert("RGB").getpixel((0, 0))


# ------------------------------------------------------------------ the split


def test_the_split_depends_on_content_not_names_and_keeps_copies_together(tmp_path):
    folder = solid_folder(tmp_path / "a")
    split = split_folder(folder, 0.34)
    assert len(split.heldout) == 2 and len(split.train) == 4  # round(0.34 * 6)
    held = {file_colour(p) for p in split.heldout}
    # Renamed (and so listed in another order), the same images are held out.
    renamed = tmp_path / "b"
    renamed.mkdir()
    for index, path in enumerate(sorted(folder.iterdir(), reverse=True)):
        shutil.copy(path, renamed / f"z{index}_renamed.png")
    assert {file_colour(p) for p in split_folder(renamed, 0.34).heldout} == held
    # A copy of a held-out image is held out with it, never trained on.
    shutil.copy(split.heldout[0], folder / "copy_of_a_heldout_image.png")
    again = split_folder(folder, 0.34)
    assert folder / "copy_of_a_heldout_image.png" in again.heldout
    assert not {file_colour(p) for p in again.heldout} & {file_colour(p) for p in again.train}


def test_at_least_one_image_is_held_out_and_one_trained_on(tmp_path):
    folder = solid_folder(tmp_path / "few", COLOURS[:2])
    assert len(split_folder(folder, 0.01).heldout) == 1
    assert len(split_folder(folder, 0.99).train) == 1
    lonely = solid_folder(tmp_path / "one", COLOURS[:1])
    shutil.copy(lonely / "img0.png", lonely / "same_again.png")  # two files, one image
    with pytest.raises(I2IInputError, match=r"1 distinct.*validation.holdout_fraction.*at least 2 distinct"):
        split_folder(lonely, 0.2)


def test_holdout_fraction_must_lie_between_0_and_1():
    for bad in ("0", "1", "1.5", "-0.1"):
        with pytest.raises(ConfigError, match=r"validation.holdout_fraction: .* strictly between 0 and 1"):
            load_train_config(None, (f"validation.holdout_fraction={bad}",))
    with pytest.raises(ConfigError, match="validation.holdout_fraction: expected float"):
        load_train_config(None, ("validation.holdout_fraction=some",))


def test_overrides_take_list_indices_in_brackets_as_errors_name_them(tmp_path):
    config = load_train_config("finetune_demo", (f"data.sources[0].images={tmp_path}",))
    assert config.data.sources[0].images == str(tmp_path)
    with pytest.raises(ConfigError, match=r"'5' is not an index of a list of 2"):
        load_train_config("finetune_demo", ("data.sources[5].images=x",))


# ------------------------------------------------ training never sees held-out images


def test_folder_sources_train_on_one_side_and_validate_on_the_other(tmp_path):
    folder = solid_folder(tmp_path / "my_photos")
    split = split_folder(folder, 0.34)
    train_colours = {file_colour(p) for p in split.train}
    held_colours = {file_colour(p) for p in split.heldout}
    config = load_train_config(None, TINY + (
        "validation.holdout_fraction=0.34",
        f"data.sources=[{{kind: grammar, images: {folder}}}, {{kind: canonical_edits, images: {folder}}}]",
    ))
    mixture = build_mixture(config)
    drawn = {colour_of(group.source) for step in range(30) for group in mixture.batch(step, 4)}
    assert drawn and drawn <= train_colours
    sets = build_validation_sets(config)
    folder_sets = {name: groups for name, groups in sets.items() if name.endswith("@my_photos")}
    assert set(folder_sets) == {"photos_heldout@my_photos", "grammar_train@my_photos",
                                "grammar_heldout_phrasing@my_photos", "grammar_heldout_combo@my_photos",
                                "grammar_heldout_operation@my_photos"}
    for groups in folder_sets.values():
        assert groups and {colour_of(group.source) for group in groups} <= held_colours
    # The bundled held-out sets are still there, beside the folder's.
    assert {"shapes_heldout_seeds", "photos_heldout", "grammar_train"} <= set(sets)


def test_a_run_on_a_folder_reports_its_heldout_sets_beside_the_bundled_ones(tmp_path, capsys):
    folder = solid_folder(tmp_path / "my_photos")
    config = load_train_config(None, TINY + (
        f"output_dir={tmp_path / 'run'}", "validation.photo_crops=0",
        f"data.sources=[{{kind: shapesworld}}, {{kind: grammar, images: {folder}}}]",
    ))
    result = train(config)
    printed = capsys.readouterr().out
    assert "training on 5 images, 1 held out for validation (validation.holdout_fraction 0.2" in printed
    summary = [json.loads(line) for line in (tmp_path / "run" / "log.jsonl").read_text().splitlines()
               if "validation" in line][-1]["validation"]
    assert {"grammar_train", "grammar_train@my_photos", "grammar_heldout_operation@my_photos"} <= set(summary)
    # The folder's trained split chooses checkpoints; its held-out grammar splits are reported only.
    selecting = [t["accuracy"] for name, t in result.final_validation.items()
                 if isinstance(t, dict) and not name.startswith("grammar_heldout")]
    assert "grammar_train@my_photos" in result.final_validation
    assert result.final_validation["mean_accuracy"] == pytest.approx(sum(selecting) / len(selecting))


@pytest.mark.parametrize("single_image", [False, True])
def test_bad_folders_exit_2_with_one_line_naming_the_key(tmp_path, capsys, single_image):
    # The shipped config's placeholder folder, or a folder too small to hold one image out.
    images = str(solid_folder(tmp_path / "single", COLOURS[:1])) if single_image else "/path/to/your/images"
    code = main(["train", "--config", "finetune_demo", *TINY, "model=null", f"output_dir={tmp_path / 'run'}",
                 f"data.sources[0].images={images}"])
    lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith("i2imetric train: error:")]
    assert code == 2 and len(lines) == 1 and "data.sources[0] (grammar): " in lines[0], lines
    if single_image:
        assert "validation.holdout_fraction" in lines[0] and "add images to the folder" in lines[0]
    else:
        assert "/path/to/your/images: no such folder; give your folder of images with data.sources[0].images=" \
            in lines[0]


# ---------------------------------------------------------------- init_from


def trainables(metric) -> dict:
    return {n: p.detach().clone() for n, p in metric.named_parameters() if p.requires_grad}


def test_init_from_a_checkpoint_starts_from_its_weights_without_its_calibration(tiny_trained_checkpoint):
    saved = i2imetric.load_metric(tiny_trained_checkpoint, merge_adapters=False)
    assert saved.calibration is not None
    for model in ("model=null", "model=test-tiny"):  # taken from the checkpoint, or named and matching
        metric = build_metric(load_train_config(None, (model, f"init_from={tiny_trained_checkpoint}")))
        assert metric.calibration is None and not metric.merged
        expected = trainables(saved)
        assert trainables(metric).keys() == expected.keys()
        assert all(torch.equal(tensor, expected[name]) for name, tensor in trainables(metric).items())
    fresh = trainables(build_metric(load_train_config(None, ("model=test-tiny",))))
    assert any(not torch.equal(tensor, expected[name]) for name, tensor in fresh.items())  # the test can fail


@pytest.mark.parametrize("overrides, expected", [
    (("model=test-tiny-timm",), r"holds a 'test-tiny' scorer, but the config's model 'test-tiny-timm' is another "
                                r"architecture: .*set model=null to train"),
    (("model=null", "model_overrides={lora: {r: 2}}"),
     r"lora.r: checkpoint 4, config 2.*set model=null and no model_overrides"),
    (("model=null", "model_overrides={trainable: head}"), r"trainable: checkpoint 'lora', config 'head'"),
    (("model=null", "pretrained=openai"), r"pretrained='openai': with init_from=.* the base weights are the "
                                          r"checkpoint's \(file .*base.safetensors.*set pretrained=null"),
])
def test_init_from_refuses_another_architecture_or_base_naming_both(tiny_trained_checkpoint, overrides, expected):
    with pytest.raises(ConfigError, match=expected):
        build_metric(load_train_config(None, (f"init_from={tiny_trained_checkpoint}", *overrides)))


def test_init_from_names_a_missing_scorer_and_model_null_needs_it(tmp_path):
    with pytest.raises(CheckpointError, match=r"init_from='no-such-scorer': .*registered name \(.*demo"):
        build_metric(load_train_config(None, ("model=null", "init_from=no-such-scorer")))
    with pytest.raises(ConfigError, match=r"model: null takes the model from init_from, which is not set"):
        load_train_config(None, ("model=null",))


@pytest.mark.skipif("demo" not in i2imetric.list_pretrained(), reason="the demo scorer is not shipped")
def test_init_from_demo_matches_its_registered_model_and_refuses_the_vitb16_recipe():
    metric = build_metric(load_train_config(None, ("model=shapesclip", "init_from=demo")))
    assert metric.config.name == "shapesclip" and metric.base_source.kind == "file"
    with pytest.raises(ConfigError, match=r"holds a 'shapesclip' scorer, but the config's model 'clip-vit-b-16'.*"
                                          r"set model=null pretrained=null to train"):
        build_metric(load_train_config("finetune_domain", ("init_from=demo",)))


def test_a_run_from_a_checkpoint_continues_it_and_saves_a_folder_that_loads_elsewhere(tiny_trained_checkpoint,
                                                                                       tmp_path):
    # A random-base checkpoint: its base travels in the folder, so the copy must carry it.
    config = load_train_config(None, TINY + ("model=null", f"init_from={tiny_trained_checkpoint}",
                                             "optim.lr=1e-12", "validation.photo_crops=0",
                                             f"output_dir={tmp_path / 'run'}", "data.sources=[{kind: shapesworld}]"))
    result = train(config)
    # With a vanishing learning rate the result is the checkpoint it started from, not a fresh head.
    start = load_file(str(tiny_trained_checkpoint / "model.safetensors"))
    end = load_file(str(result.best_dir / "model.safetensors"))
    assert start.keys() == end.keys()
    for name in start:
        torch.testing.assert_close(end[name], start[name], atol=1e-6, rtol=0)
    moved = shutil.copytree(result.best_dir, tmp_path / "elsewhere" / "my_scorer")
    shutil.rmtree(result.best_dir)
    loaded = i2imetric.load_metric(moved)
    original = i2imetric.load_metric(tiny_trained_checkpoint)
    source, output = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(0)), torch.rand(3, 32, 32)
    assert loaded.score(source, "brighten it", output) == pytest.approx(original.score(source, "brighten it", output),
                                                                         abs=1e-4)


# ------------------------------------------------------------ portable results


def _file_base(tmp_path, suffix: str) -> Path:
    """A test-tiny base written as a weights file, as a user's downloaded base would be."""
    from safetensors.torch import save_file

    model = i2imetric.create_metric("test-tiny", seed=3, trainable="head").clip.model
    state = {name: tensor.contiguous() for name, tensor in model.state_dict().items()}
    path = tmp_path / f"my_base{suffix}"
    if suffix == ".safetensors":
        save_file(state, str(path))
    else:
        torch.save(state, path)
    return path


@pytest.mark.parametrize("suffix", [".safetensors", ".pt"])
def test_a_file_base_is_bundled_by_default_so_the_result_loads_without_it(tmp_path, suffix):
    base = _file_base(tmp_path, suffix)
    config = load_train_config(None, TINY + (f"pretrained={base}", "validation.photo_crops=0",
                                             f"output_dir={tmp_path / 'run'}", "data.sources=[{kind: shapesworld}]"))
    assert config.bundle_base is True
    result = train(config)
    recorded = json.loads((result.best_dir / "i2imetric_config.json").read_text())["base_weights"]
    # Under its own suffix: a .pt copied as base.safetensors would not load.
    assert recorded["kind"] == "file" and recorded["ref"] == ("base" + suffix)
    moved = shutil.copytree(result.best_dir, tmp_path / "elsewhere")
    before = i2imetric.load_metric(result.best_dir)
    base.unlink()
    shutil.rmtree(result.best_dir)
    source, output = torch.rand(3, 32, 32, generator=torch.Generator().manual_seed(1)), torch.rand(3, 32, 32)
    assert i2imetric.load_metric(moved).score(source, "blur it", output) == pytest.approx(
        before.score(source, "blur it", output), abs=1e-5)


def test_bundle_base_false_says_the_result_loads_on_this_machine_only(tmp_path, capsys):
    base = _file_base(tmp_path, ".safetensors")
    config = load_train_config(None, TINY + (f"pretrained={base}", "bundle_base=false", "validation.photo_crops=0",
                                             "steps=1", f"output_dir={tmp_path / 'run'}",
                                             "data.sources=[{kind: shapesworld}]"))
    result = train(config)
    assert "load on this machine only; bundle_base=true copies it in" in capsys.readouterr().out
    recorded = json.loads((result.best_dir / "i2imetric_config.json").read_text())["base_weights"]
    assert recorded["ref"] == str(base.resolve())


# ------------------------------------------------------------ the README example


def _readme_commands() -> list[str]:
    """The fine-tune example of the README, one command a line, as a user would paste it."""
    text = README.read_text(encoding="utf-8")
    block = re.search(r"<!-- finetune-example -->\s*```bash\n(.*?)```", text, re.S)
    assert block, "README.md lost its fine-tune example (marked <!-- finetune-example -->)"
    return [line for line in block.group(1).splitlines() if line.startswith("i2imetric ")]


@pytest.mark.slow
def test_the_readme_finetune_example_runs_offline(tmp_path, monkeypatch, capsys):
    """The README's commands, as written, with a tiny budget added: fine-tune the demo on a folder, then score."""
    from i2imetric.data.synthetic import photos

    monkeypatch.chdir(tmp_path)
    (tmp_path / "my_photos").mkdir()
    for index, name in enumerate(photos.TRAIN_PHOTOS[:5]):
        photos.load_photo(name, max_side=128).save(tmp_path / "my_photos" / f"photo{index}.jpg")
    Image.fromarray(np.clip(np.asarray(Image.open(tmp_path / "my_photos" / "photo0.jpg"), dtype=np.int16) + 40, 0, 255)
                    .astype(np.uint8)).save(tmp_path / "brighter.png")
    train_command, score_command = _readme_commands()
    budget = ["steps=2", "data.groups_per_step=2", "validation.shapes_count=2", "validation.grammar_count=1",
              "validation.photo_crops=0"]
    assert main(train_command.split()[1:] + budget) == 0
    best = tmp_path / "runs" / "my_demo" / "best"
    assert json.loads((best / "i2imetric_config.json").read_text())["base_weights"]["ref"] == "base.safetensors"
    capsys.readouterr()
    assert main(_split_quoted(score_command)[1:]) == 0
    printed = capsys.readouterr().out
    assert printed.startswith("calibrated") and "raw logit" in printed


def _split_quoted(command: str) -> list[str]:
    import shlex

    return shlex.split(command)
