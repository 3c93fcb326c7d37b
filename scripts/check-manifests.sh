#!/usr/bin/env bash
# Checks the Kubernetes manifests offline, with no cluster: scripts/check-manifests.sh
#
#  1. renders the fleet (deploy/kubernetes/fleet) with `kubectl kustomize`, as it is and with its
#     io_uring component switched on (without kubectl, checks the raw files instead);
#  2. validates every manifest (deploy/kubernetes/*.yaml and the rendered fleet) against the
#     Kubernetes API schema of K8S_SCHEMA_VERSION (default 1.31.0, the oldest release the fleet's
#     Job fields are on by default in) with kubernetes-validate --strict: unknown fields and
#     kinds without a schema are errors;
#  3. checks the fleet's pod against Pod Security "baseline" and "restricted"
#     (scripts/check-pod-security.py), and that the check refuses pod.yaml (Unconfined seccomp);
#  4. checks what the schema cannot: the API's cross-field rules for the Job, that every $(VAR)
#     and ConfigMap key the client uses exists, that the io_uring variant differs only in its
#     Localhost seccomp profile, and that the profile allows the three io_uring calls.
#
# Installs the PyPI package kubernetes-validate when it is missing. Exits non-zero naming the
# first failing step.
set -euo pipefail
cd "$(dirname "$0")/.."

K8S_SCHEMA_VERSION=${K8S_SCHEMA_VERSION:-1.31.0}
KUBECTL=${KUBECTL:-kubectl}
FLEET=deploy/kubernetes/fleet
fail() { echo "check-manifests: FAILED: $*" >&2; exit 1; }

if ! python3 -c 'import kubernetes_validate' 2>/dev/null; then
    echo "installing kubernetes-validate (PyPI)"
    # A Debian-managed python3 refuses pip (PEP 668) unless told: install for this user only.
    python3 -m pip install --quiet --disable-pip-version-check 'kubernetes-validate==1.37.0' 2>/dev/null \
        || python3 -m pip install --quiet --disable-pip-version-check --user --break-system-packages \
            'kubernetes-validate==1.37.0' \
        || fail "cannot install kubernetes-validate: python3 -m pip install kubernetes-validate"
fi
kv_version=$(python3 -c 'from kubernetes_validate.version import __version__; print(__version__)')
echo "kubernetes-validate $kv_version, Kubernetes schema $K8S_SCHEMA_VERSION (strict)"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# 1. Render. The io_uring variant is the fleet folder with its `components: [io_uring]` lines
# uncommented, exactly as a user switches it on.
cp -r "$FLEET" "$work/fleet-io_uring"
python3 - "$work/fleet-io_uring/kustomization.yaml" <<'EOF' || fail "cannot switch on the io_uring component"
import sys
path = sys.argv[1]
text = open(path).read()
switched = text.replace("# components:\n#   - io_uring\n", "components:\n  - io_uring\n")
if switched == text:
    sys.exit(f"{path}: no commented '# components:' / '#   - io_uring' lines to uncomment"
             " (the committed fleet runs RuntimeDefault, with the io_uring component commented out)")
open(path, "w").write(switched)
EOF
if command -v "$KUBECTL" >/dev/null; then
    "$KUBECTL" kustomize "$FLEET" > "$work/fleet.yaml" || fail "kubectl kustomize $FLEET"
    "$KUBECTL" kustomize "$work/fleet-io_uring" > "$work/fleet-io_uring.yaml" \
        || fail "kubectl kustomize $FLEET with components: [io_uring]"
    echo "ok   rendered $FLEET and $FLEET + io_uring with $("$KUBECTL" version --client | grep -i kustomize)"
else
    echo "$KUBECTL not found: checking the raw files (the image rewrite is not checked)"
    { cat "$FLEET/job.yaml"; echo ---; cat "$FLEET/options.yaml"; } > "$work/fleet.yaml"
    # The component's one JSON patch, applied by hand.
    python3 - "$work/fleet.yaml" "$FLEET/io_uring/kustomization.yaml" > "$work/fleet-io_uring.yaml" <<'EOF' \
        || fail "cannot apply $FLEET/io_uring's patch"
import sys, yaml
documents = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d]
for patch in yaml.safe_load(open(sys.argv[2]))["patches"]:
    for op in yaml.safe_load(patch["patch"]):
        assert op["op"] in ("add", "replace"), op
        for d in documents:
            if d["kind"] == patch["target"]["kind"] and d["metadata"]["name"] == patch["target"]["name"]:
                *parents, last = op["path"].strip("/").split("/")
                node = d
                for key in parents:
                    node = node[key]
                node[last] = op["value"]
yaml.safe_dump_all(documents, sys.stdout)
EOF
fi

# 2. Schema. kubernetes-validate only warns (and exits 0) for a kind it has no schema for.
for file in deploy/kubernetes/*.yaml "$work/fleet.yaml" "$work/fleet-io_uring.yaml"; do
    label=${file/#$work\//rendered }
    if ! out=$(python3 -m kubernetes_validate --strict -k "$K8S_SCHEMA_VERSION" "$file" 2>&1); then
        echo "${out//$work\//}"
        fail "$label does not validate against Kubernetes $K8S_SCHEMA_VERSION"
    fi
    if grep -v '^INFO ' <<<"$out" | grep -q .; then
        echo "${out//$work\//}"
        fail "$label: kubernetes-validate warned (a kind or apiVersion with no schema?)"
    fi
    echo "ok   $label: $(grep -c '^INFO ' <<<"$out") resource(s) valid (strict)"
done

# 3. Pod Security.
scripts/check-pod-security.py --level restricted "$work/fleet.yaml" "$work/fleet-io_uring.yaml" \
    | sed "s|$work/||" || fail "the fleet's pod breaks a Pod Security level"
if scripts/check-pod-security.py --level baseline deploy/kubernetes/pod.yaml > /dev/null; then
    fail "scripts/check-pod-security.py passed pod.yaml (seccomp Unconfined): the check checks nothing"
fi
echo "ok   the check refuses pod.yaml (seccomp Unconfined) at baseline, as it should"

# 4. What the schema cannot say.
python3 - "$work/fleet.yaml" "$work/fleet-io_uring.yaml" "$FLEET/io_uring" <<'EOF' \
    || fail "the fleet's consistency checks"
import copy, json, os, re, sys, yaml

base_path, uring_path, component = sys.argv[1:]
def load(path):
    documents = [d for d in yaml.safe_load_all(open(path)) if d]
    return {(d["kind"], d["metadata"]["name"]): d for d in documents}
base, uring = load(base_path), load(uring_path)
problems = []
def check(condition, message):
    if not condition:
        problems.append(message)

job = base[("Job", "podbench-fleet")]
spec, pod = job["spec"], job["spec"]["template"]["spec"]
names = {c["name"] for c in pod["containers"]}
# The Job API's cross-field rules (validation.go), which a JSON schema cannot express.
check(spec.get("completionMode") == "Indexed", "the Job is not Indexed")
check(pod.get("restartPolicy") == "Never", "podFailurePolicy needs restartPolicy: Never")
check("backoffLimitPerIndex" in spec, "backoffLimitPerIndex is not set")
check(spec.get("maxFailedIndexes", 0) <= spec["completions"], "maxFailedIndexes exceeds completions")
check(spec["parallelism"] <= spec["completions"], "parallelism exceeds completions")
for rule in spec["podFailurePolicy"]["rules"]:
    exits = rule.get("onExitCodes")
    check(not exits or exits.get("containerName") in names, f"podFailurePolicy names no container: {rule}")
    check(rule["action"] != "FailIndex" or "backoffLimitPerIndex" in spec, "FailIndex needs backoffLimitPerIndex")
# One pod per node: a required anti-affinity term on the hostname that matches the pod itself.
labels = job["spec"]["template"]["metadata"]["labels"]
terms = pod["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
check(any(t["topologyKey"] == "kubernetes.io/hostname"
          and all(labels.get(k) == v for k, v in t["labelSelector"]["matchLabels"].items()) for t in terms),
      "no required anti-affinity on kubernetes.io/hostname that selects the fleet's own pods")
# Every $(VAR) is defined, every ConfigMap key exists, the token file's mode is one podbench takes.
for c in pod["containers"]:
    env = {e["name"]: e for e in c.get("env", [])}
    for var in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", " ".join(c.get("args", []))):
        check(var in env, f"container {c['name']}: $({var}) is not in its env (Kubernetes would pass it verbatim)")
    for e in env.values():
        ref = (e.get("valueFrom") or {}).get("configMapKeyRef")
        if ref:
            data = (base.get(("ConfigMap", ref["name"])) or {}).get("data") or {}
            check(ref["key"] in data, f"container {c['name']}: ConfigMap {ref['name']} has no key {ref['key']}")
for v in pod["volumes"]:
    if "secret" in v:
        check(v["secret"].get("defaultMode", 0o644) & 0o037 == 0,
              f"secret volume {v['name']}: podbench refuses a token file others may read or its group write")
# The io_uring variant: the Localhost profile and nothing else changed.
seccomp = lambda docs: docs[("Job", "podbench-fleet")]["spec"]["template"]["spec"]["securityContext"]["seccompProfile"]
check(seccomp(base) == {"type": "RuntimeDefault"},
      f"the fleet's seccomp profile is {seccomp(base)}, not RuntimeDefault")
localhost = seccomp(uring)
check(localhost.get("type") == "Localhost", f"the io_uring variant's seccomp profile is {localhost}, not Localhost")
profile_name = os.path.basename(localhost.get("localhostProfile", ""))
check(os.path.isfile(os.path.join(component, profile_name)),
      f"{component} has no {profile_name!r} (the localhostProfile to install on the nodes)")
same = copy.deepcopy(uring)
seccomp(same).clear()
seccomp(same).update(seccomp(base))
check(same == base, "the io_uring variant differs from the fleet in more than its seccomp profile")
# The profile: plain OCI (what containerd reads), refusing by default, allowing io_uring.
if os.path.isfile(os.path.join(component, profile_name)):
    profile = json.load(open(os.path.join(component, profile_name)))
    oci = {"defaultAction", "defaultErrnoRet", "architectures", "flags", "listenerPath", "listenerMetadata", "syscalls"}
    check(set(profile) <= oci, f"profile keys outside the OCI spec (containerd ignores them): {set(profile) - oci}")
    check(profile["defaultAction"] not in ("SCMP_ACT_ALLOW", "SCMP_ACT_LOG"), "the profile allows by default")
    for rule in profile["syscalls"]:
        check(set(rule) <= {"names", "action", "errnoRet", "args"}, f"rule keys outside the OCI spec: {set(rule)}")
    for call in ["io_uring_setup", "io_uring_enter", "io_uring_register"]:
        rules = [r for r in profile["syscalls"] if call in r["names"]]
        check(any(r["action"] == "SCMP_ACT_ALLOW" and not r.get("args") for r in rules),
              f"the profile does not allow {call}")
        check(all(r["action"] == "SCMP_ACT_ALLOW" for r in rules), f"the profile also refuses {call}")
for p in problems:
    print(f"FAIL {p}")
if problems:
    sys.exit(1)
print("ok   fleet Job: Indexed, per-index failure, one pod per node, every $(VAR) and ConfigMap key defined")
print(f"ok   io_uring variant: only seccompProfile changed, to Localhost {localhost['localhostProfile']};"
      f" the profile allows io_uring_setup, io_uring_enter, io_uring_register")
EOF
echo "check-manifests: all passed"
