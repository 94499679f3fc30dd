"""Cluster launch files for gan-study studies (see README.md, "Running on a cluster"):

- ``aws.yaml`` / ``gcp.yaml``: Ray cluster launcher configs (``ray up``), GPU workers;
- ``kuberay-rayjob.yaml``: a KubeRay ``RayJob`` running a study on Kubernetes;
- ``slurm.sbatch``: a SLURM batch script using ``ray symmetric-run``;
- ``gan-study submit STUDY.yaml --address http://HEAD:8265 --out URI``: send a study to a
  running cluster through the Ray Jobs API (study/engine/tune/submit.py).

Inside a cluster the driver joins it with ``--address auto``; the study directory must be
storage every node reaches (s3://, gs://, or a shared filesystem).
"""
from pathlib import Path

FILES = Path(__file__).parent
