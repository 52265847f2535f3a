#!/usr/bin/python3
"""The PyTorch peer of scripts/bench.sh (issue 6): a plain PyTorch (CPU) version
of the TensorFlow deepdream notebook's render_deepdream, run on a gigadream job
file and its HDF5 model, to measure what a straightforward implementation does
on the same machine.

usage: scripts/peer_torch_dream.py JOB.ini [--set section.key=value]...
           [--threads N] [--save OUT.png|OUT.tif|OUT.npy] [--compare FILE]...
           [--flops] [--quiet]

  JOB.ini     a gigadream job: [input] image, width, height; [model] file, layer
              (name or name:weight, ...), channels, objective (mean | square);
              [dream] mode (deepdream only), octaves, octave_scale, iterations,
              step, seed; [tiles] size (the notebook's tile_size; 0 = the whole
              image at once, no roll).  Other keys ([tiles] overlap, border,
              jitter; [output]) are gigadream's and ignored here.
  --set       overrides a key, as gigadream's --set does
  --threads   torch.set_num_threads (default 2; bench.sh sets it)
  --save      writes the result: .npy (float32 H x W x 3) or an 8-bit image
  --compare   a result to compare with: an 8-bit image gigadream wrote, one of
              its checkpoints (.h5, /image: the float image), or a .npy this
              script saved; prints the PSNR of our result and of our seed
              against it, the correlation of the two updates (result - seed),
              and its objective measured here the same way as ours
  --flops     only prints the FLOP count (no torch needed)

What it does, as the notebook does (and nothing more clever):
  - the model: every node the layer needs, from the HDF5 file (models/README.md)
    with h5py, as torch ops: the input normalization x = pixel * norm_scale +
    norm_offset, conv2d (OIHW weights, groups, dilation, bias) after F.pad with
    TensorFlow SAME padding (the odd extra pixel at bottom/right), relu / relu6
    (clamp 0..6), add, concat, average pool (padding left out of the average)
    and max pool;
  - the seed: the image resized to [input] width x height with gigadream's
    Lanczos-3 (half-pixel centres, weights normalized over the taps that exist,
    clamped to 0..255), so both start from the same pixels;
  - octaves: lo = resize(img, int32(float32(hw) / octave_scale)), hi = img -
    resize(lo, hw), bilinear with half-pixel centres (F.interpolate,
    align_corners=False); coarsest first, img = resize(img) + hi;
  - calc_grad_tiled: a random shift sx, sy in [0, tile) (numpy's RNG seeded
    with [dream] seed), the image np.roll-ed (torch.roll), tiles of `tile` over
    range(0, max(h - tile // 2, tile), tile), the gradient of mean(layer) of
    each tile by autograd (backward-data only: the weights do not require
    grad), rolled back;
  - img += g * (step / (mean(|g|) + 1e-7)).
No torch.jit, no channels_last, no batching of tiles.

Prints "peer:" log lines and one "peer-result:" line of key=value figures for
bench.sh: mpix_iter_s (image pixels x iterations / seconds of the octave loop,
model loading and seed measuring excluded), gflops (graph FLOPs on the image's
pixels, counted as gigadream's gd_model_flops counts them: forward + an equal
backward-data), kflop_per_pixel, seconds, peak_rss_mb (getrusage), objective
gain (the objective measured on the result / on the seed: the mean over the
notebook's tile grid, unshifted, of each tile's objective).
"""
import argparse
import configparser
import math
import os
import resource
import sys
import time

import h5py
import numpy as np

# ---- The job file ----------------------------------------------------------------


def load_job(path, overrides):
    cp = configparser.ConfigParser(interpolation=None, inline_comment_prefixes=(";",))
    with open(path, encoding="utf-8") as f:
        cp.read_file(f)
    for o in overrides:
        key, eq, value = o.partition("=")
        section, dot, name = key.partition(".")
        if not eq or not dot:
            sys.exit(f"peer: --set wants section.key=value, got '{o}'")
        if not cp.has_section(section):
            cp.add_section(section)
        cp.set(section, name, value)
    here = os.path.dirname(os.path.abspath(path))

    def get(section, key, default=None):
        if cp.has_option(section, key):
            return cp.get(section, key).strip()
        return default

    def rel(p):
        return p if os.path.isabs(p) else os.path.normpath(os.path.join(here, p))

    mode = get("dream", "mode", "deepdream")
    if mode != "deepdream":
        sys.exit(f"peer: [dream] mode = {mode}: only deepdream (render_deepdream) is done here")
    objective = get("model", "objective", "mean")
    if objective not in ("mean", "square"):
        sys.exit(f"peer: [model] objective = {objective}: only mean and square are done here")
    layers = []
    for part in get("model", "layer").split(","):
        name, colon, w = part.strip().partition(":")
        layers.append((name.strip(), float(w) if colon else 1.0))
    channels = get("model", "channels", "all")
    channels = None if channels in ("", "all") else [int(c) for c in channels.split(",")]
    # 'auto' lets gigadream choose its tile; the peer, like the notebook, tiles at 512.
    tile = get("tiles", "size", "512")
    tile = 512 if tile == "auto" else int(tile)
    image = get("input", "image")
    return {
        "image": image if image == "noise" else rel(image),
        "width": int(get("input", "width", "0")),
        "height": int(get("input", "height", "0")),
        "model": rel(get("model", "file")),
        "layers": layers,
        "channels": channels,
        "objective": objective,
        "octaves": int(get("dream", "octaves", "4")),
        "octave_scale": float(get("dream", "octave_scale", "1.4")),
        "iterations": int(get("dream", "iterations", "10")),
        "step": float(get("dream", "step", "1.5")),
        "seed": int(get("dream", "seed", "0")),
        "tile": tile,
    }


# ---- The HDF5 model (models/README.md) --------------------------------------------


def attr_str(a):
    return (a.decode() if isinstance(a, bytes) else str(a)).rstrip("\0")


def load_model(path):
    """Nodes as dicts, in file (topological) order, weights as numpy arrays."""
    nodes = []
    with h5py.File(path, "r") as f:
        if attr_str(f.attrs["format"]) != "gigadream-model" or int(f.attrs["format_version"]) != 1:
            sys.exit(f"peer: {path}: not a gigadream model file of format version 1")
        root = {
            "norm_scale": np.asarray(f.attrs["norm_scale"], np.float32),
            "norm_offset": np.asarray(f.attrs["norm_offset"], np.float32),
            "in_c": int(f.attrs["in_c"]),
        }
        for i in range(int(f.attrs["n_nodes"])):
            g = f["nodes/%04d" % i]
            a = g.attrs
            n = {k: int(a[k]) for k in ("out_c", "kh", "kw", "sh", "sw", "dh", "dw", "groups")}
            n.update(
                name=attr_str(a["name"]),
                op=attr_str(a["op"]),
                act=attr_str(a["act"]),
                pad=attr_str(a["pad"]),
                inputs=[int(x) for x in a["inputs"]] if int(a["n_inputs"]) > 0 else [],
                pads=[int(x) for x in a["pads"]],
                weights=g["weights"][()] if "weights" in g else None,
                bias=g["bias"][()] if "bias" in g else None,
            )
            nodes.append(n)
    return root, nodes


def find_node(nodes, name):
    for i, n in enumerate(nodes):
        if n["name"] == name:
            return i
    sys.exit(f"peer: no layer '{name}' in the model")


def ancestors(nodes, targets):
    need = [False] * len(nodes)
    stack = list(targets)
    while stack:
        i = stack.pop()
        if not need[i]:
            need[i] = True
            stack.extend(nodes[i]["inputs"])
    return need


def window_axis(pad, n_in, k, s, d, before, after):
    """Output size and padding of one axis: gigadream's window_axis (src/model.c)."""
    eff = (k - 1) * d + 1
    if pad == "same":
        out = (n_in + s - 1) // s
        total = max((out - 1) * s + eff - n_in, 0)
        return out, total // 2, total - total // 2
    if pad == "valid":
        return ((n_in - eff) // s + 1 if n_in >= eff else 0), 0, 0
    return ((n_in + before + after - eff) // s + 1 if n_in + before + after >= eff else 0), before, after


def node_padding(n, h, w):
    d_h, d_w = (n["dh"], n["dw"]) if n["op"] == "conv" else (1, 1)
    t, b, l, r = n["pads"]
    oh, pt, pb = window_axis(n["pad"], h, n["kh"], n["sh"], d_h, t, b)
    ow, pl, pr = window_axis(n["pad"], w, n["kw"], n["sw"], d_w, l, r)
    return oh, ow, (pl, pr, pt, pb)


def graph_flops(root, nodes, need, h, w):
    """Forward FLOPs for an h x w input, as gd_model_flops counts them (backward = forward)."""
    shapes = [None] * len(nodes)
    shapes[0] = (root["in_c"], h, w)
    fwd = 0.0
    for i, n in enumerate(nodes):
        if i == 0 or not need[i]:
            continue
        c, ih, iw = shapes[n["inputs"][0]]
        op = n["op"]
        if op == "conv":
            oh, ow, _ = node_padding(n, ih, iw)
            shapes[i] = (n["out_c"], oh, ow)
        elif op in ("avgpool", "maxpool"):
            oh, ow, _ = node_padding(n, ih, iw)
            shapes[i] = (c, oh, ow)
        elif op == "concat":
            shapes[i] = (sum(shapes[j][0] for j in n["inputs"]), ih, iw)
        elif op in ("act", "add"):
            shapes[i] = (c, ih, iw)
        else:
            sys.exit(f"peer: node '{n['name']}': op {op} is not done here")
        oc, oh, ow = shapes[i]
        outs = float(oc) * oh * ow
        if op == "conv":
            fwd += 2.0 * outs * (c // n["groups"]) * n["kh"] * n["kw"]
        elif op in ("avgpool", "maxpool"):
            fwd += outs * n["kh"] * n["kw"]
        elif op in ("act", "add"):
            fwd += outs
    return fwd, fwd


# ---- The seed ---------------------------------------------------------------------


def lanczos_matrix(src, dst):
    """dst x src weights of gigadream's Lanczos-3 (src/resample.c)."""
    scale = src / dst
    stretch = max(scale, 1.0)
    sup = 3.0 * stretch
    m = np.zeros((dst, src), np.float64)
    for i in range(dst):
        c = (i + 0.5) * scale - 0.5
        a = max(int(math.floor(c - sup)) + 1, 0)
        b = min(int(math.ceil(c + sup)), src)
        t = np.abs((np.arange(a, b) - c) / stretch)
        pt = np.pi * np.maximum(t, 1e-300)
        k = np.where(t < 1e-12, 1.0, np.where(t >= 3.0, 0.0, 3.0 * np.sin(pt) * np.sin(pt / 3.0) / (pt * pt)))
        s = k.sum()
        m[i, a:b] = k / s if s != 0 else 1.0 / (b - a)
    return m.astype(np.float32)


def read_seed(job):
    w, h = job["width"], job["height"]
    if job["image"] == "noise":
        # The notebook's img_noise (not gigadream's Philox noise: same law, other numbers).
        rng = np.random.RandomState(job["seed"])
        return (rng.uniform(size=(h, w, 3)) + 100.0).astype(np.float32)
    from PIL import Image

    img = np.asarray(Image.open(job["image"]).convert("RGB"), np.float32)
    sh, sw = img.shape[:2]
    if w == 0 and h == 0:
        return img
    if h == 0:
        h = max(1, int(math.floor(sh * w / sw + 0.5)))
    if w == 0:
        w = max(1, int(math.floor(sw * h / sh + 0.5)))
    if (h, w) == (sh, sw):
        return img
    tmp = np.einsum("xj,ijc->ixc", lanczos_matrix(sw, w), img)  # horizontal pass
    out = np.einsum("yi,ixc->yxc", lanczos_matrix(sh, h), tmp)  # vertical pass
    return np.clip(out, 0.0, 255.0).astype(np.float32)


# ---- The network in torch ---------------------------------------------------------


class Net:
    """The subgraph the objective needs, as plain torch ops on a [1, C, H, W] pixel tensor."""

    def __init__(self, torch, root, nodes, targets):
        self.t = torch
        self.F = torch.nn.functional
        self.nodes = nodes
        self.targets = targets
        self.need = ancestors(nodes, targets)
        c = len(root["norm_scale"])
        self.scale = torch.from_numpy(root["norm_scale"]).reshape(1, c, 1, 1)
        self.offset = torch.from_numpy(root["norm_offset"]).reshape(1, c, 1, 1)
        self.w = {}
        self.b = {}
        for i, n in enumerate(nodes):
            if self.need[i] and n["weights"] is not None:
                self.w[i] = torch.from_numpy(np.ascontiguousarray(n["weights"], np.float32))
                if n["op"] == "conv":
                    ci = n["weights"].size // (n["out_c"] * n["kh"] * n["kw"])
                    self.w[i] = self.w[i].reshape(n["out_c"], ci, n["kh"], n["kw"])
            if self.need[i] and n["bias"] is not None:
                self.b[i] = torch.from_numpy(np.ascontiguousarray(n["bias"], np.float32))
        last = max(targets)
        self.keep = [i for i in range(last + 1) if self.need[i]]

    def act(self, x, a):
        if a == "relu":
            return self.F.relu(x)
        if a == "relu6":
            return self.t.clamp(x, 0.0, 6.0)
        return x

    def __call__(self, pixels):
        F, t = self.F, self.t
        outs = {}
        for i in self.keep:
            n = self.nodes[i]
            op = n["op"]
            x = outs[n["inputs"][0]] if n["inputs"] else None
            if op == "input":
                y = pixels * self.scale + self.offset
            elif op == "conv":
                _, _, pad = node_padding(n, x.shape[2], x.shape[3])
                if any(pad):
                    x = F.pad(x, pad)
                y = F.conv2d(x, self.w[i], self.b.get(i), (n["sh"], n["sw"]), 0, (n["dh"], n["dw"]), n["groups"])
                y = self.act(y, n["act"])
            elif op == "act":
                y = self.act(x, n["act"])
            elif op == "add":
                y = self.act(x + outs[n["inputs"][1]], n["act"])
            elif op == "concat":
                y = t.cat([outs[j] for j in n["inputs"]], 1)
            elif op == "maxpool":
                _, _, pad = node_padding(n, x.shape[2], x.shape[3])
                y = F.max_pool2d(F.pad(x, pad, value=-math.inf), (n["kh"], n["kw"]), (n["sh"], n["sw"]))
            elif op == "avgpool":
                _, _, pad = node_padding(n, x.shape[2], x.shape[3])
                k, s = (n["kh"], n["kw"]), (n["sh"], n["sw"])
                ones = t.ones_like(x[:, :1])
                y = F.avg_pool2d(F.pad(x, pad), k, s) / F.avg_pool2d(F.pad(ones, pad), k, s)
            else:
                sys.exit(f"peer: node '{n['name']}': op {op} is not done here")
            outs[i] = y
        return [outs[i] for i in self.targets]


def make_objective(torch, net, job):
    weights = [w for _, w in job["layers"]]
    ch = job["channels"]
    square = job["objective"] == "square"

    def score(pixels):
        total = 0.0
        for a, w in zip(net(pixels), weights):
            if ch is not None:
                a = a[:, ch]
            total = total + w * (a * a if square else a).mean()
        return total

    return score


# ---- The notebook's loop ----------------------------------------------------------


def tile_starts(n, sz):
    return range(0, max(n - sz // 2, sz), sz)


def calc_grad_tiled(torch, score, img, sz, rng):
    """The notebook's calc_grad_tiled on a [1, 3, H, W] tensor (sz = 0: whole image, no roll)."""
    if sz <= 0:
        sub = img.detach().clone().requires_grad_(True)
        (g,) = torch.autograd.grad(score(sub), sub)
        return g
    h, w = img.shape[2], img.shape[3]
    sx, sy = rng.randint(sz, size=2)
    img_shift = torch.roll(torch.roll(img, int(sx), 3), int(sy), 2)
    grad = torch.zeros_like(img)
    for y in tile_starts(h, sz):
        for x in tile_starts(w, sz):
            sub = img_shift[:, :, y : y + sz, x : x + sz].clone().requires_grad_(True)
            (g,) = torch.autograd.grad(score(sub), sub)
            grad[:, :, y : y + sz, x : x + sz] = g
    return torch.roll(torch.roll(grad, -int(sx), 3), -int(sy), 2)


def measure(torch, score, img, sz):
    """Mean over the notebook's tile grid (unshifted) of each tile's objective."""
    with torch.no_grad():
        if sz <= 0:
            return float(score(img))
        h, w = img.shape[2], img.shape[3]
        vals = [float(score(img[:, :, y : y + sz, x : x + sz])) for y in tile_starts(h, sz) for x in tile_starts(w, sz)]
    return sum(vals) / len(vals)


def resize(torch, img, hw):
    return torch.nn.functional.interpolate(img, size=tuple(int(v) for v in hw), mode="bilinear", align_corners=False)


def render_deepdream(torch, score, img0, job, log):
    """Returns the result and the seconds of each iteration."""
    img = img0
    octaves = []
    for _ in range(job["octaves"] - 1):
        hw = img.shape[2:]
        lo = resize(torch, img, np.int32(np.float32(hw) / np.float32(job["octave_scale"])))
        octaves.append(img - resize(torch, lo, hw))
        img = lo
    rng = np.random.RandomState(job["seed"])
    times = []
    for octave in range(job["octaves"]):
        if octave > 0:
            hi = octaves[-octave]
            img = resize(torch, img, hi.shape[2:]) + hi
        for i in range(job["iterations"]):
            t0 = time.perf_counter()
            g = calc_grad_tiled(torch, score, img, job["tile"], rng)
            img = img + g * (job["step"] / (g.abs().mean() + 1e-7))
            times.append(time.perf_counter() - t0)
            log(f"octave {octave + 1}/{job['octaves']} iteration {i + 1}/{job['iterations']}: {img.shape[3]}x{img.shape[2]} in {times[-1]:.2f} s")
    return img, times


# ---- Comparison -------------------------------------------------------------------


def psnr(a, b):
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10.0 * math.log10(255.0 * 255.0 / mse)


def correlation(a, b):
    a = a.astype(np.float64).ravel() - a.mean()
    b = b.astype(np.float64).ravel() - b.mean()
    return float(a @ b / math.sqrt((a @ a) * (b @ b) + 1e-300))


def read_result(path):
    """A result as float32 H x W x 3: a gigadream checkpoint's /image, a .npy, or an 8-bit image."""
    if path.endswith(".npy"):
        return np.load(path).astype(np.float32)
    if path.endswith(".h5"):
        with h5py.File(path, "r") as f:
            return np.asarray(f["image"][()], np.float32)
    from PIL import Image

    return np.asarray(Image.open(path).convert("RGB"), np.float32)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("job")
    ap.add_argument("--set", action="append", default=[], dest="overrides")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--save")
    ap.add_argument("--compare", action="append", default=[])
    ap.add_argument("--flops", action="store_true")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args()

    def log(msg):
        if not args.quiet:
            print("peer: " + msg, file=sys.stderr, flush=True)

    job = load_job(args.job, args.overrides)
    root, nodes = load_model(job["model"])
    targets = [find_node(nodes, name) for name, _ in job["layers"]]
    need = ancestors(nodes, targets)

    # Octave sizes as the loop makes them, for the FLOP count.
    if job["image"] == "noise" or job["width"] or job["height"]:
        h, w = job["height"], job["width"]
        if (h == 0 or w == 0) and job["image"] != "noise":
            from PIL import Image

            sw, sh = Image.open(job["image"]).size
            if h == 0:
                h = max(1, int(math.floor(sh * w / sw + 0.5)))
            else:
                w = max(1, int(math.floor(sw * h / sh + 0.5)))
    else:
        from PIL import Image

        w, h = Image.open(job["image"]).size
    sizes = [(h, w)]
    for _ in range(job["octaves"] - 1):
        hw = np.int32(np.float32(sizes[-1]) / np.float32(job["octave_scale"]))
        sizes.append((int(hw[0]), int(hw[1])))
    flops = sum(sum(graph_flops(root, nodes, need, oh, ow)) for oh, ow in sizes) * job["iterations"]
    mpix = sum(oh * ow for oh, ow in sizes) * job["iterations"] / 1e6
    kflop_px = sum(graph_flops(root, nodes, need, h, w)) / (h * w) / 1e3
    if args.flops:
        print(f"peer-flops: gflop={flops / 1e9:.4f} mpix_iter={mpix:.4f} kflop_per_pixel={kflop_px:.4f}")
        return

    import torch

    torch.set_num_threads(args.threads)
    log(f"torch {torch.__version__}, {torch.get_num_threads()} threads, oneDNN {'on' if torch.backends.mkldnn.is_available() else 'off'}")
    net = Net(torch, root, nodes, targets)
    score = make_objective(torch, net, job)
    seed = read_seed(job)
    img0 = torch.from_numpy(np.ascontiguousarray(seed.transpose(2, 0, 1)))[None]
    names = ", ".join(n for n, _ in job["layers"])
    log(f"{os.path.basename(job['model'])} to {names} ({sum(need)} nodes), {w}x{h}, {job['octaves']} octave(s) x {job['iterations']} iteration(s), step {job['step']:g}, tile {job['tile']}")
    log(f"{kflop_px:.2f} kFLOP/pixel/iteration (forward + backward-data, from the graph)")
    obj_seed = measure(torch, score, img0, job["tile"])
    log(f"objective on the seed: {obj_seed:.6g}")

    img, times = render_deepdream(torch, score, img0, job, log)
    seconds = sum(times)
    obj_out = measure(torch, score, img, job["tile"])
    result = img[0].permute(1, 2, 0).contiguous().numpy()
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    log(f"dreamed {mpix:.2f} MPix-iterations in {seconds:.2f} s: {mpix / seconds:.3f} MPix-iter/s, {flops / seconds / 1e9:.1f} GFLOP/s")
    log(f"objective on the result: {obj_out:.6g} ({obj_out / obj_seed:.3f}x the seed's {obj_seed:.6g})")
    log(f"peak memory: {rss_mb:.1f} MB")
    for path in args.compare:
        other = read_result(path)
        if other.shape != result.shape:
            sys.exit(f"peer: {path} is {other.shape[1]}x{other.shape[0]}, our result {result.shape[1]}x{result.shape[0]}")
        quant = "float" if path.endswith((".h5", ".npy")) else "8-bit"
        ours = result if quant == "float" else np.clip(np.floor(result + 0.5), 0, 255)
        t_other = torch.from_numpy(np.ascontiguousarray(other.transpose(2, 0, 1)))[None]
        obj_other = measure(torch, score, t_other, job["tile"])
        print(
            f"peer-compare: file={path} values={quant} psnr_result={psnr(ours, other):.2f} psnr_seed={psnr(seed, other):.2f} "
            f"psnr_result_seed={psnr(ours, seed):.2f} update_correlation={correlation(ours - seed, other - seed):.4f} "
            f"objective_file={obj_other:.6g} gain_file={obj_other / obj_seed:.4f}",
            flush=True,
        )
    if args.save:
        if args.save.endswith(".npy"):
            np.save(args.save, result)
        else:
            from PIL import Image

            Image.fromarray(np.clip(np.floor(result + 0.5), 0, 255).astype(np.uint8)).save(args.save)
    print(
        f"peer-result: mpix_iter_s={mpix / seconds:.4f} gflops={flops / seconds / 1e9:.3f} seconds={seconds:.3f} "
        f"first_iter_s={times[0]:.3f} mpix_iter={mpix:.4f} kflop_per_pixel={kflop_px:.4f} peak_rss_mb={rss_mb:.1f} "
        f"objective_seed={obj_seed:.6g} objective_out={obj_out:.6g} gain={obj_out / obj_seed:.4f}",
        flush=True,
    )


if __name__ == "__main__":
    main()
