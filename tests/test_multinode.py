"""A real two-node Ray cluster on loopback (`ray start --head` plus a second `ray start
--address`, bounded in time and torn down afterwards) runs a small study; trials land on both
nodes, and when the worker node disappears mid-study its trials are rescheduled on the head."""
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time

import pandas as pd
import pytest
import yaml

from tests.helpers import read_rows, result_files, session_members

pytestmark = pytest.mark.ray

STUDY = {
    "name": "two-nodes",
    "factors": {"loss": ["ns", "wgan"], "d_norm": ["none", "sn"]},
    "trial": {"resolution": 8, "width": 0.125, "z_dim": 16, "batch_size": 32, "steps": 200, "eval_every": 100,
              "eval_samples": 200},
    "grid": {"preset": "kurach2019", "select": [1], "seeds": [0, 1]},
    "resources": {"cpu": 1},
    "max_failures": 3,
}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def ray_cluster(workers: int, dashboard: bool = False, token: str | None = None):
    """A head (plus ``workers`` worker nodes) of 1 CPU each, started with `ray start --block` in
    their own sessions and killed, with everything they started, on exit; with ``token``, Ray's
    token authentication is on for every node (and the probe that waits for them)."""
    ray = os.path.join(os.path.dirname(sys.executable), "ray")
    port, dash_port = _free_port(), _free_port()
    auth = {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token} if token else {"RAY_AUTH_MODE": "disabled"}
    env = {**os.environ, **auth, "RAY_USAGE_STATS_ENABLED": "0",
           # the nodes' environment has gan-study on PATH, as an installed cluster image would
           "PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")}
    # Addressed through 127.0.0.1; Ray itself binds this machine's own address (see PLATFORM_NOTES).
    common = ["--num-cpus", "1", "--block"]

    def own_ports() -> list[str]:
        """Each node's agents on free ports: the defaults (52365, ...) may be held by another Ray
        on this machine, such as the test session's local instance, and then the node's job
        agent never comes up."""
        return [arg for flag in ("--dashboard-agent-listen-port", "--dashboard-agent-grpc-port",
                                 "--metrics-export-port", "--runtime-env-agent-port")
                for arg in (flag, str(_free_port()))]
    head = [ray, "start", "--head", "--port", str(port), *common, *own_ports()]
    head += ["--include-dashboard", "true", "--dashboard-host", "127.0.0.1", "--dashboard-port", str(dash_port)] \
        if dashboard else ["--include-dashboard", "false"]
    nodes = [subprocess.Popen(head, env=env, start_new_session=True, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL)]
    address = f"127.0.0.1:{port}"
    try:
        time.sleep(3)
        for _ in range(workers):
            nodes.append(subprocess.Popen([ray, "start", "--address", address, *common, *own_ports()], env=env,
                                          start_new_session=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        probe = ("import ray, sys; ray.init(address=sys.argv[1], log_to_driver=False);"
                 "print(sum(1 for n in ray.nodes() if n['Alive']))")
        deadline = time.time() + 60
        while time.time() < deadline:
            out = subprocess.run([sys.executable, "-c", probe, address], env=env, capture_output=True, text=True,
                                 timeout=60).stdout.strip()
            if out.endswith(str(workers + 1)):
                break
            time.sleep(1)
        else:
            pytest.fail(f"{workers + 1} nodes did not come up within 60 s")
        yield address, f"http://127.0.0.1:{dash_port}", env, nodes
    finally:
        for p in nodes:  # each `ray start --block` and the processes it started share a session
            try:
                os.killpg(p.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            p.wait()
        deadline = time.time() + 15  # raylets and GCS notice their parent's death; make sure
        while time.time() < deadline:
            left = [pid for p in nodes for pid in session_members(p.pid)]  # only what these nodes began
            if not left:
                break
            if time.time() > deadline - 5:
                for pid in left:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except ProcessLookupError:
                        pass
            time.sleep(0.5)


@pytest.fixture
def two_node_cluster():
    with ray_cluster(workers=1) as (address, _, env, nodes):
        yield address, env, nodes


def test_a_study_runs_on_both_nodes_and_survives_losing_one(two_node_cluster, tmp_path):
    address, env, nodes = two_node_cluster
    study_file = tmp_path / "study.yaml"
    study_file.write_text(yaml.safe_dump(STUDY))
    driver = subprocess.Popen([sys.executable, "-m", "study.cli", "run", str(study_file), "--out",
                               str(tmp_path / "out"), "--address", address], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    results = tmp_path / "out" / "results"
    worker_node = None
    deadline = time.time() + 300
    while time.time() < deadline and driver.poll() is None:
        files = result_files(results)
        if files:
            rows = read_rows(files)
            final = rows[rows["is_final"]]
            if final["node_id"].nunique() == 2 and len(final) < 8:  # both nodes finished a trial: lose one
                os.killpg(nodes[1].pid, signal.SIGKILL)
                worker_node = "killed"
                break
        time.sleep(0.2)
    out, err = driver.communicate(timeout=400)
    assert driver.returncode == 0, err[-3000:]
    rows = pd.read_parquet(results)
    final = rows[rows["is_final"]]
    assert len(final) == 8 and (final["status"] == "ok").all() and final["trial_key"].is_unique
    assert final["node_id"].nunique() == 2  # both nodes ran trials
    assert worker_node == "killed", "the study ended before a node could be lost"


def test_submit_sends_a_study_through_the_jobs_api_with_token_authentication(tmp_path, ray_local, monkeypatch):
    # ray_local: another Ray instance on the machine, as in the full test session
    from study.engine.tune.submit import submit

    study = {**STUDY, "name": "submitted", "factors": {"loss": ["ns"]}, "grid": {"select": [1]}}
    study_file = tmp_path / "study.yaml"
    study_file.write_text(yaml.safe_dump(study))
    token = "0123456789abcdef" * 4
    monkeypatch.delenv("RAY_AUTH_TOKEN", raising=False)
    monkeypatch.delenv("RAY_AUTH_TOKEN_PATH", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.ray/auth_token of the machine's
    with ray_cluster(workers=0, dashboard=True, token=token) as (_, dashboard, env, _nodes):
        with pytest.raises(Exception, match="(?i)unauthori|authentication"):  # Ray refuses a request without it
            submit(study_file, dashboard, str(tmp_path / "refused"), timeout_s=60)
        (tmp_path / "token").write_text(token + "\n")
        said = []
        job_id = submit(study_file, dashboard, str(tmp_path / "out"), wait=True, timeout_s=300,
                        token_file=tmp_path / "token", log=said.append)
    assert job_id and said == [f"connecting to {dashboard} with token authentication (token from --token-file "
                                f"{tmp_path / 'token'} ({tmp_path / 'token'}))"]
    assert not (tmp_path / "refused").exists()
    final = pd.read_parquet(tmp_path / "out" / "results").query("is_final")
    assert len(final) == 1 and final["status"].iloc[0] == "ok" and final["study"].iloc[0] == "submitted"
