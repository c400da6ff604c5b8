"""The shipped training recipes (configs/*.yaml) load and say what they claim."""

import json
from pathlib import Path

import pytest

import i2imetric.models
from i2imetric_training.config import SHIPPED_CONFIGS, load_train_config

CONFIGS = sorted(Path(SHIPPED_CONFIGS).glob("*.yaml"))
PRETRAIN = {"shapesclip_pretrain"}  # read by i2imetric_training.pretrain, not the metric trainer
SSL_PRETRAIN = {"shapesvit_dino_pretrain"}  # read by i2imetric_training.pretrain_ssl


def test_shipped_configs_found():
    assert "general_vitb16" in {path.stem for path in CONFIGS}


@pytest.mark.parametrize("path", CONFIGS, ids=lambda path: path.stem)
def test_every_shipped_config_loads(path):
    if path.stem in PRETRAIN:
        from i2imetric_training.config import load_pretrain_config

        load_pretrain_config(path)
    elif path.stem in SSL_PRETRAIN:
        from i2imetric_training.config import load_ssl_pretrain_config

        load_ssl_pretrain_config(path)
    else:
        load_train_config(path)


def test_general_vitb16_recipe():
    config = load_train_config("general_vitb16")
    assert config.model == "clip-vit-b-16"
    model_json = Path(i2imetric.models.__file__).parent / "model_configs" / "clip-vit-b-16.json"
    default_tag = json.loads(model_json.read_text())["base"]["default_pretrained"]
    assert config.pretrained in (default_tag, True)
    assert config.mixed_precision == "bf16"
    kinds = {source.kind for source in config.data.sources}
    assert kinds == {"manifest", "canonical_edits"}
    assert all(source.images for source in config.data.sources if source.kind == "canonical_edits")
    assert config.steps % config.checkpoint_every == 0
    # It selects on a share of GenAI-Bench, which `i2imetric bench` then leaves out.
    assert [(b.bench, b.fraction) for b in config.validation.benchmarks] == [("genai-bench", 0.2)]


def test_finetune_demo_recipe_starts_from_the_demo_on_a_folder():
    config = load_train_config("finetune_demo")
    assert config.init_from == "demo" and config.model is None and config.pretrained is None
    assert config.bundle_base is True and 0 < config.validation.holdout_fraction < 1
    folders = [source for source in config.data.sources if source.kind == "grammar"]
    assert len(folders) == 1 and folders[0].images  # the placeholder a user overrides
