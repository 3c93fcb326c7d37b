#!/usr/bin/env python3
"""Every module a target imports is one it declares in Package.swift.

SwiftPM lets a target import any module built before it (a dependency's dependency), and its own
--explicit-target-dependency-import-check does not fire with this toolchain's build system, so
an undeclared edge compiles until the graph changes. This reads the package's targets from
`swift package dump-package` and the imports from the sources, and fails naming each import a
target does not declare.

Usage: scripts/check-imports.py [PACKAGE_DIR]   (exit 1 when an edge is undeclared)
"""
import json
import os
import re
import subprocess
import sys

# Modules of the platform and the toolchain: no package declares them.
PLATFORM = {"Foundation", "FoundationEssentials", "FoundationXML", "FoundationNetworking", "Glibc", "Musl",
            "Darwin", "Dispatch", "Synchronization", "Testing", "XCTest", "_Concurrency", "Swift", "os"}
# A product of a package dependency and the modules it brings.
PRODUCT_MODULES = {"Histogram": {"Histogram"}, "SystemPackage": {"SystemPackage"},
                   "ArgumentParser": {"ArgumentParser"}, "Benchmark": {"Benchmark"}}
IMPORT = re.compile(r"^\s*(?:@\w+(?:\([^)]*\))?\s+)*(?:(?:public|internal|package|private|fileprivate)\s+)?"
                    r"import\s+(?:(?:struct|class|enum|protocol|func|var|let|typealias)\s+)?(\w+)")
# What may come before and between a file's imports.
PREAMBLE = re.compile(r"^\s*(?://.*|#if.*|#else.*|#elseif.*|#endif.*|)$")


def imports(text: str) -> set:
    """The modules a file imports: its import lines up to its first declaration (an `import`
    inside a string, a Python script in a test say, is not one)."""
    found = set()
    in_block_comment = False
    for line in text.splitlines():
        if in_block_comment:
            in_block_comment = "*/" not in line
            continue
        if line.lstrip().startswith("/*"):
            in_block_comment = "*/" not in line
            continue
        match = IMPORT.match(line)
        if match:
            found.add(match.group(1))
        elif not PREAMBLE.match(line):
            break
    return found


def local_products(root: str, package: dict) -> dict:
    """Products of the packages this one depends on by path (the root package, for Benchmarks/
    and Fuzz/): each product's modules are its targets."""
    out = {}
    for dep in package.get("dependencies", []):
        for spec in dep.get("fileSystem", []):
            other = json.loads(subprocess.run(["swift", "package", "dump-package"], cwd=spec["path"], check=True,
                                              capture_output=True, text=True).stdout)
            for product in other["products"]:
                out[product["name"]] = set(product["targets"])
    return out


def self_test() -> None:
    """The reader of import lines finds every form Swift allows before a file's first declaration."""
    text = "\n".join([
        "// comment", "import A", "@testable import B", "#if canImport(C)", "    import C", "#else",
        "  @preconcurrency import D", "#endif", "@_spi(X) @_exported import E", "private import F",
        "public import struct G.Thing", "/* block", "import NotCode */", "", "struct S {}", "import Late",
    ])
    found = imports(text)
    assert found == {"A", "B", "C", "D", "E", "F", "G"}, found


def main() -> int:
    self_test()
    root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else ".")
    package = json.loads(subprocess.run(["swift", "package", "dump-package"], cwd=root, check=True,
                                        capture_output=True, text=True).stdout)
    products = dict(PRODUCT_MODULES)
    products.update(local_products(root, package))
    problems = []
    for target in package["targets"]:
        name, kind = target["name"], target["type"]
        if kind == "system":
            continue
        path = target.get("path") or os.path.join("Tests" if kind == "test" else "Sources", name)
        declared = {name}
        for dep in target["dependencies"]:
            if "byName" in dep:
                declared.add(dep["byName"][0])
            elif "target" in dep:
                declared.add(dep["target"][0])
            elif "product" in dep:
                declared |= products.get(dep["product"][0], {dep["product"][0]})
        for folder, _, files in os.walk(os.path.join(root, path)):
            for file in sorted(files):
                if not file.endswith(".swift"):
                    continue
                with open(os.path.join(folder, file), encoding="utf-8") as f:
                    text = f.read()
                for module in sorted(imports(text)):
                    if module not in declared and module not in PLATFORM:
                        rel = os.path.relpath(os.path.join(folder, file), root)
                        problems.append(f"{rel}: imports {module}, which target {name} does not declare")
    for line in problems:
        print(line, file=sys.stderr)
    if problems:
        print(f"check-imports: {len(problems)} undeclared import(s); add them to the target's dependencies "
              "in Package.swift", file=sys.stderr)
        return 1
    print(f"check-imports: every import of {len(package['targets'])} targets is declared")
    return 0


if __name__ == "__main__":
    sys.exit(main())
