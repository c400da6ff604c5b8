"""i2imetric: a trainable learned metric for image-to-image translation and image editing.

Given (source image, instruction, output image) it returns one score of how good the edit
is (higher is better), sub-scores for instruction following, preservation and quality,
and a per-patch map of where the edit helped or hurt.

    >>> import i2imetric
    >>> metric = i2imetric.create_metric("test-tiny")      # or load_metric("demo")
    >>> metric.score("source.png", "make it brighter", "output.png")  # doctest: +SKIP

Names are imported lazily, so ``import i2imetric`` (and the light modules such as
``i2imetric.stats``) do not pay for importing torch and open_clip.
"""

from ._lazy import lazy_exports
from .errors import BaseWeightsError, CheckpointError, ConfigError, I2IError, I2IInputError, ResultsError
from .version import __version__

# name -> the module (relative to this package) that defines it; imported on first use.
_LAZY = {
    "list_models": "models.config",
    "get_model_config": "models.config",
    "MetricConfig": "models.config",
    "SUBSCORE_NAMES": "models.config",
    "create_metric": "models.factory",
    "load_metric": "models.factory",
    "I2IMetric": "models.metric",
    "Explanation": "models.outputs",
    "MetricOutput": "models.outputs",
    "count_parameters": "models.lora",
    "list_pretrained": "hub.pretrained",
    "read_manifest": "data.manifest",
    "perturb_folder": "data.synthetic.perturb",
    "evaluate": "evaluation.runner",
    "set_distance": "evaluation.setlevel",
    "meta_evaluate": "meta_eval",
    "save_heatmap": "viz.heatmap",
    "build_report": "viz.report",
    "I2IMetricScore": "integrations.torchmetrics",
}

__all__ = [
    "__version__",
    "I2IError",
    "I2IInputError",
    "CheckpointError",
    "BaseWeightsError",
    "ConfigError",
    "ResultsError",
    *_LAZY,
]


__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
