"""Synthetic data with a known right answer, for training and testing the metric.

- :mod:`.pixels`: pixel primitives (regions, cross-fades, noise, JPEG, the visible
  difference test) and :func:`~.pixels.shrink_to`, the one downscale helper;
- :mod:`.canonical`: the canonical edits table and :func:`~.canonical.apply_edit`;
- :mod:`.distractors`: wrong answers to a canonical edit;
- :mod:`.distortions`: instruction-free quality distortions (BAPPS-style);
- :mod:`.edits`: the three families above under one import path;
- :mod:`.grammar`: edits as structured specs (operation x region x magnitude) with exact
  change masks, phrasings, distractors and held-out splits (open-vocabulary supervision);
- :mod:`.shapesworld`: the procedural ShapesWorld (scenes, rendering, edits, distractors);
- :mod:`.photos`: the real photos bundled in scikit-image and scikit-learn;
- :mod:`.simulated_editors`: editing systems of known quality (grammar outcomes drawn from
  per-system rates, with a utility table) and noisy simulated raters;
- :mod:`.perturb`: pairwise records from a folder of images (``i2imetric perturb``).
"""
