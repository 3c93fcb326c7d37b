#!/usr/bin/env python3
"""The fleet Job's pod, as Kubernetes would run it, for `podman kube play` (podman 4.3 plays no
Job, expands no $(VAR), resolves no downward-API node name and makes emptyDirs root's own):

    scripts/job-pod.py JOB.yaml OPTIONS.yaml DIR [--node NAME] [--set KEY=VALUE ...]

writes DIR/pod.yaml: the Job's pod template as a Pod named podbench-fleet, with what the kubelet
would do done here instead:
- env from the ConfigMap in OPTIONS.yaml (KEY=VALUE of --set replacing its data) and from the
  downward API (spec.nodeName: --node; the completion index: 0) given as values, and $(VAR) in
  args expanded from them, as Kubernetes expands them before the container starts;
- each emptyDir a folder under DIR (medium Memory: under /dev/shm, named in DIR/cleanup) made
  0777, as the kubelet makes an emptyDir, so a non-root user can write it;
- the Secret volume a folder holding a random token with the mode the kubelet gives a Secret's
  file under fsGroup: root's, the pod's fsGroup as group, defaultMode plus group read.
Nothing else changes: the user, the read-only root filesystem, the dropped capabilities, the
mounts, the containers' args, the resources. Run as root (the token's owner and group).
"""
import argparse
import os
import re
import secrets
import sys

import yaml


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("job")
    parser.add_argument("options")
    parser.add_argument("dir")
    parser.add_argument("--node", default="fleet-node-under-podman")
    parser.add_argument("--set", action="append", default=[])
    args = parser.parse_args()

    job = yaml.safe_load(open(args.job))
    if job.get("kind") != "Job":
        sys.exit(f"job-pod: {args.job} is not a Job")
    template = job["spec"]["template"]
    spec = template["spec"]
    options = yaml.safe_load(open(args.options))["data"]
    for item in args.set:
        key, _, value = item.partition("=")
        options[key] = value

    group = spec.get("securityContext", {}).get("fsGroup", 0)
    cleanup = []
    for volume in spec["volumes"]:
        name = volume["name"]
        if "emptyDir" in volume:
            memory = volume["emptyDir"].get("medium") == "Memory"
            path = (f"/dev/shm/podbench-job-pod-{os.getpid()}-{name}" if memory
                    else os.path.join(args.dir, "volume-" + name))
            os.makedirs(path, exist_ok=True)
            os.chmod(path, 0o777)
            if memory:
                cleanup.append(path)
            volume.pop("emptyDir")
            volume["hostPath"] = {"path": path, "type": "Directory"}
        elif "secret" in volume:
            secret = volume.pop("secret")
            path = os.path.join(args.dir, "secret-" + name)
            os.makedirs(path, exist_ok=True)
            mode = secret.get("defaultMode", 0o644) | (0o040 if group else 0)
            for item in secret.get("items", [{"key": "token", "path": "token"}]):
                file = os.path.join(path, item["path"])
                with open(file, "w") as f:
                    f.write(secrets.token_hex(32))
                os.chown(file, 0, group)
                os.chmod(file, mode)
            volume["hostPath"] = {"path": path, "type": "Directory"}

    for container in spec["containers"]:
        values = {}
        for env in container.get("env", []):
            source = env.pop("valueFrom", None)
            if source is None:
                values[env["name"]] = env.get("value", "")
                continue
            if "configMapKeyRef" in source:
                key = source["configMapKeyRef"]["key"]
                if key not in options:
                    sys.exit(f"job-pod: env {env['name']} wants key {key!r}, which {args.options} does not have")
                env["value"] = str(options[key])
            elif source.get("fieldRef", {}).get("fieldPath") == "spec.nodeName":
                env["value"] = args.node
            elif "job-completion-index" in source.get("fieldRef", {}).get("fieldPath", ""):
                env["value"] = "0"
            else:
                sys.exit(f"job-pod: env {env['name']} comes from {source}, which this script does not resolve")
            values[env["name"]] = env["value"]
        container["args"] = [re.sub(r"\$\((\w+)\)", lambda m: values.get(m.group(1), m.group(0)), a)
                             for a in container.get("args", [])]

    spec.pop("affinity", None)  # one node here
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "podbench-fleet", "labels": template["metadata"].get("labels", {})},
           "spec": spec}
    with open(os.path.join(args.dir, "pod.yaml"), "w") as f:
        yaml.safe_dump(pod, f, sort_keys=False)
    with open(os.path.join(args.dir, "cleanup"), "w") as f:
        f.write("".join(p + "\n" for p in cleanup))
    return 0


if __name__ == "__main__":
    sys.exit(main())
