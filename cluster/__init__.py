"""Cluster launch files for gan-study studies (see README.md, "Running on a cluster"):

- ``aws.yaml`` / ``gcp.yaml``: Ray cluster launcher configs (``ray up``), GPU workers;
- ``kuberay-rayjob.yaml``: a KubeRay ``RayJob`` running a study on Kubernetes;
- ``slurm.sbatch``: a SLURM batch script using ``ray symmetric-run``;
- submitting to a running cluster: ``ray job submit --address http://HEAD:8265 --working-dir . --
  gan-study run STUDY.yaml --address auto --out URI`` (a ``gan-study submit`` command is to come).

Inside a cluster the driver joins it with ``--address auto``; the study directory must be
storage every node reaches (s3://, gs://, or a shared filesystem).
"""
from pathlib import Path

FILES = Path(__file__).parent
