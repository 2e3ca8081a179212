"""Command line: ``python -m fastgru demo`` and ``python -m fastgru --help``."""

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
    sub.add_parser("info", help="print versions, threads and the Numba threading layer")
    args = parser.parse_args(argv)
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
        print(f"threads: {fastgru.get_num_threads()} (NUMBA_NUM_THREADS "
              f"{numba.config.NUMBA_NUM_THREADS}), kernel cache: {fastgru._config.CACHE}")
        return 0
    parser.print_help()
    return 0


if __name__ == "__main__":
    sys.exit(main())
