"""Cluster launch: Ray cluster launcher YAML, KubeRay RayJob, SLURM script, job submission.

Not written yet; until then, start a Ray cluster by hand and pass ``--address`` to
``gan-study run`` (the study directory must be on storage every node reaches).
"""
