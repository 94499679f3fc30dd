"""One trial: train one GAN as a TrialConfig says, evaluate, report.

A trial is a group of one (study/gan/training/loop.py): the same loop, step, rows, checkpoints
and files as every member of a fused group, on every device. The trial knows nothing of Ray
Tune: it calls ``report(row, state)`` at every evaluation with a plain dict of metrics and, when
the caller asked for checkpoints, the training state (networks, optimisers, EMA, counters,
random generator states) from which ``run_trial(..., state=...)`` continues exactly where it
was. A NaN or infinite loss ends the trial early with status ``diverged`` and the step it
happened at; it never raises for that.
"""
from __future__ import annotations

from typing import Any, Callable

from study.gan.artifacts import Artifacts
from study.gan.config import TrialConfig
from study.gan.training.loop import run_group

Report = Callable[..., None]  # report(row) or report(row, state)


def run_trial(cfg: TrialConfig, report: Report, state: dict[str, Any] | None = None,
              checkpoints: bool = False, artifacts: Artifacts | None = None) -> dict[str, Any]:
    """Train one GAN as ``cfg`` says; call ``report`` at each evaluation; return the last row.

    ``checkpoints``: pass the training state as ``report``'s second argument at each
    non-final evaluation. ``state``: such a state to continue from. ``artifacts``: where to
    keep files (study/gan/artifacts.py): at an evaluation with a new best FID, the evaluated
    generator (G, or its EMA) as ``generators/best.pt`` (study/gan/export.py) and its sample
    grid as ``samples/best.png``; at the final one ``samples/final.png`` (every evaluation's
    grid too with ``sample_every``). They are written before the evaluation is reported.
    """
    def member_report(rows: list, states: list) -> None:
        if states[0] is None:
            report(rows[0])
        else:
            report(rows[0], states[0])

    return run_group([cfg], member_report, [state] if state is not None else None, checkpoints, [artifacts])[0]
