"""Where each top-level folder of the repository goes when installed.

The repository keeps ``training/``, ``checkpoints/`` and ``configs/`` at its top level (the
design card). Installed, they take names that cannot clash with other packages: the
trainer becomes ``i2imetric_training``, and the shipped scorers and training configs
become package data, so ``load_metric("demo")`` and ``i2imetric train --config
demo_scorer`` work after a plain ``pip install .`` from any folder. Everything else about
the package is in ``setup.cfg``.
"""

from setuptools import find_packages, setup

setup(
    packages=[
        *find_packages(include=["i2imetric", "i2imetric.*"]),
        "i2imetric.checkpoints",
        "i2imetric_training",
        "i2imetric_training.configs",
    ],
    package_dir={
        "i2imetric.checkpoints": "checkpoints",
        "i2imetric_training": "training",
        "i2imetric_training.configs": "configs",
    },
    package_data={
        "i2imetric.models": ["model_configs/*.json"],
        "i2imetric.checkpoints": ["*/*"],
        "i2imetric_training.configs": ["*.yaml"],
    },
)
