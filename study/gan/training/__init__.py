"""The one training loop (issue 21): a trial is a group of one on every device.

- ``schedule``: the step clock (critic schedule, instance-noise decay, evaluation points);
- ``build``: what a group shares, built once (data, batches, evaluator, heads, losses);
- ``member``: one trial's own state (networks, Adam, EMA, generators) and its checkpoint format;
- ``step``: one member's D and G steps, every trick included;
- ``executors``: how a group's members step: member by member (the reference, every device),
  batched under vmap, or captured as CUDA graphs; the last two fall back to the first;
- ``loop``: the loop itself (``run_group``), its rows, host checks, evaluations and reports.
"""
