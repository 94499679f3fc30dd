"""The cluster files parse and carry the fields their tools require."""
import subprocess

import yaml

from cluster import FILES


def test_ray_launcher_configs():
    for name, provider in (("aws.yaml", "aws"), ("gcp.yaml", "gcp")):
        cfg = yaml.safe_load((FILES / name).read_text())
        assert cfg["provider"]["type"] == provider and cfg["cluster_name"]
        assert cfg["head_node_type"] in cfg["available_node_types"]
        for node in cfg["available_node_types"].values():
            assert "node_config" in node and "resources" in node
        assert any("ray start --head" in c for c in cfg["head_start_ray_commands"])
        assert any("ray start --address" in c for c in cfg["worker_start_ray_commands"])
        assert any("gan-study weights" in c for c in cfg["setup_commands"])
    gcp = yaml.safe_load((FILES / "gcp.yaml").read_text())
    assert {"region", "availability_zone", "project_id"} <= set(gcp["provider"])


def test_kuberay_rayjob():
    job = yaml.safe_load((FILES / "kuberay-rayjob.yaml").read_text())
    assert job["apiVersion"] == "ray.io/v1" and job["kind"] == "RayJob"
    assert job["spec"]["entrypoint"].startswith("gan-study run ") and "--address auto" in job["spec"]["entrypoint"]
    cluster = job["spec"]["rayClusterSpec"]
    assert cluster["headGroupSpec"]["template"]["spec"]["containers"][0]["image"]
    worker = cluster["workerGroupSpecs"][0]
    assert worker["groupName"] and worker["minReplicas"] <= worker["replicas"] <= worker["maxReplicas"]
    assert worker["template"]["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"


def test_slurm_script():
    text = (FILES / "slurm.sbatch").read_text()
    assert text.startswith("#!/bin/bash") and "#SBATCH --nodes=" in text
    assert "ray symmetric-run --address" in text and "--min-nodes" in text and "gan-study run" in text
    assert subprocess.run(["bash", "-n", str(FILES / "slurm.sbatch")]).returncode == 0


def test_every_cluster_file_runs_ray_with_token_auth_from_a_secret_and_a_private_dashboard():
    for name in ("aws.yaml", "gcp.yaml"):
        cfg = yaml.safe_load((FILES / name).read_text())
        starts = cfg["head_start_ray_commands"] + cfg["worker_start_ray_commands"]
        assert all(c.startswith("RAY_AUTH_MODE=token ") for c in starts if "ray start" in c)
        head = next(c for c in cfg["head_start_ray_commands"] if "--head" in c)
        assert "--dashboard-host=127.0.0.1" in head and "0.0.0.0" not in (FILES / name).read_text()
        assert any("~/.ray/auth_token" in c and "secret" in c for c in cfg["setup_commands"])
    job = yaml.safe_load((FILES / "kuberay-rayjob.yaml").read_text())
    cluster = job["spec"]["rayClusterSpec"]
    pods = [cluster["headGroupSpec"]["template"], job["spec"]["submitterPodTemplate"]] + \
        [g["template"] for g in cluster["workerGroupSpecs"]]
    for pod in pods:
        env = {e["name"]: e for e in pod["spec"]["containers"][0]["env"]}
        assert env["RAY_AUTH_MODE"]["value"] == "token"
        assert env["RAY_AUTH_TOKEN"]["valueFrom"]["secretKeyRef"]["name"] == "gan-study-ray-auth"  # not a literal
    assert cluster["headGroupSpec"]["serviceType"] == "ClusterIP"
    slurm = (FILES / "slurm.sbatch").read_text()
    assert "export RAY_AUTH_MODE=token" in slurm and "RAY_AUTH_TOKEN_PATH" in slurm
    assert "--dashboard-host 127.0.0.1" in slurm
