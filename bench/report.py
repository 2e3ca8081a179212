"""Turn a pytest-benchmark JSON into the ratio table (markdown) and a plot (PNG).

Usage: ``python bench/report.py bench.json [--plot bench/ratios.png]
[--compact bench/results.json] [--stat min]``; from Python (run from the
repository root): ``from bench.report import load, table, plot_ratios``. Ratios are
fastgru's median time divided by the anchor's, from the same run: below 1 means
fastgru is faster. A run with ``--bench-passes N`` (see ``bench/conftest.py``)
gives each benchmark the median of its N passes' medians. ``--stat min`` uses
each benchmark's fastest round instead: on a shared machine whose speed
changes for seconds at a time, it shows what each side costs when it is not
slowed down.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
from collections import defaultdict


def load(path):
    """The run's JSON, and its benchmarks as ``{group: {impl: benchmark}}``.

    A benchmark timed in several passes (``--bench-passes``) becomes one
    whose median is the median of its passes' medians, and whose min the
    fastest round of all passes; ``stats["passes"]`` counts them.
    """
    with open(path) as f:
        data = json.load(f)
    runs = defaultdict(lambda: defaultdict(list))
    for b in data["benchmarks"]:
        params = b.get("params") or {}
        impl = params.get("impl") or params.get("cache") or b["name"]
        runs[b["group"]][impl].append(b)
    groups = {group: {impl: _combine(bs) for impl, bs in impls.items()}
              for group, impls in runs.items()}
    return data, groups


def _combine(passes):
    first = passes[0]
    stats = {**first["stats"], "passes": len(passes),
             "median": statistics.median(b["stats"]["median"] for b in passes),
             "min": min(b["stats"]["min"] for b in passes)}
    return {**first, "stats": stats}


def gemm_gflops(groups, stat="median"):
    ref = groups.get("reference numpy-sgemm-1024", {})
    for b in ref.values():
        return b["extra_info"]["flop"] / b["stats"][stat] / 1e9
    return None


def gru_forward_flop(cfg):
    B, T, I, H = cfg
    return 2 * B * T * 3 * H * (I + H)


def group_flop(group):
    """Floating-point operations of one call of a GRU benchmark group, or None.

    A training step is the forward's products, and in backward BPTT's
    product with U and the gradients of U and W, each as large as the
    forward's product with it. Neither side computes the input's gradient
    (torch's x does not require one; fastgru's loop passes
    ``input_grad=False``), so it is not counted.
    """
    kind, _, cfg = group.partition(" ")
    match = re.fullmatch(r"B(\d+)-T(\d+)-I(\d+)-H(\d+)", cfg)
    if not match or kind not in ("inference", "training", "training-float64"):
        return None
    B, T, I, H = (int(v) for v in match.groups())
    if kind == "inference":
        return gru_forward_flop((B, T, I, H))
    return 2 * B * T * 3 * H * (2 * I + 3 * H)


def table(groups, peak=None, stat="median"):
    """The markdown ratio table of each benchmark's ``stat`` time; with
    ``peak`` (GFLOP/s of numpy's float32 matmul in the same run) also
    fastgru's GFLOP/s and their share of it."""
    rows = ["| benchmark | fastgru | torch | onnxruntime | fastgru/torch | fastgru/ort "
            "| fastgru GFLOP/s | % of sgemm |",
            "|---|---:|---:|---:|---:|---:|---:|---:|"]
    ratios = {}
    for group in sorted(groups, key=_order):
        impls = groups[group]
        if "fastgru" not in impls:
            continue
        med = {k: v["stats"][stat] for k, v in impls.items()}
        fg = med["fastgru"]
        r_t = fg / med["torch"] if "torch" in med else None
        r_o = fg / med["onnxruntime"] if "onnxruntime" in med else None
        ratios[group] = (r_t, r_o)
        flop = group_flop(group)
        gflops = flop / fg / 1e9 if flop else None
        share = f"{100 * gflops / peak:.0f}%" if gflops and peak else "-"
        rows.append(f"| {group} | {_fmt_t(fg)} | {_fmt_t(med.get('torch'))} | "
                    f"{_fmt_t(med.get('onnxruntime'))} | {_fmt_r(r_t)} | {_fmt_r(r_o)} | "
                    f"{'-' if gflops is None else f'{gflops:.0f}'} | {share} |")
    return "\n".join(rows), ratios


def _order(group):
    kind, _, cfg = group.partition(" ")
    return (["inference", "training", "training-float64", "step", "fit"].index(kind)
            if kind in ("inference", "training", "training-float64", "step", "fit") else 9, group)


def _fmt_t(t):
    if t is None:
        return "-"
    return f"{t * 1e6:.1f} µs" if t < 1e-3 else f"{t * 1e3:.2f} ms"


def _fmt_r(r):
    return "-" if r is None else f"{r:.2f}"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json")
    parser.add_argument("--plot", default=None, help="write a PNG bar chart of the ratios")
    parser.add_argument("--compact", default=None, metavar="PATH",
                        help="write the run without its raw timings to PATH "
                        "(what bench/results.json holds)")
    parser.add_argument("--stat", choices=("median", "min"), default="median",
                        help="the time of each benchmark (default: median)")
    args = parser.parse_args(argv)
    data, groups = load(args.json)
    if args.compact:
        for b in data["benchmarks"]:
            b["stats"].pop("data", None)
        with open(args.compact, "w") as f:
            json.dump(data, f, indent=1)
    peak = gemm_gflops(groups, args.stat)
    md, ratios = table(groups, peak, args.stat)
    machine = data.get("machine_info", {})
    cpu = machine.get("cpu", {})
    passes = max((b["stats"]["passes"] for impls in groups.values()
                  for b in impls.values()), default=1)
    of_passes = ("the median of the passes' medians" if args.stat == "median"
                 else "the fastest round of all")
    how = f"{args.stat} times" + (f", {passes} passes: {of_passes}" if passes > 1 else "")
    print(f"Machine: {cpu.get('brand_raw', '?')}, {cpu.get('count', '?')} cores, "
          f"python {machine.get('python_version')}; {how}")
    print(md)
    big = groups.get("inference B64-T50-I256-H512", {}).get("fastgru")
    if peak and big:
        achieved = gru_forward_flop((64, 50, 256, 512)) / big["stats"][args.stat] / 1e9
        print(f"\nnumpy float32 matmul: {peak:.0f} GFLOP/s; fastgru inference at "
              f"(64, 50, 256, 512): {achieved:.0f} GFLOP/s = {100 * achieved / peak:.0f}% of it")
    cold = groups.get("cold-start import+first-forward", {})
    for name in ("warm", "cold"):
        if name in cold:
            print(f"cold start ({name} cache): {cold[name]['stats']['median']:.2f} s "
                  "(process launch + import + first forward)")
    if args.plot:
        plot_ratios(ratios, args.plot)
        print(f"\nplot written to {args.plot}")


def plot_ratios(ratios, path=None):
    """A horizontal bar chart of ``table``'s ratios (against torch and onnxruntime).

    Returns the ``matplotlib.figure.Figure`` (made without pyplot, so no
    backend is chosen) and writes it as a PNG to ``path`` if given.
    """
    from matplotlib.figure import Figure

    names = [g for g in sorted(ratios, key=_order) if ratios[g][0] is not None]
    fig = Figure(figsize=(9, 0.35 * len(names) + 1.5))
    ax = fig.subplots()
    y = range(len(names))
    ax.barh([i + 0.2 for i in y], [ratios[n][0] for n in names], height=0.4, label="vs torch")
    ax.barh([i - 0.2 for i in y], [ratios[n][1] or 0 for n in names], height=0.4,
            label="vs onnxruntime")
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set_yticks(list(y), [re.sub(r"^(\S+) ", r"\1\n", n) for n in names], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("fastgru time / anchor time (below 1: fastgru faster)")
    ax.legend()
    fig.tight_layout()
    if path is not None:
        fig.savefig(path, dpi=120)
    return fig


if __name__ == "__main__":
    main()
