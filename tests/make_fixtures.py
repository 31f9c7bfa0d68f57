"""Generate tests/fixtures/torch_reference.json: reference loss values and gradients from PyTorch.

How to run (from the repository root):

    pip install torch==2.13.0      # CPU build is enough; any float64-capable build works
    python tests/make_fixtures.py  # rewrites tests/fixtures/torch_reference.json

losscli itself never imports torch. This script is the only place torch is used: it is run by a
developer when the loss definitions change, and its output (a plain JSON file) is committed so the
test suite can compare losscli against PyTorch without having torch installed.

The output is deterministic: every case's data comes from numpy's PCG64 generator seeded with a
CRC32 of the case's data key, all arithmetic is float64 on CPU, and running the script twice gives
a byte-identical file. See tests/fixtures/README.md for the format and the case-id scheme.
"""

from __future__ import annotations

import json
import math
import sys
import warnings
import zlib
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

torch.set_default_dtype(torch.float64)
torch.use_deterministic_algorithms(True)
torch.set_num_threads(1)
warnings.filterwarnings("ignore")  # kl_div reduction='mean' warns; that is the point of the case

OUT = Path(__file__).resolve().parent / "fixtures" / "torch_reference.json"

CASES: list[dict] = []
_IDS: set[str] = set()

REG_SHAPES = [(1,), (4,), (7,), (1, 1), (4, 3), (7, 5)]
CLS_SHAPES = [(1, 3), (4, 5), (7, 3)]
ELEMENTWISE_RED = ["mean", "sum", "none"]


# --------------------------------------------------------------------------------------- helpers
def rng_for(key: str) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(key.encode("utf-8")))


def shape_tag(shape: tuple[int, ...]) -> str:
    return f"n{shape[0]}" if len(shape) == 1 else f"n{shape[0]}x{shape[1]}"


def enc(x: float) -> float | str:
    x = float(x)
    if math.isnan(x):
        return "nan"
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return x


def encode(obj):
    if isinstance(obj, torch.Tensor):
        obj = obj.detach().tolist()
    if isinstance(obj, list):
        return [encode(e) for e in obj]
    if isinstance(obj, (bool, int)):
        return obj
    if isinstance(obj, float):
        return enc(obj)
    return obj


def t64(x) -> torch.Tensor:
    return torch.tensor(x, dtype=torch.float64)


def add_case(
    case_id: str,
    loss: str,
    options: dict,
    reduction: str,
    preds,
    targets,
    fn,
    torch_call: str,
    sample_weights=None,
) -> dict:
    """fn(p) -> loss tensor (scalar, or per-row vector for reduction 'none')."""
    assert case_id not in _IDS, case_id
    _IDS.add(case_id)
    p = torch.tensor(preds, dtype=torch.float64, requires_grad=True)
    value = fn(p)
    if reduction == "none":
        assert value.dim() == 1 and value.shape[0] == p.shape[0], (case_id, value.shape)
        for_grad = value.sum()
    else:
        assert value.dim() == 0, (case_id, value.shape)
        for_grad = value
    (grad,) = torch.autograd.grad(for_grad, p)
    case = {
        "id": case_id,
        "loss": loss,
        "options": options,
        "reduction": reduction,
        "preds": encode(list(preds) if not isinstance(preds, list) else preds),
        "targets": encode(targets),
        "sample_weights": sample_weights,
        "value": encode(value),
        "grad": encode(grad),
        "torch_call": torch_call,
    }
    CASES.append(case)
    return case


def rowmean(v: torch.Tensor) -> torch.Tensor:
    """Per-row mean of an elementwise 'none' result; 1-D inputs are one element per row."""
    return v if v.dim() == 1 else v.mean(dim=1)


# ------------------------------------------------------------------------- elementwise losses
ELEMENTWISE = {
    # loss: (torch function name, option name passed to torch, options key)
    "mse": ("mse_loss", None, None),
    "mae": ("l1_loss", None, None),
    "huber": ("huber_loss", "delta", "delta"),
    "smooth_l1": ("smooth_l1_loss", "beta", "beta"),
}


def regression_data(loss: str, shape, param: float | None, key: str):
    rng = rng_for(key)
    size = int(np.prod(shape))
    y = np.round(rng.normal(size=size) * 8) / 8  # dyadic targets so target+err is exact below
    if loss in ("huber", "smooth_l1"):
        d = float(param)
        err = rng.uniform(-3 * d, 3 * d, size=size)
        if size >= 3:
            err[0] = 0.3 * d  # quadratic zone
            err[1] = -2.5 * d  # linear zone
            err[2] = d  # exactly on the boundary (y dyadic, d dyadic -> exact)
        p = y + err
    else:
        p = rng.normal(size=size)
        if loss == "mae":
            ties = [i for i in range(size) if i % 3 == 1]
            p[ties] = y[ties]  # exact ties: torch's l1 gradient there is 0
    return p.reshape(shape).tolist(), y.reshape(shape).tolist()


def gen_elementwise():
    for loss, (fname, tparam, okey) in ELEMENTWISE.items():
        params = {"huber": [1.0, 0.5, 2.0], "smooth_l1": [1.0, 0.5]}.get(loss, [None])
        for param in params:
            options = {} if okey is None else {okey: param}
            opt_tag = "" if param is None else f"-{okey[0]}{param:g}"
            for shape in REG_SHAPES:
                key = f"{loss}{opt_tag}-{shape_tag(shape)}"
                preds, targets = regression_data(loss, shape, param, key)
                y = t64(targets)
                fn = getattr(F, fname)
                extra = {} if tparam is None else {tparam: param}
                extra_s = "" if tparam is None else f", {tparam}={param!r}"
                for red in ELEMENTWISE_RED:
                    if red == "none":
                        call = f"F.{fname}(p, y{extra_s}, reduction='none')"
                        if len(shape) == 2:
                            call += ".mean(dim=1)"

                        def f(p, y=y, fn=fn, extra=extra):
                            return rowmean(fn(p, y, reduction="none", **extra))
                    else:
                        call = f"F.{fname}(p, y{extra_s}, reduction='{red}')"

                        def f(p, y=y, fn=fn, extra=extra, red=red):
                            return fn(p, y, reduction=red, **extra)

                    add_case(
                        f"{loss}{opt_tag}-{red}-{shape_tag(shape)}",
                        loss,
                        options,
                        red,
                        preds,
                        targets,
                        f,
                        call,
                    )


def gen_rmse():
    for shape in REG_SHAPES:
        key = f"rmse-{shape_tag(shape)}"
        preds, targets = regression_data("mse", shape, None, key)
        y = t64(targets)
        add_case(
            f"rmse-mean-{shape_tag(shape)}",
            "rmse",
            {},
            "mean",
            preds,
            targets,
            lambda p, y=y: torch.sqrt(F.mse_loss(p, y, reduction="mean")),
            "torch.sqrt(F.mse_loss(p, y, reduction='mean'))",
        )
        call = "torch.sqrt(F.mse_loss(p, y, reduction='none')"
        call += ".mean(dim=1))" if len(shape) == 2 else ")"
        add_case(
            f"rmse-none-{shape_tag(shape)}",
            "rmse",
            {},
            "none",
            preds,
            targets,
            lambda p, y=y: torch.sqrt(rowmean(F.mse_loss(p, y, reduction="none"))),
            call,
        )


def gen_bce():
    for shape in REG_SHAPES:
        key = f"bce-{shape_tag(shape)}"
        rng = rng_for(key)
        size = int(np.prod(shape))
        p = rng.uniform(0.02, 0.98, size=size)
        hard = rng.integers(0, 2, size=size).astype(float)
        soft = np.round(rng.uniform(0, 1, size=size), 3)
        y = np.where(np.arange(size) % 2 == 0, hard, soft)
        datasets = [(shape_tag(shape), p.reshape(shape).tolist(), y.reshape(shape).tolist())]
        if shape == (4, 3):
            # probabilities exactly 0 and 1 (torch clamps log at -100) against hard/soft targets
            bp = [[0.0, 0.0, 0.0], [1.0, 1.0, 1.0], [0.2, 0.7, 0.9], [1e-13, 1 - 1e-13, 0.5]]
            by = [[0.0, 1.0, 0.3], [0.0, 1.0, 0.3], [1.0, 0.0, 0.5], [1.0, 0.0, 0.5]]
            datasets.append(("boundary", bp, by))
        for tag, preds, targets in datasets:
            yt = t64(targets)
            for red in ELEMENTWISE_RED:
                if red == "none":
                    call = "F.binary_cross_entropy(p, y, reduction='none')"
                    call += ".mean(dim=1)" if len(np.shape(preds)) == 2 else ""

                    def f(p, y=yt):
                        return rowmean(F.binary_cross_entropy(p, y, reduction="none"))
                else:
                    call = f"F.binary_cross_entropy(p, y, reduction='{red}')"

                    def f(p, y=yt, red=red):
                        return F.binary_cross_entropy(p, y, reduction=red)

                add_case(f"bce-{red}-{tag}", "bce", {}, red, preds, targets, f, call)


def gen_bce_logits():
    for shape in REG_SHAPES:
        key = f"bce-logits-{shape_tag(shape)}"
        rng = rng_for(key)
        size = int(np.prod(shape))
        z = rng.normal(scale=3.0, size=size)
        hard = rng.integers(0, 2, size=size).astype(float)
        soft = np.round(rng.uniform(0, 1, size=size), 3)
        y = np.where(np.arange(size) % 2 == 0, hard, soft)
        ncol = 1 if len(shape) == 1 else shape[1]
        pw_list = np.round(rng.uniform(0.5, 3.0, size=ncol), 3).tolist()
        datasets = [(shape_tag(shape), z.reshape(shape).tolist(), y.reshape(shape).tolist())]
        if shape == (4, 3):
            ez = [[1e4, -1e4, 0.0], [50.0, -50.0, 0.0], [1e4, -50.0, 50.0], [-1e4, 1e4, -0.0]]
            ey = [[0.0, 1.0, 0.5], [1.0, 0.0, 0.3], [1.0, 1.0, 0.0], [0.0, 1.0, 1.0]]
            datasets.append(("extreme", ez, ey))
        for tag, preds, targets in datasets:
            yt = t64(targets)
            pw_variants = [(None, "")]
            if len(shape) == 2:
                pw_variants.append((pw_list, "-pw"))
            pw_variants.append((2.5, "-pws"))
            for pw, pw_tag in pw_variants:
                options = {"logits": True}
                if pw is not None:
                    options["pos_weight"] = pw
                pwt = None if pw is None else t64(pw)
                pw_s = None if pw is None else "pos_weight=torch.tensor(pos_weight)"
                for red in ELEMENTWISE_RED:
                    if red == "none":
                        call = (
                            "F.binary_cross_entropy_with_logits(z, y, "
                            + (f"{pw_s}, " if pw_s else "")
                            + "reduction='none')"
                            + (".mean(dim=1)" if len(shape) == 2 else "")
                        )

                        def f(p, y=yt, pwt=pwt):
                            return rowmean(
                                F.binary_cross_entropy_with_logits(
                                    p, y, pos_weight=pwt, reduction="none"
                                )
                            )
                    else:
                        call = (
                            "F.binary_cross_entropy_with_logits(z, y, "
                            + (f"{pw_s}, " if pw_s else "")
                            + f"reduction='{red}')"
                        )

                        def f(p, y=yt, pwt=pwt, red=red):
                            return F.binary_cross_entropy_with_logits(
                                p, y, pos_weight=pwt, reduction=red
                            )

                    add_case(
                        f"bce-logits{pw_tag}-{red}-{tag}",
                        "bce-logits",
                        options,
                        red,
                        preds,
                        targets,
                        f,
                        call,
                    )


# ----------------------------------------------------------------------------- cross-entropy
def class_weights(rng, c):
    return np.round(rng.uniform(0.25, 2.0, size=c), 3).tolist()


def ce_index_targets(rng, n, c, ignore):
    y = rng.integers(0, c, size=n)
    if ignore is not None and n > 1:
        for i in range(n):
            if i % 3 == 1:
                y[i] = ignore
        if y[0] == ignore:
            y[0] = 1 if ignore == 0 else 0
    if ignore is not None and n == 1 and y[0] == ignore:
        y[0] = 1
    return [int(v) for v in y]


EXTREME_Z = [
    [1000.0, 0.0, 0.0],
    [1e4, -1e4, 0.0],
    [1e5, -1e5, 1e5],
    [-1e5, 1e5, 0.0],
    [3.0, 3.0, 3.0],
    [0.0, 0.0, 0.0],
    [-1e4, -1e4, -1e4],
]
EXTREME_Y = [1, 1, 0, 2, 2, 0, 1]

CE_INDEX_COMBOS = [
    # (class_weights?, ignore_index, label_smoothing)
    (False, None, None),
    (True, None, None),
    (False, -100, None),
    (False, 0, None),
    (False, None, 0.1),
    (False, None, 0.3),
    (True, -100, None),
    (True, 0, None),
    (True, None, 0.1),
    (True, None, 0.3),
    (False, -100, 0.1),
    (False, 0, 0.3),
    (True, -100, 0.1),
    (True, 0, 0.3),
]


def opt_tag(w, ig, ls):
    tag = ""
    if w:
        tag += "-w"
    if ig is not None:
        tag += f"-ig{'m100' if ig == -100 else ig}"
    if ls is not None:
        tag += f"-ls{ls:g}"
    return tag


def ce_call(w, ig, ls, red, target="y"):
    args = ["z", target]
    if w:
        args.append("weight=class_weights")
    if ig is not None:
        args.append(f"ignore_index={ig}")
    if ls is not None:
        args.append(f"label_smoothing={ls}")
    args.append(f"reduction='{red}'")
    return f"F.cross_entropy({', '.join(args)})"


def gen_ce_logits_index():
    for w, ig, ls in CE_INDEX_COMBOS:
        tag = opt_tag(w, ig, ls)
        datasets = []
        for shape in CLS_SHAPES + ([(4, 1)] if not (w or ig is not None or ls) else []):
            n, c = shape
            key = f"ce-logits-index{tag}-{shape_tag(shape)}"
            rng = rng_for(key)
            z = rng.normal(scale=2.0, size=shape).tolist()
            y = ce_index_targets(rng, n, c, ig) if c > 1 else [0] * n
            cw = class_weights(rng, c)
            datasets.append((shape_tag(shape), z, y, cw))
        rng = rng_for(f"ce-logits-index{tag}-extreme")
        ey = list(EXTREME_Y)
        if ig == -100:
            ey[5] = -100
        datasets.append(("extreme", EXTREME_Z, ey, class_weights(rng, 3)))
        if ig is not None:
            rng = rng_for(f"ce-logits-index{tag}-allignored")
            datasets.append(
                (
                    "allignored",
                    rng.normal(scale=2.0, size=(4, 3)).tolist(),
                    [ig] * 4,
                    class_weights(rng, 3),
                )
            )
        for dtag, z, y, cw in datasets:
            options = {"logits": True, "targets": "index"}
            if w:
                options["class_weights"] = cw
            if ig is not None:
                options["ignore_index"] = ig
            if ls is not None:
                options["label_smoothing"] = ls
            yt = torch.tensor(y, dtype=torch.long)
            wt = t64(cw) if w else None
            extra = {"weight": wt, "label_smoothing": ls or 0.0}
            if ig is not None:
                extra["ignore_index"] = ig
            for red in ELEMENTWISE_RED:
                add_case(
                    f"ce-logits-index{tag}-{red}-{dtag}",
                    "ce",
                    options,
                    red,
                    z,
                    y,
                    lambda p, yt=yt, extra=extra, red=red: F.cross_entropy(
                        p, yt, reduction=red, **extra
                    ),
                    ce_call(w, ig, ls, red),
                )


CE_PROB_COMBOS = [
    (False, None),
    (True, None),
    (False, 0.1),
    (False, 0.3),
    (True, 0.1),
    (True, 0.3),
]


def soft_rows(rng, n, c):
    rows = []
    for i in range(n):
        if i % 3 == 0:
            r = np.zeros(c)
            r[rng.integers(0, c)] = 1.0
        else:
            r = rng.dirichlet(np.ones(c))
        rows.append(r.tolist())
    return rows


def gen_ce_logits_prob():
    for w, ls in CE_PROB_COMBOS:
        tag = opt_tag(w, None, ls)
        datasets = []
        for shape in CLS_SHAPES:
            n, c = shape
            rng = rng_for(f"ce-logits-prob{tag}-{shape_tag(shape)}")
            z = rng.normal(scale=2.0, size=shape).tolist()
            datasets.append((shape_tag(shape), z, soft_rows(rng, n, c), class_weights(rng, c)))
        rng = rng_for(f"ce-logits-prob{tag}-extreme")
        ey = [
            [0.0, 1.0, 0.0],
            [0.0, 0.5, 0.5],
            [1.0, 0.0, 0.0],
            [0.25, 0.25, 0.5],
            [0.0, 0.0, 1.0],
            [1 / 3, 1 / 3, 1 / 3],
            [0.1, 0.6, 0.3],
        ]
        datasets.append(("extreme", EXTREME_Z, ey, class_weights(rng, 3)))
        # rows that do not sum to 1 (0.7, 2.0, 1.0, 0.0): torch's grad is softmax*sum(y) - y
        rng = rng_for(f"ce-logits-prob{tag}-unnormalized")
        uz = rng.normal(scale=2.0, size=(4, 3)).tolist()
        uy = [[0.2, 0.4, 0.1], [0.5, 1.0, 0.5], [0.0, 0.25, 0.75], [0.0, 0.0, 0.0]]
        datasets.append(("unnormalized", uz, uy, class_weights(rng, 3)))
        for dtag, z, y, cw in datasets:
            options = {"logits": True, "targets": "prob"}
            if w:
                options["class_weights"] = cw
            if ls is not None:
                options["label_smoothing"] = ls
            yt = t64(y)
            extra = {"weight": t64(cw) if w else None, "label_smoothing": ls or 0.0}
            for red in ELEMENTWISE_RED:
                add_case(
                    f"ce-logits-prob{tag}-{red}-{dtag}",
                    "ce",
                    options,
                    red,
                    z,
                    y,
                    lambda p, yt=yt, extra=extra, red=red: F.cross_entropy(
                        p, yt, reduction=red, **extra
                    ),
                    ce_call(w, None, ls, red),
                )


CLIP = 1e-12


def ce_prob_rows(p, ymat):
    return -(ymat * torch.log(torch.clamp(p, min=CLIP))).sum(dim=1)


def gen_ce_probs():
    for ttype in ("index", "prob"):
        datasets = []
        for shape in CLS_SHAPES:
            n, c = shape
            rng = rng_for(f"ce-probs-{ttype}-{shape_tag(shape)}")
            p = torch.softmax(t64(rng.normal(scale=2.0, size=shape)), dim=1).tolist()
            if ttype == "index":
                y = [int(v) for v in rng.integers(0, c, size=n)]
            else:
                y = soft_rows(rng, n, c)
            datasets.append((shape_tag(shape), p, y))
        # dedicated clamp case: p < clip, p == 0 and p == clip exactly
        cp = [
            [1e-15, 0.5, 0.5 - 1e-15],
            [0.0, 1.0, 0.0],
            [1e-12, 0.3, 0.7 - 1e-12],
            [0.2, 0.3, 0.5],
        ]
        cy = (
            [0, 0, 0, 2]
            if ttype == "index"
            else [[1.0, 0.0, 0.0], [0.5, 0.5, 0.0], [1.0, 0.0, 0.0], [0.2, 0.3, 0.5]]
        )
        datasets.append(("clipped", cp, cy))
        for dtag, p, y in datasets:
            options = {"logits": False, "targets": ttype, "clip": CLIP}
            c = len(p[0])
            if ttype == "index":
                ymat = F.one_hot(torch.tensor(y), c).to(torch.float64)
                ydesc = "one_hot(y)"
            else:
                ymat = t64(y)
                ydesc = "y"
            rows = f"-({ydesc} * torch.log(torch.clamp(p, min={CLIP!r}))).sum(dim=1)"
            for red in ELEMENTWISE_RED:
                if red == "mean":

                    def f(p, ymat=ymat):
                        return ce_prob_rows(p, ymat).mean()

                    call = rows + ".mean()"
                elif red == "sum":

                    def f(p, ymat=ymat):
                        return ce_prob_rows(p, ymat).sum()

                    call = rows + ".sum()"
                else:

                    def f(p, ymat=ymat):
                        return ce_prob_rows(p, ymat)

                    call = rows
                add_case(f"ce-probs-{ttype}-{red}-{dtag}", "ce", options, red, p, y, f, call)


# ------------------------------------------------------------------------------------- nll
NLL_COMBOS = [(False, None), (True, None), (False, -100), (False, 0), (True, -100), (True, 0)]


def nll_call(w, ig, red):
    args = ["logp", "y"]
    if w:
        args.append("weight=class_weights")
    if ig is not None:
        args.append(f"ignore_index={ig}")
    args.append(f"reduction='{red}'")
    return f"F.nll_loss({', '.join(args)})"


def gen_nll():
    for w, ig in NLL_COMBOS:
        tag = opt_tag(w, ig, None)
        datasets = []
        for shape in CLS_SHAPES:
            n, c = shape
            rng = rng_for(f"nll{tag}-{shape_tag(shape)}")
            logp = torch.log_softmax(t64(rng.normal(scale=2.0, size=shape)), dim=1).tolist()
            datasets.append(
                (shape_tag(shape), logp, ce_index_targets(rng, n, c, ig), class_weights(rng, c))
            )
        if ig is not None:
            rng = rng_for(f"nll{tag}-allignored")
            logp = torch.log_softmax(t64(rng.normal(scale=2.0, size=(4, 3))), dim=1).tolist()
            datasets.append(("allignored", logp, [ig] * 4, class_weights(rng, 3)))
        for dtag, logp, y, cw in datasets:
            options = {}
            if w:
                options["class_weights"] = cw
            if ig is not None:
                options["ignore_index"] = ig
            yt = torch.tensor(y, dtype=torch.long)
            extra = {"weight": t64(cw) if w else None}
            if ig is not None:
                extra["ignore_index"] = ig
            for red in ELEMENTWISE_RED:
                add_case(
                    f"nll{tag}-{red}-{dtag}",
                    "nll",
                    options,
                    red,
                    logp,
                    y,
                    lambda p, yt=yt, extra=extra, red=red: F.nll_loss(
                        p, yt, reduction=red, **extra
                    ),
                    nll_call(w, ig, red),
                )


# -------------------------------------------------------------------------------------- kl
def gen_kl():
    for log_target in (False, True):
        tag = "-lt" if log_target else "-lf"
        datasets = []
        for shape in CLS_SHAPES:
            rng = rng_for(f"kl{tag}-{shape_tag(shape)}")
            logp = torch.log_softmax(t64(rng.normal(scale=2.0, size=shape)), dim=1)
            q = torch.softmax(t64(rng.normal(scale=2.0, size=shape)), dim=1)
            tgt = torch.log(q) if log_target else q
            datasets.append((shape_tag(shape), logp.tolist(), tgt.tolist()))
        if not log_target:
            rng = rng_for(f"kl{tag}-zeros")
            logp = torch.log_softmax(t64(rng.normal(scale=2.0, size=(4, 3))), dim=1).tolist()
            q = [[0.0, 0.5, 0.5], [1.0, 0.0, 0.0], [0.2, 0.8, 0.0], [0.0, 0.0, 1.0]]
            datasets.append(("zeros", logp, q))
        for dtag, logp, tgt in datasets:
            options = {"log_target": log_target}
            tt = t64(tgt)
            for red in ("mean", "batchmean", "sum", "none"):
                base = f"F.kl_div(logp, target, reduction='{red}', log_target={log_target})"
                if red == "none":

                    def f(p, tt=tt, lt=log_target):
                        return F.kl_div(p, tt, reduction="none", log_target=lt).sum(dim=1)

                    call = base + ".sum(dim=1)"
                else:

                    def f(p, tt=tt, lt=log_target, red=red):
                        return F.kl_div(p, tt, reduction=red, log_target=lt)

                    call = base
                add_case(f"kl{tag}-{red}-{dtag}", "kl", options, red, logp, tgt, f, call)


# -------------------------------------------------------------------------- sample weights
def sw_reduce(v, wden, s, red, row_size=1):
    """Our sample-weight semantics: sum = sum s*v (times D for elementwise losses, whose v is a
    row mean, so that unit weights give the plain sum over all elements), mean = sum s*v /
    sum s*w, none = s*v."""
    if red == "sum":
        return (s * v).sum() * row_size
    if red == "mean":
        return (s * v).sum() / (s * wden).sum()
    return s * v


SW_CALL = {
    "sum": "(s * v).sum()",
    "mean": "(s * v).sum() / (s * w_den).sum()",
    "none": "s * v",
}


def gen_sample_weights():
    # elementwise: mse and bce, v = per-row mean, w_den = 1
    for loss in ("mse", "bce"):
        for shape in [(7,), (4, 3)] if loss == "mse" else [(4, 3)]:
            n = shape[0]
            key = f"{loss}-sw-{shape_tag(shape)}"
            rng = rng_for(key)
            size = int(np.prod(shape))
            if loss == "mse":
                preds = rng.normal(size=size).reshape(shape).tolist()
                targets = rng.normal(size=size).reshape(shape).tolist()
                fn, fname = F.mse_loss, "mse_loss"
            else:
                preds = rng.uniform(0.02, 0.98, size=size).reshape(shape).tolist()
                targets = np.round(rng.uniform(0, 1, size=size), 3).reshape(shape).tolist()
                fn, fname = F.binary_cross_entropy, "binary_cross_entropy"
            sw = np.round(rng.uniform(0.5, 2.0, size=n), 3).tolist()
            st, yt = t64(sw), t64(targets)
            row_size = shape[1] if len(shape) == 2 else 1
            vdesc = f"v = F.{fname}(p, y, reduction='none')" + (
                ".mean(dim=1)" if len(shape) == 2 else ""
            )
            for red in ELEMENTWISE_RED:
                add_case(
                    f"{loss}-sw-{red}-{shape_tag(shape)}",
                    loss,
                    {},
                    red,
                    preds,
                    targets,
                    lambda p, yt=yt, st=st, red=red, fn=fn, d=row_size: sw_reduce(
                        rowmean(fn(p, yt, reduction="none")), torch.ones_like(st), st, red, d
                    ),
                    f"{vdesc}; w_den = 1; {SW_CALL[red]}"
                    + (" * D" if red == "sum" and len(shape) == 2 else ""),
                    sample_weights=sw,
                )
    # ce logits/index: v = torch 'none' row (class-weighted, 0 if ignored);
    # w_den = class weight of the target (1 without class weights), 0 for ignored rows
    for w, ig, ls in [(False, None, None), (True, None, None), (True, -100, None), (False, 0, 0.1)]:
        tag = opt_tag(w, ig, ls)
        shape = (7, 3)
        rng = rng_for(f"ce-logits-index{tag}-sw-{shape_tag(shape)}")
        z = rng.normal(scale=2.0, size=shape).tolist()
        y = ce_index_targets(rng, shape[0], shape[1], ig)
        cw = class_weights(rng, shape[1])
        sw = np.round(rng.uniform(0.5, 2.0, size=shape[0]), 3).tolist()
        options = {"logits": True, "targets": "index"}
        if w:
            options["class_weights"] = cw
        if ig is not None:
            options["ignore_index"] = ig
        if ls is not None:
            options["label_smoothing"] = ls
        yt = torch.tensor(y, dtype=torch.long)
        wt = t64(cw) if w else None
        st = t64(sw)
        mask = yt != (ig if ig is not None else -(10**9))
        ysafe = torch.where(mask, yt, torch.zeros_like(yt))
        wden = (wt[ysafe] if w else torch.ones(len(y))) * mask.to(torch.float64)
        extra = {"weight": wt, "label_smoothing": ls or 0.0}
        if ig is not None:
            extra["ignore_index"] = ig
        vdesc = "v = " + ce_call(w, ig, ls, "none")
        wdesc = (
            "w_den = "
            + ("class_weights[y]" if w else "1")
            + (f" * (y != {ig})" if ig is not None else "")
        )
        for red in ELEMENTWISE_RED:
            add_case(
                f"ce-logits-index{tag}-sw-{red}-{shape_tag(shape)}",
                "ce",
                options,
                red,
                z,
                y,
                lambda p, yt=yt, st=st, wden=wden, extra=extra, red=red: sw_reduce(
                    F.cross_entropy(p, yt, reduction="none", **extra), wden, st, red
                ),
                f"{vdesc}; {wdesc}; {SW_CALL[red]}",
                sample_weights=sw,
            )


# ------------------------------------------------------------------------------ self-checks
def self_check():
    """Hand-derived anchors, so the fixtures are not merely 'whatever torch said'."""

    def vg(fn, x):
        p = t64(x).requires_grad_(True)
        v = fn(p)
        (g,) = torch.autograd.grad(v, p)
        return v.item(), g.tolist()

    v, g = vg(lambda z: F.cross_entropy(z, torch.tensor([1])), [[1000.0, 0.0]])
    assert v == 1000.0 and g == [[1.0, -1.0]], (v, g)
    v, g = vg(lambda p: F.mse_loss(p, t64([0.0, 0.0])), [1.0, 2.0])
    assert v == 2.5 and g == [1.0, 2.0], (v, g)
    v, g = vg(lambda p: F.l1_loss(p, t64([1.0, 0.0])), [1.0, -3.0])
    assert v == 1.5 and g == [0.0, -0.5], (v, g)
    v, _ = vg(lambda p: F.huber_loss(p, t64([0.0]), delta=1.0), [3.0])
    assert v == 2.5, v
    v, _ = vg(lambda p: F.smooth_l1_loss(p, t64([0.0]), beta=0.5), [0.25])
    assert v == 0.0625, v
    v, _ = vg(lambda p: F.binary_cross_entropy(p, t64([1.0])), [0.0])
    assert v == 100.0, v
    v, _ = vg(lambda z: F.cross_entropy(z, torch.tensor([2])), [[5.0, 5.0, 5.0, 5.0]])
    assert abs(v - math.log(4.0)) <= 1e-15, v
    v, _ = vg(lambda z: F.binary_cross_entropy_with_logits(z, t64([0.0])), [1e4])
    assert v == 1e4, v

    # anchors inside the generated fixtures, and internal consistency
    by_id = {c["id"]: c for c in CASES}
    assert by_id["ce-logits-index-none-extreme"]["value"][0] == 1000.0
    assert by_id["ce-logits-index-none-extreme"]["value"][1] == 2e4
    assert abs(by_id["ce-logits-index-none-extreme"]["value"][4] - math.log(3.0)) <= 1e-15
    assert by_id["bce-none-boundary"]["value"][0] == 130.0 / 3  # (0 + 100 + 30) / 3
    for c in CASES:
        if c["reduction"] != "mean" or c["sample_weights"] is not None:
            continue
        if c["loss"] in ("mse", "mae", "huber", "smooth_l1", "bce", "bce-logits"):
            s = by_id[c["id"].replace("-mean-", "-sum-")]["value"]
            nd = int(np.prod(np.shape(c["preds"])))
            assert abs(c["value"] * nd - s) <= 1e-12 * max(1.0, abs(s)), c["id"]
            rows = by_id[c["id"].replace("-mean-", "-none-")]["value"]
            if not any(isinstance(r, str) for r in rows):
                assert abs(sum(rows) / len(rows) - c["value"]) <= 1e-12 * max(
                    1.0, abs(c["value"])
                ), c["id"]


# ------------------------------------------------------------------------------------ main
def check_non_finite():
    """NaN/inf may only appear where intended: all-ignored 'mean' values."""

    def flat(x):
        if isinstance(x, list):
            for e in x:
                yield from flat(e)
        else:
            yield x

    for c in CASES:
        bad = [x for x in flat([c["value"], c["grad"]]) if isinstance(x, str)]
        if bad:
            assert c["id"].endswith("-allignored") and c["reduction"] == "mean", (c["id"], bad)
            assert c["value"] == "nan", c["id"]


def main() -> int:
    gen_elementwise()
    gen_rmse()
    gen_bce()
    gen_bce_logits()
    gen_ce_logits_index()
    gen_ce_logits_prob()
    gen_ce_probs()
    gen_nll()
    gen_kl()
    gen_sample_weights()
    self_check()
    check_non_finite()
    doc = {
        "generator": "tests/make_fixtures.py",
        "torch_version": torch.__version__,
        "numpy_version": np.__version__,
        "cases": CASES,
    }
    text = json.dumps(doc, indent=1, allow_nan=False) + "\n"
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT} ({len(CASES)} cases, {len(text)} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
