"""The results table's schema: the one owner of its columns.

One row per (trial, evaluation). The driver builds rows from these names, the store writes
exactly this schema, and every column carries its group (``identity``, ``config``, ``metric``,
``outcome``, ``provenance``) as Parquet field metadata, so that the analysis, which reads only
Parquet, tells the trial-config columns from the rest without importing this package.
"""
from __future__ import annotations

import dataclasses

import pyarrow as pa

from study.gan.config import TrialConfig

GROUP_KEY = b"group"
_ARROW = {"str": pa.string(), "int": pa.int64(), "float": pa.float64(), "bool": pa.bool_()}


def _group(name: str, fields: list[pa.Field]) -> list[pa.Field]:
    return [f.with_metadata({GROUP_KEY: name.encode()}) for f in fields]


IDENTITY = _group("identity", [
    pa.field("study", pa.string(), nullable=False),
    pa.field("phase", pa.string(), nullable=False),  # grid | bo | seeds
    pa.field("bo_round", pa.int32()),  # null outside the BO phase
    pa.field("model", pa.string(), nullable=False),  # the factor combination, e.g. "d_norm=sn,loss=ns"
    pa.field("trial_key", pa.string(), nullable=False),
])
CONFIG = _group("config", [pa.field(f.name, _ARROW[f.type]) for f in dataclasses.fields(TrialConfig)])
METRICS = _group("metric", [
    pa.field("step", pa.int64()),
    pa.field("fid", pa.float64()),
    pa.field("best_fid", pa.float64()),
    pa.field("fid_samples", pa.int64()),
    pa.field("fid_split", pa.string()),
    pa.field("fid_real_samples", pa.int64()),  # real images of that split the FID compares with (0: a stats file)
    pa.field("fid_real_stats_sha256", pa.string()),  # the real (mu, sigma) compared with (stats_file.stats_sha256)
    pa.field("fid_precision", pa.string()),  # the precision the extractor ran in (float32 unless calibrated)
    pa.field("feature_weights_sha256", pa.string()),  # the feature extractor's weights (its file's sha256)
    pa.field("d_loss", pa.float64()),
    pa.field("g_loss", pa.float64()),
    pa.field("inception_score", pa.float64()),
    pa.field("inception_score_std", pa.float64()),
    pa.field("kid", pa.float64()),
    pa.field("kid_std", pa.float64()),
    pa.field("pr_precision", pa.float64()),  # improved precision (Kynkaanniemi et al. 2019, k = 3)
    pa.field("pr_recall", pa.float64()),  # ... and recall, on the FID features
    pa.field("dc_density", pa.float64()),  # density (Naeem et al. 2020, k = 5; metrics: dc): about 1 when alike, >= 0
    pa.field("dc_coverage", pa.float64()),  # ... and coverage, in [0, 1], on the FID features
    pa.field("pixel_hist_distance", pa.float64()),
    pa.field("recon_error", pa.float64()),
    pa.field("intra_fid", pa.float64()),  # conditional GANs: mean per-class FID (metrics: intra_fid)
    pa.field("fd_dinov2", pa.float64()),  # Frechet distance in DINOv2 ViT-L/14 features (metrics: fd_dinov2)
    pa.field("fd_dinov2_weights_sha256", pa.string()),  # ... and those weights' sha256 ("" without fd_dinov2)
    pa.field("is_final", pa.bool_()),
])
OUTCOME = _group("outcome", [
    pa.field("status", pa.string()),  # ok | diverged | failed | stopped (by early stopping, at ``step``)
    pa.field("error", pa.string()),
    pa.field("wall_time_s", pa.float64()),  # compute time of the trial so far, across retries
    pa.field("restored_from_step", pa.int64()),  # the checkpoint step a retried trial continued from (0: fresh)
])
# Set by the trial's worker (where it ran) ...
WORKER = _group("provenance", [
    pa.field("torch_version", pa.string()),
    pa.field("device_name", pa.string()),
    pa.field("hostname", pa.string()),
    pa.field("node_id", pa.string()),  # the Ray node the trial ran on
    pa.field("data_manifest_sha256", pa.string()),  # the prepared dataset's manifest ("" for digits)
    # how the members stepped: eager | batched (vmap) | graph (captured CUDA graphs)
    pa.field("step_mode_used", pa.string()),
    pa.field("fused_members", pa.int64()),  # trials trained together in one fused group (1: alone)
])
# ... and by the driver (what code, when received).
DRIVER = _group("provenance", [
    pa.field("package_version", pa.string()),
    pa.field("git_revision", pa.string()),
    pa.field("timestamp", pa.timestamp("us", tz="UTC")),
])
SCHEMA = pa.schema(IDENTITY + CONFIG + METRICS + OUTCOME + WORKER + DRIVER)
assert len(set(SCHEMA.names)) == len(SCHEMA.names), "results schema: duplicate column names"

STATUSES = ("ok", "diverged", "failed", "stopped")
IDENTITY_COLUMNS = tuple(f.name for f in IDENTITY)
CONFIG_COLUMNS = tuple(f.name for f in CONFIG)
# What a trial's report carries into its row (the rest comes from its request and the driver).
REPORTED_COLUMNS = tuple(f.name for f in METRICS + OUTCOME + WORKER)


def column_groups(schema: pa.Schema = SCHEMA) -> dict[str, str]:
    """column name -> group, from a schema's field metadata (the same for any file the store wrote)."""
    return {f.name: (f.metadata or {}).get(GROUP_KEY, b"").decode() for f in schema}
