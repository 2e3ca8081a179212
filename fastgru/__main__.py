"""Command line: ``python -m fastgru demo|info|warmup`` and ``python -m fastgru --help``."""

import argparse
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m fastgru",
        description="fastgru: fast Gated Recurrent Units on the CPU.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    demo = sub.add_parser(
        "demo", help="forecast the held-out end of a shipped series, against seasonal naive")
    demo.add_argument("--data", choices=["airline", "sunspots", "co2"], default="airline",
                      help="the series: monthly airline passengers 1949-1960 (default), "
                      "yearly sunspots 1700-2008, or monthly Mauna Loa CO2 1965-2001")
    demo.add_argument("--epochs", type=int, default=None,
                      help="most training epochs (default 300)")
    demo.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    sub.add_parser("info", help="print versions, threads, the Numba threading layer and "
                   "the kernel cache (directory, how many kernels it holds for this CPU)")
    warm = sub.add_parser(
        "warmup", help="compile the kernels a use needs into the cache (e.g. in a Dockerfile)")
    warm.add_argument("--cache-dir", default=None, metavar="DIR",
                      help="write the cache here (later processes: FASTGRU_CACHE_DIR=DIR); "
                      "default: the cache directory that `info` prints")
    warm.add_argument("--dtypes", nargs="+", choices=["float32", "float64"],
                      default=["float32"], help="dtypes to compile for (default float32)")
    warm.add_argument("--training", action="store_true",
                      help="also compile training (backward), not needed to serve")
    warm.add_argument("--portable", default=None, metavar="LEVEL",
                      choices=["x86-64-v2", "x86-64-v3", "x86-64-v4"],
                      help="compile for an x86-64 level (x86-64-v2, -v3, -v4) instead of "
                      "this CPU: the cache then serves any CPU with that level's features "
                      "(slower code than for the CPU itself)")
    args = parser.parse_args(argv)
    if args.command == "warmup" and args.portable:
        # Numba's target CPU is fixed when it starts: compile in a child process
        import os
        import subprocess

        env = {**os.environ, "NUMBA_CPU_NAME": args.portable, "NUMBA_CPU_FEATURES": ""}
        command = [sys.executable, "-m", "fastgru", "warmup", "--dtypes", *args.dtypes]
        if args.cache_dir:
            command += ["--cache-dir", args.cache_dir]
        if args.training:
            command.append("--training")
        return subprocess.run(command, env=env).returncode
    if args.command == "warmup":
        import fastgru
        from fastgru import _cache

        seconds = fastgru.warmup(tuple(args.dtypes), training=args.training,
                                 cache_dir=args.cache_dir)
        status = _cache.cache_status()
        print(f"fastgru warmup: {_cache.compile_count()} kernel compiles, {seconds:.1f} s; "
              f"{status['cached']} of {status['kernels']} kernels cached for this CPU in "
              f"{status['directory']}")
        return 0
    if args.command == "demo":
        from ._demo import run

        run(args.data, epochs=args.epochs, random_state=args.seed)
        return 0
    if args.command == "info":
        import numba
        import numpy

        import fastgru

        print(f"fastgru {fastgru.__version__}, numpy {numpy.__version__}, "
              f"numba {numba.__version__}")
        from fastgru import _cache, _runtime

        print(f"threads: {fastgru.get_num_threads()} (NUMBA_NUM_THREADS "
              f"{numba.config.NUMBA_NUM_THREADS})")
        print(f"threading layer: {_threading_layer()}"
              + (f" (TBB loaded from {_runtime.TBB_PRELOADED})" if _runtime.TBB_PRELOADED else ""))
        status = _cache.cache_status()
        if not _cache.INTERNALS_OK:
            print("kernel cache: Numba's own (cache=True): this Numba changed an internal "
                  "that fastgru's cache uses")
        elif not status["enabled"]:
            print("kernel cache: off (FASTGRU_NO_CACHE=1): every process compiles")
        else:
            state = ("cold: the first call compiles" if status["cached"] == 0
                     else "warm" if status["cached"] == status["kernels"]
                     else "partly warm")
            packaged = (f", {status['in_package']} of them compiled into the installed package"
                        if status["in_package"] else "")
            print(f"kernel cache: {status['directory']}, {state} ({status['cached']} of "
                  f"{status['kernels']} kernels compiled for this CPU{packaged})")
        return 0
    parser.print_help()
    return 0


def _threading_layer() -> str:
    """The layer Numba's parallel kernels run on: started by a tiny parallel
    kernel compiled in memory, as the first fastgru call would."""
    import numba
    import numpy as np

    @numba.njit(parallel=True, cache=False)
    def _start(a):
        total = 0.0
        for i in numba.prange(a.size):
            total += a[i]
        return total

    try:
        _start(np.ones(2))
        return numba.threading_layer()
    except Exception as exc:  # no layer can be loaded: say why instead of failing
        return f"unavailable ({exc})"


if __name__ == "__main__":
    sys.exit(main())
