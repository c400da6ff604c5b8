"""Does a text tower know the words of the held-out phrasings? A nearest-neighbour probe.

A scorer can only read a held-out phrasing ("give the left portion a lift in luminosity")
if its text tower already puts it near the training wordings of the same edit ("brighten
the left half"). This probe asks exactly that, with no head involved: for specs of the
grammar's ``train`` split, each *query* phrasing is matched to the nearest of one training
phrasing per spec (cosine of the tower's pooled embeddings), and the probe reports how
often the nearest candidate has the query's operation, and its region.

Queries come in two kinds: held-out phrasings (words no training request uses) and other
training phrasings (the ceiling: the same words, other templates). Chance is about one
over the number of operations (and of regions)::

    python -m i2imetric_training.probe_vocabulary \\
        --base "shipped base=checkpoints/demo/base.safetensors" \\
        --base "described base=runs/shapesclip_described/base.safetensors" \\
        --metric "demo scorer=checkpoints/demo"
"""

from __future__ import annotations

import argparse
import json
import random
from collections.abc import Sequence
from pathlib import Path

import torch

import i2imetric
from i2imetric.data.synthetic import grammar
from i2imetric.errors import I2IInputError

__all__ = ["probe", "main"]


def _text_embeddings(metric, texts: Sequence[str], batch_size: int = 256) -> torch.Tensor:
    """The pooled, L2-normalised instruction embeddings, through the metric's own text path."""
    with torch.inference_mode():
        chunks = [metric.encode_instructions(texts[start : start + batch_size]).pooled.cpu()
                  for start in range(0, len(texts), batch_size)]  # fmt: skip
    return torch.cat(chunks)


def probe(metric, count: int = 400, seed: int = 0) -> dict:
    """Nearest-neighbour operation and region accuracy of held-out and training queries."""
    rng = random.Random(seed)
    specs = [grammar.sample_spec(rng, "train") for _ in range(count)]
    candidates = _text_embeddings(metric, [grammar.phrase(spec, rng, "train") for spec in specs])
    result = {"specs": count, "chance_operation": _chance([s.op for s in specs]),
              "chance_region": _chance([s.region.name for s in specs])}  # fmt: skip
    for name, split in (("heldout_phrasing", "heldout"), ("train_phrasing", "train")):
        queries = _text_embeddings(metric, [grammar.phrase(spec, rng, split) for spec in specs])
        similarity = queries @ candidates.T
        similarity.fill_diagonal_(float("-inf"))  # never the query's own spec's candidate
        nearest = similarity.argmax(dim=1).tolist()
        result[name] = {
            "operation": _share(specs[i].op == specs[j].op for i, j in enumerate(nearest)),
            "region": _share(specs[i].region.name == specs[j].region.name for i, j in enumerate(nearest)),
        }
    return result


def _share(hits) -> float:
    hits = list(hits)
    return round(sum(hits) / len(hits), 4)


def _chance(labels: list[str]) -> float:
    """The hit rate of a candidate drawn at random from the others."""
    counts = {label: labels.count(label) for label in set(labels)}
    return round(sum(n * (n - 1) for n in counts.values()) / (len(labels) * (len(labels) - 1)), 4)


def _named(value: str, flag: str) -> tuple[str, str]:
    name, sep, path = value.partition("=")
    if not sep or not name or not path:
        raise I2IInputError(f"{flag} {value!r}: expected NAME=PATH, e.g. {flag} \"shipped=checkpoints/demo\"")
    if not Path(path).exists():
        raise I2IInputError(f"{flag} {value!r}: {path} does not exist")
    return name, path


def markdown_table(results: dict[str, dict]) -> str:
    lines = ["| text tower | held-out phrasings: operation | region | training phrasings: operation | region |",
             "|---|---|---|---|---|"]  # fmt: skip
    for name, r in results.items():
        h, t = r["heldout_phrasing"], r["train_phrasing"]
        lines.append(f"| {name} | {h['operation']:.1%} | {h['region']:.1%} | {t['operation']:.1%} | {t['region']:.1%} |")
    first = next(iter(results.values()))
    lines.append(f"| chance | {first['chance_operation']:.1%} | {first['chance_region']:.1%} | "
                 f"{first['chance_operation']:.1%} | {first['chance_region']:.1%} |")  # fmt: skip
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--base", action="append", default=[], metavar="NAME=FILE",
                        help="a ShapesCLIP base (safetensors file) to probe")  # fmt: skip
    parser.add_argument("--metric", action="append", default=[], metavar="NAME=FOLDER",
                        help="a trained scorer whose (adapted) text tower to probe")  # fmt: skip
    parser.add_argument("--model", default="shapesclip", help="model config of the --base files")
    parser.add_argument("--count", type=int, default=400, help="specs (queries and candidates each)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)
    if not args.base and not args.metric:
        parser.error("give at least one --base or --metric")
    towers = [(name, lambda p=path: i2imetric.create_metric(args.model, pretrained=p))
              for name, path in (_named(v, "--base") for v in args.base)]  # fmt: skip
    towers += [(name, lambda p=path: i2imetric.load_metric(p)) for name, path in (_named(v, "--metric") for v in args.metric)]
    results = {name: probe(load(), args.count, args.seed) for name, load in towers}
    print(markdown_table(results))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
