#!/usr/bin/env python3
"""Write golden cases for dsconv with PyTorch in float64.

A case is a folder (format in README.md, "Golden cases"):
  case.json                      {"stride":[sh,sw], "padding":[ph,pw], "dilation":[dh,dw]}
  x.npy w_dw.npy w_pw.npy dy.npy  float32 inputs (b_dw.npy, b_pw.npy with biases)
  y.npy dx.npy dw_dw.npy dw_pw.npy float64 expected results (db_dw.npy, db_pw.npy with biases)

The inputs are drawn in float32 and the expected results are computed from exactly those
values in float64, so the expected values carry no float32 rounding of their own.

  make_cases.py --out tests/data/cases --preset test      the cases committed to the repository
  make_cases.py --out /tmp/cases --random 5 --seed 7      random shapes, for a fresh check
  make_cases.py --out /tmp/c --name mine --n 2 --c-in 8 --c-out 16 --h 9 --w 9 --k 3 3 ...

capture_case() is also importable: it writes the case for any depthwise-separable pair of
torch.nn.Conv2d modules from a real model, on an input of your choosing.
"""
import argparse
import json
import os
import random
import shutil
import sys

import numpy as np

try:  # --help works without PyTorch; making a case needs it (exit 3 when it is missing)
    import torch
    import torch.nn.functional as F
except (ImportError, OSError) as e:  # OSError: a CUDA library it links could not be loaded
    torch = F = None
    TORCH_PROBLEM = str(e)

# The committed set covers: bias and no bias, rectangular kernels, stride, dilation,
# padding 0, padding wider than K/2, K=1, and channel counts above 128.
TEST_PRESET = [
    dict(name="basic_3x3", n=2, c_in=3, c_out=5, h=7, w=9, k=(3, 3), stride=(1, 1), padding=(1, 1), dilation=(1, 1), bias=False),
    dict(name="bias_rect_kernel", n=1, c_in=4, c_out=6, h=8, w=11, k=(3, 5), stride=(1, 2), padding=(1, 2), dilation=(1, 1), bias=True),
    dict(name="stride2_dilation2", n=2, c_in=3, c_out=4, h=13, w=12, k=(3, 3), stride=(2, 2), padding=(2, 2), dilation=(2, 2), bias=True),
    dict(name="k1_pad0", n=2, c_in=5, c_out=3, h=6, w=5, k=(1, 1), stride=(1, 1), padding=(0, 0), dilation=(1, 1), bias=False),
    dict(name="wide_channels", n=1, c_in=130, c_out=136, h=5, w=6, k=(3, 3), stride=(1, 1), padding=(1, 1), dilation=(1, 1), bias=True),
    dict(name="k5_stride3_pad0", n=1, c_in=3, c_out=2, h=17, w=16, k=(5, 5), stride=(3, 3), padding=(0, 0), dilation=(1, 1), bias=False),
    dict(name="pad_wider_than_kernel", n=1, c_in=2, c_out=3, h=5, w=4, k=(3, 3), stride=(1, 1), padding=(3, 3), dilation=(1, 1), bias=False),
    dict(name="k7_rect_stride_dil", n=2, c_in=6, c_out=4, h=15, w=14, k=(7, 3), stride=(2, 1), padding=(3, 0), dilation=(1, 2), bias=True),
]


def out_size(size, k, s, p, d):
    return (size + 2 * p - d * (k - 1) - 1) // s + 1


def save(folder, name, array):
    np.save(os.path.join(folder, name + ".npy"), np.ascontiguousarray(array))


def write_case(folder, x, w_dw, w_pw, b_dw, b_pw, dy, stride, padding, dilation):
    """Compute the reference in float64 from float32 inputs and write the case folder.

    x (N,C_in,H,W), w_dw (C_in,1,KH,KW), w_pw (C_out,C_in,1,1), dy (N,C_out,HO,WO): float32
    numpy arrays; b_dw, b_pw: float32 arrays or None.
    """
    c_in = x.shape[1]
    t64 = {k: (None if v is None else torch.from_numpy(v.astype(np.float64)).requires_grad_(k != "dy"))
           for k, v in dict(x=x, w_dw=w_dw, w_pw=w_pw, b_dw=b_dw, b_pw=b_pw, dy=dy).items()}
    t = F.conv2d(t64["x"], t64["w_dw"], t64["b_dw"], stride=stride, padding=padding,
                 dilation=dilation, groups=c_in)
    y = F.conv2d(t, t64["w_pw"], t64["b_pw"])
    assert tuple(y.shape) == tuple(dy.shape), f"dy shape {dy.shape} does not match y {tuple(y.shape)}"
    y.backward(t64["dy"])

    # Written into a temporary folder beside the case, then renamed: a failure midway leaves no
    # partial case for `dsconv check` to read.
    final, folder = folder, f"{folder.rstrip(os.sep)}.tmp.{os.getpid()}"
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    try:
        write_case_files(folder, x, w_dw, w_pw, b_dw, b_pw, dy, stride, padding, dilation, y, t64)
        if os.path.isdir(final):
            shutil.rmtree(final)
        os.replace(folder, final)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def write_case_files(folder, x, w_dw, w_pw, b_dw, b_pw, dy, stride, padding, dilation, y, t64):
    with open(os.path.join(folder, "case.json"), "w") as f:
        json.dump({"stride": list(stride), "padding": list(padding), "dilation": list(dilation)}, f)
        f.write("\n")
    for name, array in dict(x=x, w_dw=w_dw, w_pw=w_pw, dy=dy).items():
        save(folder, name, array)
    save(folder, "y", y.detach().numpy())
    save(folder, "dx", t64["x"].grad.numpy())
    save(folder, "dw_dw", t64["w_dw"].grad.numpy())
    save(folder, "dw_pw", t64["w_pw"].grad.numpy())
    if b_dw is not None:
        save(folder, "b_dw", b_dw)
        save(folder, "db_dw", t64["b_dw"].grad.numpy())
    if b_pw is not None:
        save(folder, "b_pw", b_pw)
        save(folder, "db_pw", t64["b_pw"].grad.numpy())


def random_case(folder, rng, n, c_in, c_out, h, w, k, stride, padding, dilation, bias):
    kh, kw = k
    ho = out_size(h, kh, stride[0], padding[0], dilation[0])
    wo = out_size(w, kw, stride[1], padding[1], dilation[1])
    if ho < 1 or wo < 1:
        raise ValueError(f"{folder}: the kernel does not fit the padded input (output {ho}x{wo})")
    f32 = lambda *shape: rng.standard_normal(shape).astype(np.float32)
    write_case(folder, f32(n, c_in, h, w), f32(c_in, 1, kh, kw), f32(c_out, c_in, 1, 1),
               f32(c_in) if bias else None, f32(c_out) if bias else None, f32(n, c_out, ho, wo),
               stride, padding, dilation)


def random_shape(r):
    """A random shape in the ranges the test preset covers."""
    while True:
        k = (r.choice([1, 3, 5, 7]), r.choice([1, 3, 5, 7]))
        shape = dict(n=r.randint(1, 3), c_in=r.randint(1, 140), c_out=r.randint(1, 140),
                     h=r.randint(1, 20), w=r.randint(1, 20), k=k,
                     stride=(r.randint(1, 3), r.randint(1, 3)),
                     padding=(r.randint(0, 4), r.randint(0, 4)),
                     dilation=(r.randint(1, 2), r.randint(1, 2)), bias=r.random() < 0.5)
        ho = out_size(shape["h"], k[0], shape["stride"][0], shape["padding"][0], shape["dilation"][0])
        wo = out_size(shape["w"], k[1], shape["stride"][1], shape["padding"][1], shape["dilation"][1])
        if ho >= 1 and wo >= 1:
            return shape


def capture_case(folder, depthwise, pointwise, x, dy=None, seed=0):
    """Write a case from a real model's depthwise (groups=C_in) and 1x1 torch.nn.Conv2d pair."""
    if depthwise.groups != depthwise.in_channels or depthwise.out_channels != depthwise.in_channels:
        raise ValueError("the depthwise conv must have groups == in_channels == out_channels")
    if pointwise.kernel_size != (1, 1) or pointwise.stride != (1, 1) or pointwise.padding != (0, 0):
        raise ValueError("the pointwise conv must be 1x1, stride 1, padding 0")
    as_np = lambda t: None if t is None else t.detach().cpu().float().numpy()
    with torch.no_grad():
        y = pointwise(depthwise(x.float()))
    if dy is None:
        dy = torch.from_numpy(np.random.default_rng(seed).standard_normal(tuple(y.shape)).astype(np.float32))
    write_case(folder, as_np(x), as_np(depthwise.weight), as_np(pointwise.weight), as_np(depthwise.bias),
               as_np(pointwise.bias), as_np(dy), depthwise.stride, depthwise.padding, depthwise.dilation)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="folder that receives one sub-folder per case")
    p.add_argument("--seed", type=int, default=20261126)
    g = p.add_mutually_exclusive_group(required=True)
    g.add_argument("--preset", choices=["test"], help="a named set of cases")
    g.add_argument("--random", type=int, metavar="COUNT", help="COUNT cases of random shapes")
    g.add_argument("--name", help="one case with the shape given by the options below")
    p.add_argument("--n", type=int, default=1)
    p.add_argument("--c-in", type=int, default=4)
    p.add_argument("--c-out", type=int, default=8)
    p.add_argument("--h", type=int, default=8)
    p.add_argument("--w", type=int, default=8)
    p.add_argument("--k", type=int, nargs=2, default=(3, 3), metavar=("KH", "KW"))
    p.add_argument("--stride", type=int, nargs=2, default=(1, 1))
    p.add_argument("--padding", type=int, nargs=2, default=(1, 1))
    p.add_argument("--dilation", type=int, nargs=2, default=(1, 1))
    p.add_argument("--bias", action="store_true")
    a = p.parse_args()
    # The input first (exit 2), PyTorch after (exit 3).
    if a.random is not None and a.random < 1:
        p.error(f"--random {a.random}: expected a count of at least 1")
    if a.name is not None:
        if not a.name or os.sep in a.name or a.name.startswith("."):
            p.error(f"--name {a.name!r}: expected a plain folder name")
        for option, values, least in (("--n", [a.n], 1), ("--c-in", [a.c_in], 1), ("--c-out", [a.c_out], 1),
                                      ("--h", [a.h], 1), ("--w", [a.w], 1), ("--k", a.k, 1),
                                      ("--stride", a.stride, 1), ("--padding", a.padding, 0),
                                      ("--dilation", a.dilation, 1)):
            if min(values) < least:
                p.error(f"{option} {' '.join(map(str, values))}: each must be at least {least}")
        ho = out_size(a.h, a.k[0], a.stride[0], a.padding[0], a.dilation[0])
        wo = out_size(a.w, a.k[1], a.stride[1], a.padding[1], a.dilation[1])
        if ho < 1 or wo < 1:
            p.error(f"the kernel does not fit the padded input: the output would be {ho} x {wo}")
    if os.path.exists(a.out) and not os.path.isdir(a.out):
        p.error(f"--out {a.out}: not a folder")
    if torch is None:
        print(f"make_cases.py: error: PyTorch cannot be imported ({TORCH_PROBLEM}); the golden cases are "
              "computed with it (see https://pytorch.org)", file=sys.stderr)
        sys.exit(3)

    rng = np.random.default_rng(a.seed)
    if a.preset:
        cases = TEST_PRESET
    elif a.random:
        r = random.Random(a.seed)
        cases = [dict(name=f"random_{i:02d}", **random_shape(r)) for i in range(a.random)]
    else:
        cases = [dict(name=a.name, n=a.n, c_in=a.c_in, c_out=a.c_out, h=a.h, w=a.w, k=tuple(a.k),
                      stride=tuple(a.stride), padding=tuple(a.padding), dilation=tuple(a.dilation), bias=a.bias)]
    for case in cases:
        case = dict(case)
        name = case.pop("name")
        try:
            random_case(os.path.join(a.out, name), rng, **case)
        except OSError as e:
            print(f"make_cases.py: error: cannot write {os.path.join(a.out, name)}: {e.strerror or e}",
                  file=sys.stderr)
            sys.exit(2)
        print(f"wrote {os.path.join(a.out, name)}: {case}", file=sys.stderr)


if __name__ == "__main__":
    main()
