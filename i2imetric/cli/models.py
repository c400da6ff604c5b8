"""``i2imetric models``: what can be created, and what can be loaded."""

from __future__ import annotations

import argparse
import json


def configure_parser(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="machine-readable output")


def run(args: argparse.Namespace) -> int:
    from ..hub.pretrained import list_pretrained
    from ..models.config import get_model_config, list_models

    configs = {name: get_model_config(name).description for name in list_models()}
    pretrained = list_pretrained()
    if args.json:
        print(json.dumps({"model_configs": configs, "pretrained": pretrained}, indent=2))
        return 0
    print("Model configs (i2imetric.create_metric(NAME, pretrained=...)):")
    for name, description in configs.items():
        print(f"  {name:<24} {description}")
    print("\nPretrained scorers (i2imetric.load_metric(NAME), --metric NAME):")
    for name in pretrained or ["(none found)"]:
        print(f"  {name}")
    return 0
