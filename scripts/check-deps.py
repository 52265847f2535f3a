#!/usr/bin/env python3
"""Checks that calls between gigadream's source files run one way.

Reads the symbols of a build's object files with nm and draws an edge A -> B
when A's object needs a symbol B's object defines.  Files group into modules
by their folder under src/ (src/engine/simd/pw.c is in module engine); a file
directly in src/ is a module of its own, named up to its first '_'.

Prints, for every module of several files, each file's callees inside the
module, then the module graph; fails (exit 1) when two or more files of one
module, or two or more modules, reach each other (a strongly connected
component of more than one node).  Exit 2 when the build has no objects.

Also checks that each library is called only by the module(s) that own it
(DESIGN.md: only dist calls MPI, only engine oneDNN, ...), by the prefix of
the library symbols each object needs.

Usage: scripts/check-deps.py [BUILD_DIR]      (default: build)
"""
import collections
import os
import subprocess
import sys


# Library symbol prefix -> the modules that may call it.  checkpoint names
# MPI's communicator and info objects (ompi_*) for HDF5's MPI-IO driver only.
OWNERS = {
    "MPI_": {"dist"},
    "ompi_": {"dist", "checkpoint"},
    "dnnl_": {"engine"},
    "TIFF": {"imageio"},
    "png_": {"imageio"},
    "jpeg_": {"imageio"},
    "H5": {"checkpoint", "model", "h5io"},
    "ini_": {"job"},
    "cms": {"imageio"},
    "cairo_": {"gallery"},
    "protobuf_c_": {"import"},
    "onnx__": {"import"},
    "gdtf__": {"import"},
}


def module(src):
    return src.split("/")[0] if "/" in src else src[:-2].split("_")[0]


def symbols(obj, *flags):
    out = subprocess.run(["nm", *flags, obj], capture_output=True, text=True, check=True).stdout
    return [line.split() for line in out.splitlines()]


def components(nodes, edges):
    """Tarjan's strongly connected components, each sorted."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in sorted(edges[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            out.append(sorted(comp))

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    objdir = os.path.join(build, "CMakeFiles", "gdcore.dir", "src")
    # The engine's kernels are compiled once per ISA into object libraries
    # of their own (gdkern_<isa>); each object counts as its source file.
    cmf = os.path.join(build, "CMakeFiles")
    objdirs = [objdir] + sorted(os.path.join(cmf, d, "src") for d in
                                (os.listdir(cmf) if os.path.isdir(cmf) else [])
                                if d.startswith("gdkern_") and d.endswith(".dir"))
    # Only objects whose source still exists: a build dir keeps the objects
    # of files since moved or deleted.
    srcdir = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "src")
    objs = [(os.path.join(r, f), od) for od in objdirs for r, _, fs in os.walk(od) for f in fs
            if f.endswith(".c.o")]
    objs = [(o, od) for o, od in objs
            if os.path.exists(os.path.join(srcdir, os.path.relpath(o, od)[:-2]))]
    if not objs:
        print(f"check-deps: {objdir}: no object files; build first (cmake --build {build})",
              file=sys.stderr)
        return 2

    defs, needs = {}, collections.defaultdict(set)
    for obj, od in sorted(objs):
        src = os.path.relpath(obj, od)[:-2]
        needs[src]  # every file is a node, even one that calls nothing
        for parts in symbols(obj, "--defined-only", "-g"):
            if len(parts) == 3:
                defs[parts[2]] = src
        for parts in symbols(obj, "-u"):
            needs[src].add(parts[-1])

    files = collections.defaultdict(set)  # within a module
    mods = collections.defaultdict(set)   # between modules
    for src, syms in needs.items():
        for s in syms:
            dst = defs.get(s)
            if dst is None or dst == src:
                continue
            if module(dst) == module(src):
                files[src].add(dst)
            else:
                mods[module(src)].add(module(dst))

    by_module = collections.defaultdict(list)
    for src in needs:
        by_module[module(src)].append(src)

    bad = []
    strays = []
    for src in sorted(needs):
        for prefix, owners in OWNERS.items():
            if module(src) not in owners and any(s.startswith(prefix) for s in needs[src]):
                strays.append(f"{src} calls {prefix}*, which only {', '.join(sorted(owners))} may")
    for m in sorted(by_module):
        members = sorted(by_module[m])
        if len(members) < 2:
            continue
        print(f"{m}/")
        for f in members:
            print(f"  {f} -> {', '.join(sorted(files[f])) or '-'}")
        bad += [c for c in components(members, files) if len(c) > 1]
    print("modules:")
    for m in sorted(by_module):
        print(f"  {m} -> {', '.join(sorted(mods[m])) or '-'}")
    bad += [c for c in components(by_module, mods) if len(c) > 1]

    for s in strays:
        print(f"check-deps: {s}", file=sys.stderr)
    for c in bad:
        print(f"check-deps: these call each other in a circle: {' <-> '.join(c)}", file=sys.stderr)
    if not bad and not strays:
        print("check-deps: no circles; every library called by its own module only")
    return 1 if bad or strays else 0


if __name__ == "__main__":
    sys.exit(main())
