#!/usr/bin/env python3
"""Print a Localhost seccomp profile: the container runtime's default plus io_uring.

    scripts/seccomp-io-uring-profile.py [BASE] > deploy/kubernetes/fleet/io_uring/podbench-io_uring.json

BASE is containers-common's default profile (podman's and CRI-O's; default
/usr/share/containers/seccomp.json). It is written in Docker's extended format, whose rules
hold only under conditions (`includes`/`excludes`: the container's capabilities, the CPU
architecture) and whose architectures are an `archMap`. containerd reads a Localhost profile as
the OCI runtime spec's `LinuxSeccomp` and silently ignores those fields, which would apply every
conditional rule at once (bpf both allowed and refused, say). So the conditions are resolved here
for the fleet pod, which drops every capability, on x86_64 and arm64 nodes, and the result is
plain OCI: every runtime (containerd, CRI-O, podman) reads it the same way. The three io_uring
calls join the main allow rule. Syscall names a node's architecture lacks (arm_fadvise64_64 on
x86_64) are skipped by runc and crun.
"""

import json
import sys

IO_URING = ["io_uring_setup", "io_uring_enter", "io_uring_register"]
# Docker's architecture names in `includes.arches`, and the archMap entries, for the nodes served.
ARCHES = {"amd64", "x32", "x86", "arm64", "arm"}
NATIVE = {"SCMP_ARCH_X86_64", "SCMP_ARCH_AARCH64"}
CAPABILITIES: set = set()  # drop: [ALL]


def applies(rule: dict) -> bool:
    """Whether a Docker-format rule holds for a container with CAPABILITIES on ARCHES."""
    includes, excludes = rule.get("includes") or {}, rule.get("excludes") or {}
    if includes.get("minKernel") or excludes.get("minKernel"):
        sys.exit(f"seccomp-io-uring-profile: minKernel conditions are not handled: {rule['names']}")
    if not set(includes.get("caps") or []) <= CAPABILITIES:
        return False
    if set(excludes.get("caps") or []) & CAPABILITIES:
        return False
    if includes.get("arches") and not set(includes["arches"]) & ARCHES:
        return False
    if excludes.get("arches"):
        sys.exit(f"seccomp-io-uring-profile: excludes.arches is not handled: {rule['names']}")
    return True


def main() -> None:
    base_path = sys.argv[1] if len(sys.argv) > 1 else "/usr/share/containers/seccomp.json"
    with open(base_path) as f:
        base = json.load(f)
    architectures = []
    for entry in base.get("archMap") or []:
        if entry["architecture"] in NATIVE:
            architectures += [entry["architecture"], *entry.get("subArchitectures", [])]
    rules = []
    for rule in base["syscalls"]:
        if not applies(rule):
            continue
        out = {"names": list(rule.get("names") or [rule["name"]]), "action": rule["action"]}
        if rule.get("args"):
            out["args"] = rule["args"]
        if "errnoRet" in rule:
            out["errnoRet"] = rule["errnoRet"]
        rules.append(out)
    main_allow = max(
        (r for r in rules if r["action"] == "SCMP_ACT_ALLOW" and "args" not in r), key=lambda r: len(r["names"])
    )
    main_allow["names"] += [name for name in IO_URING if name not in main_allow["names"]]
    profile = {"defaultAction": base["defaultAction"]}
    if "defaultErrnoRet" in base:
        profile["defaultErrnoRet"] = base["defaultErrnoRet"]
    profile["architectures"] = architectures
    profile["syscalls"] = rules
    json.dump(profile, sys.stdout, indent=2)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
