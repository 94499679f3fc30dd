"""``gan-study submit STUDY.yaml --address http://HEAD:8265 --out URI``: send a study to a
running Ray cluster through the Ray Jobs API. The study file travels in the job's working
directory; the job runs ``gan-study run`` on the cluster, joining it with ``--address auto``.
The study directory must be storage every node reaches (s3://, gs://, a shared filesystem).

The Jobs API runs any code on the cluster, so it is reached with Ray's token authentication:
the token comes from ``$RAY_AUTH_TOKEN``, a file (``--token-file``, ``$RAY_AUTH_TOKEN_PATH``,
or Ray's ``~/.ray/auth_token``) and is sent as a bearer token. Without a token, only a
loopback address (an SSH tunnel, ``ray dashboard CLUSTER.yaml``, or ``kubectl port-forward``)
is accepted, unless ``insecure`` says otherwise.
"""
from __future__ import annotations

import ipaddress
import os
import shutil
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

from study.engine.spec import load_spec
from study.gan.config import ConfigError

AGENT_WAIT_S = 60.0  # how long a just-started cluster may answer "No available agent"


def find_token(token_file: str | Path | None = None) -> tuple[str | None, str]:
    """The token and where it came from: --token-file, $RAY_AUTH_TOKEN, $RAY_AUTH_TOKEN_PATH,
    then ~/.ray/auth_token."""
    candidates = []
    if token_file is not None:
        candidates.append((Path(token_file), f"--token-file {token_file}"))
    elif os.environ.get("RAY_AUTH_TOKEN", "").strip():
        return os.environ["RAY_AUTH_TOKEN"].strip(), "$RAY_AUTH_TOKEN"
    else:
        if os.environ.get("RAY_AUTH_TOKEN_PATH"):
            candidates.append((Path(os.environ["RAY_AUTH_TOKEN_PATH"]), "$RAY_AUTH_TOKEN_PATH"))
        candidates.append((Path.home() / ".ray" / "auth_token", "~/.ray/auth_token"))
    for path, source in candidates:
        try:
            token = path.read_text().strip()
        except FileNotFoundError:
            if token_file is not None:
                raise ConfigError(f"--token-file: {path} does not exist") from None
            continue
        if token:
            return token, f"{source} ({path})"
    return None, "none"


def is_loopback(address: str) -> bool:
    host = urlparse(address if "://" in address else f"http://{address}").hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def submit(study_file: str | Path, address: str, out: str, wait: bool = False, timeout_s: float = 3600.0,
           token_file: str | Path | None = None, insecure: bool = False, log=print) -> str:
    """Submit; return the job id (and with ``wait``, block until it ends, raising if it failed)."""
    spec = load_spec(study_file)  # validate here, before anything reaches the cluster
    token, source = find_token(token_file)
    if token is None and not is_loopback(address) and not insecure:
        raise ConfigError(f"--address: refusing to send a study to {address} without a token: whoever reaches a "
                          f"Ray dashboard runs any code on the cluster. Set RAY_AUTH_TOKEN (or --token-file), or "
                          f"reach the dashboard through a tunnel on loopback (ray dashboard CLUSTER.yaml; kubectl "
                          f"port-forward), or pass --insecure if you mean it")
    how = (f"with token authentication (token from {source})" if token else
           "without a token (--insecure)" if not is_loopback(address) else "without a token (loopback address)")
    log(f"connecting to {address} {how}")

    from ray.job_submission import JobStatus, JobSubmissionClient

    client = JobSubmissionClient(address, headers={"Authorization": f"Bearer {token}"} if token else None)
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
