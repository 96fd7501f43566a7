"""``maglev-agent``: run the agent, or check a config file.

    maglev-agent [--config FILE]          run (SIGHUP reloads, SIGTERM/SIGINT stop cleanly)
    maglev-agent --check [FILE]           validate: exit 0 valid, 1 unreadable/not YAML, 2 invalid
"""

from __future__ import annotations

import argparse
import asyncio
import faulthandler
import signal
import sys
from typing import List, Optional

from ..plugins.module_utils.vpp_lb.schema import ConfigError
from . import __version__, api, logs, web
from .config import DEFAULT_CONFIG_PATH, ConfigFileError, check_config_file, load_config
from .daemon import Agent


def parse_args(argv: Optional[List[str]]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="maglev-agent", description="Keeps VPP's LB plugin true to backend health.")
    parser.add_argument("--config", default=DEFAULT_CONFIG_PATH, help=f"config file (default {DEFAULT_CONFIG_PATH})")
    parser.add_argument("--check", nargs="?", const="", metavar="FILE",
                        help="validate FILE (default: --config) and exit: 0 valid, 1 unreadable, 2 invalid")
    parser.add_argument("--log-level", choices=sorted(logs.LEVELS), help="overrides agent.log_level")
    parser.add_argument("--version", action="version", version=f"maglev-agent {__version__}")
    return parser.parse_args(argv)


async def run(agent: Agent) -> None:
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    loop.add_signal_handler(signal.SIGINT, stop.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(agent.reload()))
    await agent.start()
    servers = [await api.start_status_api(agent), await web.start_web(agent)]
    await stop.wait()
    for server in servers:
        if server is not None:
            await server.close()
    await agent.stop()


def main(argv: Optional[List[str]] = None) -> int:
    args = parse_args(argv)
    if args.check is not None:
        code, messages = check_config_file(args.check or args.config)
        for line in messages:
            print(line, file=sys.stdout if code == 0 else sys.stderr)
        return code
    try:
        config = load_config(args.config)
    except ConfigFileError as exc:
        print(f"maglev-agent: {exc}", file=sys.stderr)
        return 1
    except ConfigError as exc:
        print(f"maglev-agent: {args.config} is invalid:\n  " + "\n  ".join(exc.errors), file=sys.stderr)
        return 2
    logs.setup(args.log_level or config.settings.log_level)
    # `kill -USR1 <pid>` writes every thread's stack to stderr: for an agent that seems stuck.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    asyncio.run(run(Agent(config, args.config, args.log_level or "")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
