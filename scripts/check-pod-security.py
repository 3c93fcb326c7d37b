#!/usr/bin/env python3
"""Check pod templates against the Pod Security Standards, offline.

    scripts/check-pod-security.py [--level baseline|restricted] FILE...   (- for standard input)

Every Pod, and every pod template of a Job, CronJob, Deployment, StatefulSet, DaemonSet or
ReplicaSet in the YAML files, is checked against the controls of "baseline" and, with --level
restricted (the default), "restricted" as Kubernetes 1.31 defines them
(kubernetes.io/docs/concepts/security/pod-security-standards). Prints one line per pod and
level; exits 1 naming each violation. A stand-in for the admission controller where no cluster
is at hand (`kubectl apply --dry-run=server` against a namespace labelled
pod-security.kubernetes.io/enforce=restricted is the real thing).
"""

import argparse
import sys

import yaml

BASELINE_CAPABILITIES = {
    "AUDIT_WRITE", "CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "MKNOD", "NET_BIND_SERVICE",
    "SETFCAP", "SETGID", "SETPCAP", "SETUID", "SYS_CHROOT",
}
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced", "net.ipv4.ip_local_port_range", "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies", "net.ipv4.ping_group_range", "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time", "net.ipv4.tcp_fin_timeout", "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}
SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
RESTRICTED_VOLUMES = {
    "configMap", "csi", "downwardAPI", "emptyDir", "ephemeral", "persistentVolumeClaim", "projected", "secret",
}
TEMPLATE_PATHS = {
    "Job": ["spec", "template"],
    "CronJob": ["spec", "jobTemplate", "spec", "template"],
    "Deployment": ["spec", "template"],
    "StatefulSet": ["spec", "template"],
    "DaemonSet": ["spec", "template"],
    "ReplicaSet": ["spec", "template"],
}


def containers(spec):
    for field in ("initContainers", "containers", "ephemeralContainers"):
        for container in spec.get(field) or []:
            yield container["name"], container.get("securityContext") or {}, container


def baseline(meta, spec):
    pod_sc = spec.get("securityContext") or {}
    annotations = meta.get("annotations") or {}
    found = []
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            found.append(f"{field}: true")
    if (pod_sc.get("windowsOptions") or {}).get("hostProcess"):
        found.append("pod windowsOptions.hostProcess")
    if (pod_sc.get("seccompProfile") or {}).get("type") == "Unconfined":
        found.append("pod seccompProfile Unconfined")
    if annotations.get("seccomp.security.alpha.kubernetes.io/pod") == "unconfined":
        found.append("annotation seccomp.security.alpha.kubernetes.io/pod: unconfined")
    if (pod_sc.get("appArmorProfile") or {}).get("type") == "Unconfined":
        found.append("pod appArmorProfile Unconfined")
    for name, value in annotations.items():
        if name.startswith("container.apparmor.security.beta.kubernetes.io/") and value not in ("runtime/default",) \
                and not value.startswith("localhost/"):
            found.append(f"annotation {name}: {value}")
    for sysctl in pod_sc.get("sysctls") or []:
        if sysctl.get("name") not in SAFE_SYSCTLS:
            found.append(f"sysctl {sysctl.get('name')}")
    for where, sc in [("pod", pod_sc)] + [(f"container {n}", sc) for n, sc, _ in containers(spec)]:
        selinux = sc.get("seLinuxOptions") or {}
        if selinux.get("type", "") not in SELINUX_TYPES or selinux.get("user") or selinux.get("role"):
            found.append(f"{where} seLinuxOptions {selinux}")
    for volume in spec.get("volumes") or []:
        if "hostPath" in volume:
            found.append(f"hostPath volume {volume['name']}")
    for name, sc, container in containers(spec):
        if sc.get("privileged"):
            found.append(f"container {name} privileged")
        if (sc.get("windowsOptions") or {}).get("hostProcess"):
            found.append(f"container {name} windowsOptions.hostProcess")
        added = set((sc.get("capabilities") or {}).get("add") or []) - BASELINE_CAPABILITIES
        if added:
            found.append(f"container {name} adds capabilities {sorted(added)}")
        if sc.get("procMount", "Default") != "Default":
            found.append(f"container {name} procMount {sc['procMount']}")
        if (sc.get("seccompProfile") or {}).get("type") == "Unconfined":
            found.append(f"container {name} seccompProfile Unconfined")
        if (sc.get("appArmorProfile") or {}).get("type") == "Unconfined":
            found.append(f"container {name} appArmorProfile Unconfined")
        for port in container.get("ports") or []:
            if port.get("hostPort"):
                found.append(f"container {name} hostPort {port['hostPort']}")
    return found


def restricted(meta, spec):
    pod_sc = spec.get("securityContext") or {}
    found = []
    for volume in spec.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUMES:
            found.append(f"volume {volume['name']} of type {sorted(kinds - RESTRICTED_VOLUMES)}")
    pod_seccomp = (pod_sc.get("seccompProfile") or {}).get("type")
    if pod_sc.get("runAsUser") == 0:
        found.append("pod runAsUser 0")
    for name, sc, _ in containers(spec):
        if sc.get("allowPrivilegeEscalation") is not False:
            found.append(f"container {name} without allowPrivilegeEscalation: false")
        if sc.get("runAsNonRoot") is False or not (sc.get("runAsNonRoot") or pod_sc.get("runAsNonRoot")):
            found.append(f"container {name} without runAsNonRoot: true (pod or container)")
        if sc.get("runAsUser") == 0:
            found.append(f"container {name} runAsUser 0")
        seccomp = (sc.get("seccompProfile") or {}).get("type") or pod_seccomp
        if seccomp not in ("RuntimeDefault", "Localhost"):
            found.append(f"container {name} seccompProfile {seccomp or 'unset'} (RuntimeDefault or Localhost)")
        capabilities = sc.get("capabilities") or {}
        if "ALL" not in (capabilities.get("drop") or []):
            found.append(f"container {name} does not drop ALL capabilities")
        added = set(capabilities.get("add") or []) - {"NET_BIND_SERVICE"}
        if added:
            found.append(f"container {name} adds capabilities {sorted(added)}")
    return found


def pods(path):
    text = sys.stdin.read() if path == "-" else open(path).read()
    for document in yaml.safe_load_all(text):
        if not document:
            continue
        kind, name = document.get("kind"), (document.get("metadata") or {}).get("name")
        if kind == "Pod":
            yield f"{path}: pod/{name}", document.get("metadata") or {}, document.get("spec") or {}
        elif kind in TEMPLATE_PATHS:
            template = document
            for key in TEMPLATE_PATHS[kind]:
                template = template.get(key) or {}
            yield f"{path}: {kind.lower()}/{name}", template.get("metadata") or {}, template.get("spec") or {}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--level", choices=["baseline", "restricted"], default="restricted")
    parser.add_argument("files", nargs="+")
    args = parser.parse_args()
    failed = checked = 0
    for path in args.files:
        for label, meta, spec in pods(path):
            checked += 1
            levels = [("baseline", baseline)] + ([("restricted", restricted)] if args.level == "restricted" else [])
            for level, check in levels:
                found = check(meta, spec)
                print(f"{'ok  ' if not found else 'FAIL'} {label}: Pod Security {level}")
                for violation in found:
                    print(f"       {violation}")
                failed += bool(found)
    if checked == 0:
        print("check-pod-security: no pod or pod template found in " + " ".join(args.files))
        return 1
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
