"""``gan-study export``: a study's kept generator, ranked within its model, as one file.

The rank is by ``best_fid`` among the model's finished trials whose generator the study kept
(study/engine/keep.py; ``keep_generators`` per model). The exported file is the kept one,
checked (digest and fit to its config) and labelled with where it came from: study, model,
rank, trial key, phase and FID (study/gan/export.py reads it back).
"""
from __future__ import annotations

from dataclasses import dataclass

import pyarrow.fs as pafs

from study.engine.keep import GeneratorKeeper, ranking
from study.engine.store import ResultsStore, filesystem
from study.gan.config import ConfigError

RANK_COLUMNS = ["study", "phase", "model", "trial_key", "is_final", "status", "best_fid", "step"]


@dataclass(frozen=True)
class Exported:
    path: str
    model: str
    rank: int
    trial_key: str
    best_fid: float
    weights_sha256: str


def kept_ranking(study_dir: str) -> tuple[dict[str, list[tuple[float, str]]], dict[str, dict]]:
    """model -> [(best FID, trial key)] of the trials whose generator file exists, best first;
    and each ranked trial's final row."""
    rows = ResultsStore(study_dir, create=False).table(columns=RANK_COLUMNS, log=lambda *a: None).to_pylist()
    finals = {r["trial_key"]: r for r in rows if r["is_final"]}
    keeper = GeneratorKeeper(study_dir, 0)
    present = {m: [(s, k) for s, k in entries if keeper.fs.get_file_info(keeper.path(k)).type == pafs.FileType.File]
               for m, entries in ranking(finals.values()).items()}
    return {m: v for m, v in present.items() if v}, finals


def export_generator(study_dir: str, model: str, rank: int, out: str) -> Exported:
    from study.gan.export import generator_from_payload, payload_bytes, read_payload

    ranked, finals = kept_ranking(study_dir)
    if model not in ranked:
        allowed = ", ".join(sorted(ranked)) or "none (no study with kept generators here)"
        raise ConfigError(f"--model: no kept generator for model {model!r}; allowed: {allowed}")
    if not 1 <= rank <= len(ranked[model]):
        raise ConfigError(f"--rank: invalid value {rank}; allowed: 1 to {len(ranked[model])} (the study keeps "
                          f"{len(ranked[model])} generators of {model}; keep_generators in the study file sets it)")
    fid, key = ranked[model][rank - 1]
    keeper = GeneratorKeeper(study_dir, 0)
    source = keeper.path(key)
    with keeper.fs.open_input_stream(source) as f:
        payload = read_payload(f.read(), source)
    generator_from_payload(payload, device="cpu", where=source)  # refuse a file that does not fit its config
    row = finals[key]
    payload["info"] = {**payload.get("info", {}), "study": row["study"], "model": model, "rank": rank,
                       "trial_key": key, "phase": row["phase"], "best_fid": fid}
    fs, path = filesystem(str(out))
    parent = path.rsplit("/", 1)[0] if "/" in path else ""
    if parent:
        fs.create_dir(parent, recursive=True)
    with fs.open_output_stream(f"{path}.tmp") as f:
        f.write(payload_bytes(payload))
    fs.move(f"{path}.tmp", path)
    return Exported(str(out), model, rank, key, fid, payload["weights_sha256"])
