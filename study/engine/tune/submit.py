"""``gan-study submit STUDY.yaml --address http://HEAD:8265 --out URI``: send a study to a
running Ray cluster through the Ray Jobs API. The study file travels in the job's working
directory; the job runs ``gan-study run`` on the cluster, joining it with ``--address auto``.
The study directory must be storage every node reaches (s3://, gs://, a shared filesystem)."""
from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from study.engine.spec import load_spec

AGENT_WAIT_S = 60.0  # how long a just-started cluster may answer "No available agent"


def submit(study_file: str | Path, address: str, out: str, wait: bool = False, timeout_s: float = 3600.0) -> str:
    """Submit; return the job id (and with ``wait``, block until it ends, raising if it failed)."""
    from ray.job_submission import JobStatus, JobSubmissionClient

    spec = load_spec(study_file)  # validate here, before anything reaches the cluster
    client = JobSubmissionClient(address)
    with tempfile.TemporaryDirectory() as tmp:
        shutil.copy(study_file, Path(tmp) / "study.yaml")
        ready_by = time.time() + AGENT_WAIT_S
        while True:
            try:
                job_id = client.submit_job(entrypoint=f"gan-study run study.yaml --address auto --out {out}",
                                           runtime_env={"working_dir": tmp}, metadata={"study": spec.name})
                break
            except RuntimeError as e:  # a cluster that just started has no job agent for a while
                if "No available agent" not in str(e) or time.time() > ready_by:
                    raise
                time.sleep(2.0)
    if wait:
        deadline = time.time() + timeout_s
        while (status := client.get_job_status(job_id)) not in (JobStatus.SUCCEEDED, JobStatus.FAILED,
                                                                  JobStatus.STOPPED):
            if time.time() > deadline:
                raise TimeoutError(f"job {job_id} still {status} after {timeout_s:.0f}s")
            time.sleep(1.0)
        if status != JobStatus.SUCCEEDED:
            raise RuntimeError(f"job {job_id} {status}: {client.get_job_logs(job_id)[-2000:]}")
    return job_id
