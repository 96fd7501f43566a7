"""``python -m vppsim``: run the simulator in the foreground until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from vppsim import DEFAULT_LB_API, LB_API_VERSIONS, api_dir_for


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m vppsim",
        description="A VPP stand-in (binary API socket, stats segment, LB plugin) for vpp_papi clients. "
                    "Runs in the foreground until SIGTERM/SIGINT. 'python -m vppsim ctl -s API_SOCKET COMMAND' "
                    "sends a CLI command (show lb vips verbose, sim traffic ..., sim fault ...), as vppctl does.")
    p.add_argument("--api-socket", default="/run/vpp/api.sock", help="binary API socket (SOCK_STREAM)")
    p.add_argument("--stats-socket", default="/run/vpp/stats.sock", help="stats socket (SOCK_SEQPACKET)")
    p.add_argument("--threads", type=int, default=1, help="counter rows per stats vector (thread 0 = main)")
    p.add_argument("--stats-interval", type=float, default=1.0, help="seconds between /sys/heartbeat updates")
    p.add_argument("--stats-size", type=int, default=64 << 20, help="stats segment size in bytes (fixed)")
    p.add_argument("--lb-api", default=DEFAULT_LB_API, choices=LB_API_VERSIONS,
                   help="LB API generation to emulate: 1.2.0 = VPP master with per-AS weights (default); "
                        "1.1.0 = releases up to v26.06, with their handler bugs")
    p.add_argument("--gc-interval", type=float, default=60.0, help="lb-gc-process period in seconds (1.2.0)")
    p.add_argument("--print-api-dir", action="store_true",
                   help="print the API JSON directory of the --lb-api personality and exit")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["ctl"]:  # python -m vppsim ctl ...: the vppctl-like client (vppsim/ctl.py)
        from vppsim import ctl

        return ctl.main(argv[1:])
    args = parse_args(argv)
    if args.print_api_dir:
        print(api_dir_for(args.lb_api))
        return 0
    if args.threads < 1:
        sys.exit("--threads must be >= 1")
    from vppsim.server import Server

    try:
        server = Server(
            args.api_socket,
            args.stats_socket,
            threads=args.threads,
            stats_interval=args.stats_interval,
            stats_size=args.stats_size,
            lb_api=args.lb_api,
            gc_interval=args.gc_interval,
        )
    except ValueError as e:  # e.g. an LB API version the plugin model does not know
        sys.exit(f"vppsim: {e}")
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    server.start()
    sys.stderr.write(f"vppsim: api {args.api_socket}, stats {args.stats_socket}, lb api {args.lb_api}\n")
    sys.stderr.flush()
    stop.wait()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
