"""``maglevctl``: the agent's command line, a client of the status API (docs/maglevctl.md).

    maglevctl [--socket PATH] [--timeout S] [--json] COMMAND...   one command, then exit
    maglevctl [--socket PATH] [--timeout S] [--json]              interactive shell

The socket also comes from MAGLEV_AGENT_SOCKET (default /run/maglev-agent/status.sock);
``--json`` may stand anywhere on the line. Words may be shortened to unique prefixes
(agent/ctl_grammar.py). Exit codes: 0 done, 1 the agent refused or reported a failure,
2 not a command, 3 no agent on the socket.
"""

from __future__ import annotations

import json
import os
import shlex
import sys
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, List, Mapping, Optional, Sequence, TextIO, Tuple

from . import __version__
from . import ctl_grammar as grammar
from . import ctl_render as render
from .ctl_client import DEFAULT_SOCKET, TIMEOUT, AgentUnreachable, ApiError, StatusClient

SOCKET_ENV = "MAGLEV_AGENT_SOCKET"
HISTORY_FILE = "~/.maglevctl_history"
PROMPT = "maglev> "

OK, FAILED, USAGE, UNREACHABLE = 0, 1, 2, 3

USAGE_TEXT = f"""usage: maglevctl [--socket PATH] [--timeout SECONDS] [--json] [COMMAND...]

Talks to maglev-agent's status API on a unix socket (--socket, ${SOCKET_ENV},
default {DEFAULT_SOCKET}). Without a command: an interactive shell.
Words may be shortened to unique prefixes (sh ba = show backends).
--json prints the API's JSON instead of tables. --timeout: how long to wait for
an answer (default {TIMEOUT:g} s; a reload or a full sync waits for VPP).

commands:
"""


class UsageError(Exception):
    pass


@dataclass
class Options:
    socket: str
    json: bool
    words: List[str]
    help: bool = False
    version: bool = False
    timeout: float = TIMEOUT


def parse_argv(argv: Sequence[str], environ: Mapping[str, str]) -> Options:
    """Options anywhere on the line; everything else is the command."""
    socket_path = environ.get(SOCKET_ENV) or DEFAULT_SOCKET
    options = Options(socket=socket_path, json=False, words=[])
    args = list(argv)
    while args:
        word = args.pop(0)
        if word == "--json":
            options.json = True
        elif word == "--socket":
            if not args:
                raise UsageError("--socket needs a path")
            options.socket = args.pop(0)
        elif word.startswith("--socket="):
            options.socket = word.split("=", 1)[1]
        elif word == "--timeout" or word.startswith("--timeout="):
            value = word.split("=", 1)[1] if "=" in word else (args.pop(0) if args else "")
            options.timeout = _seconds(value)
        elif word in ("-h", "--help"):
            options.help = True
        elif word == "--version":
            options.version = True
        elif word == "--":
            options.words.extend(args)
            break
        elif word.startswith("-") and len(word) > 1 and not word[1:].isdigit():
            raise UsageError(f"unknown option {word}")
        else:
            options.words.append(word)
    if not options.socket:
        raise UsageError("--socket needs a path")
    return options


def _seconds(value: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    if not 0 < seconds < float("inf"):
        raise UsageError(f"--timeout needs a number of seconds > 0, got {value!r}")
    return seconds


class Output:
    """Where results and errors go, and how they look."""

    def __init__(self, json_mode: bool, out: TextIO = sys.stdout, err: TextIO = sys.stderr):
        self.json = json_mode
        self.out = out
        self.err = err
        self.style = render.Style(colour=_wants_colour(out))
        self.err_style = render.Style(colour=_wants_colour(err))

    def lines(self, lines: Iterable[str]) -> None:
        for line in lines:
            print(line, file=self.out)
        self.out.flush()

    def document(self, data: Any) -> None:
        print(json.dumps(data, indent=2), file=self.out)
        self.out.flush()

    def error(self, message: str) -> None:
        print(self.err_style.error(f"maglevctl: {message}"), file=self.err)
        self.err.flush()


def _wants_colour(stream: TextIO) -> bool:
    return not os.environ.get("NO_COLOR") and hasattr(stream, "isatty") and stream.isatty()


# -- commands -------------------------------------------------------------------------------------

Handler = Callable[[StatusClient, Mapping[str, Any], Output], int]


def _shown(fetch: Callable[[StatusClient, Mapping[str, Any]], Any],
           draw: Callable[[Any, Output, float], List[str]]) -> Handler:
    """A command that fetches one answer and draws it; ``draw`` gets the agent's time for ages."""
    def handler(client: StatusClient, args: Mapping[str, Any], output: Output) -> int:
        data = fetch(client, args)
        if output.json:
            output.document(data)
        else:
            output.lines(draw(data, output, client.agent_now()))
        return OK
    return handler


def _check(client: StatusClient, args: Mapping[str, Any], output: Output) -> int:
    answer = client.post("config", "check")
    if output.json:
        output.document(answer)
    elif answer["ok"]:
        output.lines(render.config_check(answer))
    else:
        for line in render.config_check(answer):
            output.error(line)
    return OK if answer["ok"] else FAILED


def _weight(client: StatusClient, args: Mapping[str, Any]) -> Any:
    return client.put("frontends", args["frontend"], "pools", args["pool"], "backends", args["backend"], "weight",
                      data={"weight": args["weight"]})


def _watch(client: StatusClient, args: Mapping[str, Any], output: Output) -> int:
    query: Dict[str, str] = {}
    if any(args.get(k) for k in ("backend", "frontend", "log")):
        query = {k: "true" if args.get(k) else "false" for k in ("backend", "frontend", "log")}
    if args.get("level"):
        query["log_level"] = args["level"]
    limit = args.get("num")
    seen = 0
    try:
        for event in client.stream("events", **query):
            if output.json:
                print(json.dumps(event, separators=(",", ":")), file=output.out)
                output.out.flush()
            else:
                output.lines([render.event(event, output.style)])
            if not event.get("snapshot") and event.get("type") != "overflow":
                seen += 1
                if limit is not None and seen >= limit:
                    break
    except KeyboardInterrupt:
        pass  # the way to stop watching
    return OK


def _show_frontends(client: StatusClient, args: Mapping[str, Any], output: Output) -> int:
    items = client.get("frontends")
    if output.json:
        output.document(items)
        return OK
    # SERVING counts the weights the agent plans; with VPP away nothing serves them, so say so.
    output.lines(render.frontends(items, output.style, vpp=client.get("vpp")))
    return OK


HANDLERS: Dict[str, Handler] = {
    "show-version": _shown(lambda c, a: c.get(), lambda d, o, now: render.version(d, __version__, now)),
    "show-frontends": _show_frontends,
    "show-frontend": _shown(lambda c, a: c.get("frontends", a["frontend"]),
                            lambda d, o, _now: render.frontend(d, o.style)),
    "show-backends": _shown(lambda c, a: c.get("backends"), lambda d, o, now: render.backends(d, now, o.style)),
    "show-backend": _shown(lambda c, a: c.get("backends", a["backend"]),
                           lambda d, o, now: render.backend(d, now, o.style)),
    "show-healthchecks": _shown(lambda c, a: c.get("healthchecks"), lambda d, o, _now: render.healthchecks(d)),
    "show-healthcheck": _shown(lambda c, a: c.get("healthchecks", a["healthcheck"]),
                               lambda d, o, _now: render.healthcheck(d)),
    "show-vpp-info": _shown(lambda c, a: c.get("vpp"), lambda d, o, now: render.vpp_info(d, now, o.style)),
    "show-vpp-lb-state": _shown(lambda c, a: c.get("vpp", "lb"), lambda d, o, _now: render.lb_state(d)),
    "show-vpp-lb-counters": _shown(lambda c, a: c.get("vpp", "counters"), lambda d, o, _now: render.counters(d)),
    "set-backend": _shown(lambda c, a: c.post("backends", a["backend"], a["action"]),
                          lambda d, o, _now: render.backend_action(d, o.style)),
    "set-weight": _shown(_weight, lambda d, o, _now: render.weight_set(d)),
    "config-check": _check,
    "config-reload": _shown(lambda c, a: c.post("config", "reload"), lambda d, o, _now: render.config_reload(d)),
    "sync-vpp": _shown(lambda c, a: c.post("vpp", "sync"), lambda d, o, _now: render.synced(d)),
    "watch-events": _watch,
}


def run_words(words: Sequence[str], client: StatusClient, output: Output, in_shell: bool = False) -> Tuple[int, bool]:
    """Run one command line; (exit code, whether the shell should end)."""
    topic = grammar.help_topic(words)
    if topic is not None:
        try:
            output.lines(grammar.help_lines(topic))
        except grammar.GrammarError as exc:
            output.error(exc.message)
            return USAGE, False
        return OK, False
    try:
        parsed = grammar.parse(words)
    except grammar.GrammarError as exc:
        if output.json:
            output.document({"error": exc.message, "usage": True})
        output.error(exc.message)
        return USAGE, False
    if parsed.command == "quit":
        if not in_shell:
            output.error("quit and exit end the interactive shell")
            return USAGE, False
        return OK, True
    try:
        return HANDLERS[parsed.command](client, parsed.args, output), False
    except ApiError as exc:
        if output.json and isinstance(exc.body, dict):
            output.document({**exc.body, "status": exc.status})
        output.error(exc.message)
        for line in (exc.body or {}).get("messages", []) if isinstance(exc.body, dict) else []:
            output.error(f"  {line}")
        return FAILED, False
    except AgentUnreachable as exc:
        if output.json:  # a script reading stdout gets a document whatever happened
            output.document({"error": str(exc), "socket": client.socket_path, "reachable": False})
        output.error(str(exc))
        return UNREACHABLE, False


# -- the shell ------------------------------------------------------------------------------------


def _names(client: StatusClient) -> Callable[[str, Mapping[str, Any]], List[str]]:
    """values() for completion: names from the running agent (nothing when it does not answer)."""
    def values(source: str, args: Mapping[str, Any]) -> List[str]:
        try:
            if source == "frontend":
                return [f["name"] for f in client.get("frontends")]
            if source == "healthcheck":
                return [c["name"] for c in client.get("healthchecks")]
            if source == "pool":
                return [p["name"] for p in client.get("frontends", args["frontend"])["pools"]]
            if source == "backend" and "pool" in args:  # set frontend F pool P backend <members of P>
                pools = client.get("frontends", args["frontend"])["pools"]
                return [m["backend"] for p in pools if p["name"] == args["pool"] for m in p["members"]]
            if source == "backend":
                return [b["name"] for b in client.get("backends")]
        except (ApiError, AgentUnreachable, KeyError, TypeError):
            return []
        return []
    return values


def _setup_readline(client: StatusClient) -> Optional[Callable[[], None]]:
    try:
        import readline
    except ImportError:
        return None
    values = _names(client)
    matches: List[str] = []

    def completer(text: str, state: int) -> Optional[str]:
        if state == 0:
            before = readline.get_line_buffer()[: readline.get_begidx()]
            words = [w for w in before.split() if w != "--json"]
            matches[:] = [m + " " for m in grammar.complete(words, text, values)]
        return matches[state] if state < len(matches) else None

    readline.set_completer_delims(" \t")
    readline.set_completer(completer)
    readline.parse_and_bind("tab: complete")
    history = os.path.expanduser(HISTORY_FILE)
    try:
        readline.read_history_file(history)
    except OSError:
        pass
    readline.set_history_length(1000)

    def save() -> None:
        try:
            readline.write_history_file(history)
        except OSError:
            pass
    return save


def shell(client: StatusClient, json_mode: bool, stdin: TextIO = sys.stdin) -> int:
    """Read commands until quit/EOF. Piped input works too (no prompt; exit code: the last failure's)."""
    interactive = stdin.isatty()
    save = _setup_readline(client) if interactive else None
    status = OK
    try:
        while True:
            try:
                line = input(PROMPT) if interactive else stdin.readline()
            except EOFError:
                break
            except KeyboardInterrupt:
                print()
                continue
            if not interactive and not line:
                break
            try:
                words = shlex.split(line, comments=True)
            except ValueError as exc:
                Output(json_mode).error(f"cannot split the line: {exc}")
                status = USAGE
                continue
            if not words:
                continue
            line_json = json_mode or "--json" in words
            code, leave = run_words([w for w in words if w != "--json"], client, Output(line_json), in_shell=True)
            status = code if code != OK else status
            if leave:
                break
    finally:
        if save is not None:
            save()
    if interactive:
        print()
        return OK  # a person saw each error as it happened
    return status


def main(argv: Optional[Sequence[str]] = None) -> int:
    try:
        options = parse_argv(sys.argv[1:] if argv is None else argv, os.environ)
    except UsageError as exc:
        print(f"maglevctl: {exc}\n{USAGE_TEXT.splitlines()[0]}", file=sys.stderr)
        return USAGE
    if options.version:
        print(f"maglevctl {__version__}")
        return OK
    if options.help:
        print(USAGE_TEXT + "\n".join("  " + line for line in grammar.help_lines()))
        return OK
    client = StatusClient(options.socket, timeout=options.timeout)
    if not options.words:
        return shell(client, options.json)
    code, _unused = run_words(options.words, client, Output(options.json))
    return code


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(130)
    except BrokenPipeError:  # e.g. piped into head: stop quietly (Python's advice: no flush at exit)
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(OK)
