"""maglevctl's command grammar: the command tree as data, and pure parsing and completion.

The tree (``TREE``) is vpp-maglev maglevc's: keywords, arguments (names of backends, frontends,
pools and health checks; integers; choices) and, for ``watch events``, options in any order.

Words may be shortened to any prefix that leaves exactly one reading of the whole line, and
an exact word always wins: ``sh ba`` is ``show backends`` (``backend`` would need a name),
``sh ba web1`` is ``show backend web1``, ``s`` alone is ambiguous (set, show, sync). Parsing
keeps every reading alive word by word (a small breadth-first walk over cursors in the tree),
so that rule needs no special cases.

No I/O: completion asks a ``values(source, args)`` callback for the names it cannot know.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, FrozenSet, Iterable, List, Mapping, Optional, Sequence, Tuple

NAME = "name"  # a configured name; completion asks values(source, args)
INT = "int"
CHOICE = "choice"

HELP_COLUMN = 44
LOG_LEVELS = ("debug", "info", "warning", "error")
BACKEND_ACTIONS = ("pause", "resume", "enable", "disable")


@dataclass(frozen=True)
class Arg:
    """A word the user supplies; bound in the parse result under ``name``."""

    name: str
    kind: str = NAME
    source: str = ""  # NAME: what values() lists ("backend", "frontend", "pool", "healthcheck")
    low: int = 0  # INT bounds, inclusive
    high: int = 0
    choices: Tuple[str, ...] = ()  # CHOICE: matched by unique prefix like keywords

    @property
    def placeholder(self) -> str:
        return f"<{self.name}>"


@dataclass(frozen=True)
class Option:
    """A ``watch events`` option: a flag, or a word with a value; ``requires`` comes first."""

    word: str
    value: Optional[Arg] = None
    requires: Optional[str] = None
    help: str = ""


@dataclass(frozen=True)
class Node:
    """A keyword (``word``) or an argument (``arg``); a command may end where ``command`` is set."""

    word: Optional[str] = None
    arg: Optional[Arg] = None
    children: Tuple[Node, ...] = ()
    command: Optional[str] = None
    options: Tuple[Option, ...] = ()
    help: str = ""

    @property
    def label(self) -> str:
        return self.word if self.word is not None else self.arg.placeholder


def kw(word: str, *children: Node, command: Optional[str] = None, help: str = "",
       options: Tuple[Option, ...] = ()) -> Node:
    return Node(word=word, children=children, command=command, help=help, options=options)


def arg(argument: Arg, *children: Node, command: Optional[str] = None, help: str = "") -> Node:
    return Node(arg=argument, children=children, command=command, help=help)


BACKEND = Arg("backend", source="backend")
FRONTEND = Arg("frontend", source="frontend")
POOL = Arg("pool", source="pool")
HEALTHCHECK = Arg("healthcheck", source="healthcheck")
WEIGHT = Arg("weight", INT, low=0, high=100)
COUNT = Arg("num", INT, low=1, high=1_000_000_000)
LEVEL = Arg("level", CHOICE, choices=LOG_LEVELS)
ACTION = Arg("action", CHOICE, choices=BACKEND_ACTIONS)

WATCH_OPTIONS = (
    Option("num", COUNT, help="stop after N events"),
    Option("backend", help="backend transitions"),
    Option("frontend", help="frontend transitions"),
    Option("log", help="log records (level info unless given)"),
    Option("level", LEVEL, requires="log", help="lowest log level shown"),
)

ROOT = Node(word="", children=(
    kw("show",
       kw("version", command="show-version", help="agent and maglevctl versions, agent uptime"),
       kw("frontends", command="show-frontends", help="every frontend: VIP, state, active pool"),
       kw("frontend", arg(FRONTEND, command="show-frontend", help="one frontend: pools, members, weights")),
       kw("backends", command="show-backends", help="every backend: state, last result"),
       kw("backend", arg(BACKEND, command="show-backend", help="one backend: state, counter, history")),
       kw("healthchecks", command="show-healthchecks", help="every health check"),
       kw("healthcheck", arg(HEALTHCHECK, command="show-healthcheck", help="one health check")),
       kw("vpp",
          kw("info", command="show-vpp-info", help="VPP version, pid, boot time, connection"),
          kw("lb",
             kw("state", command="show-vpp-lb-state", help="VIPs and ASes as VPP has them"),
             kw("counters", command="show-vpp-lb-counters", help="per-VIP packet counters"))),
       help="show state"),
    kw("set",
       kw("backend", arg(BACKEND, arg(ACTION, command="set-backend", help="operator action on one backend"))),
       kw("frontend", arg(FRONTEND, kw("pool", arg(POOL, kw("backend", arg(BACKEND, kw("weight", arg(
           WEIGHT, command="set-weight", help="runtime weight 0..100 of one pool member")))))))),
       help="change state"),
    kw("config",
       kw("check", command="config-check", help="validate the agent's config file"),
       kw("reload", command="config-reload", help="reload the agent's config file"),
       help="the config file"),
    kw("sync", kw("vpp", kw("lb", kw("state", command="sync-vpp", help="full sync now, wait until done"))),
       help="synchronise VPP"),
    kw("watch", kw("events", command="watch-events", options=WATCH_OPTIONS, help="stream events")),
    kw("help", command="help", help="this list"),
    kw("quit", command="quit", help="leave the shell"),
    kw("exit", command="quit", help="leave the shell"),
))


class GrammarError(Exception):
    """A line that is not a command; ``message`` says what is wrong and what was expected."""

    def __init__(self, message: str, expected: Sequence[str] = ()):
        super().__init__(message)
        self.message = message
        self.expected = tuple(expected)


@dataclass(frozen=True)
class Parsed:
    command: str
    args: Mapping[str, Any]
    words: Tuple[str, ...]  # the line with every shortened word written out


# -- cursors: where in the tree a reading stands --------------------------------------------------


@dataclass(frozen=True)
class _Cursor:
    node: Node  # the last node matched
    used: FrozenSet[str] = frozenset()  # options given so far (option nodes only)
    pending: Optional[Option] = None  # an option whose value comes next


@dataclass(frozen=True)
class _Reading:
    cursor: _Cursor
    args: Tuple[Tuple[str, Any], ...]
    words: Tuple[str, ...]


def _prefix_matches(word: str, candidates: Iterable[str]) -> List[str]:
    candidates = list(candidates)
    if word in candidates:
        return [word]  # an exact word always wins
    return [c for c in candidates if c.startswith(word)]


def _next_words(cursor: _Cursor, free: Callable[[Arg], Iterable[str]]) -> List[str]:
    """What may come next at ``cursor``: keywords, open options and choices as they are, a free
    argument (a name or a number) as ``free`` gives it."""
    if cursor.pending is not None:
        value = cursor.pending.value
        return list(value.choices) if value.kind == CHOICE else list(free(value))
    if cursor.node.options:
        return [o.word for o in _open_options(cursor)]
    result: List[str] = []
    for child in cursor.node.children:
        if child.word is not None:
            result.append(child.word)
        elif child.arg.kind == CHOICE:
            result.extend(child.arg.choices)
        else:
            result.extend(free(child.arg))
    return result


def _expected(cursor: _Cursor) -> List[str]:
    """What may come next, for messages and help (placeholders for free arguments)."""
    return _next_words(cursor, lambda arg: [arg.placeholder])


def _open_options(cursor: _Cursor) -> List[Option]:
    return [o for o in cursor.node.options
            if o.word not in cursor.used and (o.requires is None or o.requires in cursor.used)]


def _value(argument: Arg, word: str) -> Tuple[List[Tuple[Any, str]], Optional[str]]:
    """Readings of ``word`` as ``argument``: [(value, canonical word)], or an error message."""
    if argument.kind == INT:
        try:
            number = int(word, 10)
        except ValueError:
            number = None
        if number is None or not argument.low <= number <= argument.high:
            return [], f"{argument.name}: expected an integer {argument.low}..{argument.high}, got {word!r}"
        return [(number, str(number))], None
    if argument.kind == CHOICE:
        matches = _prefix_matches(word, argument.choices)
        if not matches:
            return [], f"{argument.name}: expected one of {', '.join(argument.choices)}, got {word!r}"
        return [(m, m) for m in matches], None
    return [(word, word)], None


def _step(reading: _Reading, word: str) -> Tuple[List[_Reading], Optional[str]]:
    """Every reading after one more word, or why there is none."""
    cursor = reading.cursor
    if cursor.pending is not None:
        option = cursor.pending
        values, error = _value(option.value, word)
        return [
            _Reading(_Cursor(cursor.node, cursor.used), reading.args + ((option.value.name, v),), reading.words + (c,))
            for v, c in values
        ], error
    if cursor.node.options:
        options = {o.word: o for o in _open_options(cursor)}
        matches = _prefix_matches(word, options)
        readings = []
        for name in matches:
            option = options[name]
            pending = option if option.value is not None else None
            binding = () if pending else ((option.word, True),)
            readings.append(_Reading(_Cursor(cursor.node, cursor.used | {name}, pending),
                                     reading.args + binding, reading.words + (name,)))
        if readings:
            return readings, None
        early = [o for o in cursor.node.options if o.word not in cursor.used and o.word.startswith(word)]
        if early and early[0].requires:
            return [], f"{early[0].word} needs {early[0].requires} before it"
        return [], f"unexpected {word!r} after {_spoken(reading.words)}"
    keywords = {c.word: c for c in cursor.node.children if c.word is not None}
    readings = [_Reading(_Cursor(keywords[m]), reading.args, reading.words + (m,))
                for m in _prefix_matches(word, keywords)]
    error = None
    for child in cursor.node.children:
        if child.arg is not None:
            values, error = _value(child.arg, word)
            readings.extend(_Reading(_Cursor(child), reading.args + ((child.arg.name, v),), reading.words + (c,))
                            for v, c in values)
    if not readings and error is None:
        if not cursor.node.children:
            error = f"unexpected {word!r} after {_spoken(reading.words)}"
        elif not reading.words:
            error = f"unknown command {word!r}"
        else:
            error = f"unknown word {word!r} after {_spoken(reading.words)}"
    return readings, error


def _spoken(words: Sequence[str]) -> str:
    return repr(" ".join(words))


def _walk(words: Sequence[str]) -> Tuple[List[_Reading], Optional[GrammarError]]:
    """The readings of ``words`` (all consumed), or the first word that leaves none."""
    readings = [_Reading(_Cursor(ROOT), (), ())]
    for word in words:
        following: List[_Reading] = []
        errors: List[str] = []
        for reading in readings:
            more, error = _step(reading, word.lower() if not _is_free(reading) else word)
            following.extend(more)
            if error:
                errors.append(error)
        if not following:
            if len(readings) == 1:
                return [], GrammarError(errors[0], _expected(readings[0].cursor))
            return [], _ambiguity(readings, words, f"and {word!r} fits none of them")
        readings = following
    return readings, None


def _is_free(reading: _Reading) -> bool:
    """Whether the next word may be a free argument (names keep their case)."""
    cursor = reading.cursor
    if cursor.pending is not None or cursor.node.options:
        return False
    return any(c.arg is not None and c.arg.kind == NAME for c in cursor.node.children)


def _ambiguity(readings: Sequence[_Reading], typed: Sequence[str], tail: str = "") -> GrammarError:
    """Name the first word the readings disagree on (as typed), and its candidates."""
    spelled = [r.words for r in readings]
    for index in range(min(len(w) for w in spelled)):
        seen = sorted({w[index] for w in spelled})
        if len(seen) > 1:
            return GrammarError(f"ambiguous {typed[index]!r}: could be {', '.join(seen)}"
                                + (f" {tail}" if tail else ""), seen)
    return GrammarError("ambiguous command")


def parse(words: Sequence[str]) -> Parsed:
    """The one command ``words`` can mean; GrammarError says why there is none (or several)."""
    if not words:
        raise GrammarError("no command given", _expected(_Cursor(ROOT)))
    readings, error = _walk(words)
    if error is not None:
        raise error
    complete = [r for r in readings if r.cursor.pending is None and r.cursor.node.command]
    if len(complete) == 1:
        reading = complete[0]
        return Parsed(reading.cursor.node.command, dict(reading.args), reading.words)
    if len(complete) > 1:
        raise _ambiguity(complete, words)
    if len(readings) > 1:
        raise _ambiguity(readings, words)
    expected = _expected(readings[0].cursor)
    raise GrammarError(f"incomplete command {_spoken(readings[0].words)}: expected {_or(expected)}", expected)


def _or(words: Sequence[str]) -> str:
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


# -- completion and help --------------------------------------------------------------------------

Values = Callable[[str, Mapping[str, Any]], Iterable[str]]


def complete(words: Sequence[str], partial: str, values: Optional[Values] = None) -> List[str]:
    """Words that may follow ``words`` and start with ``partial`` (sorted, unique).

    Free arguments complete from ``values(source, args so far)`` (e.g. backend names); integers
    complete to nothing.
    """
    readings, error = _walk(words)
    if error is not None:
        return []
    found = set()
    for reading in readings:
        for candidate in _candidates(reading, values):
            if candidate.startswith(partial):
                found.add(candidate)
    return sorted(found)


def _candidates(reading: _Reading, values: Optional[Values]) -> List[str]:
    """What may come next, for completion: configured names from ``values``, no numbers."""

    def names(arg: Arg) -> Iterable[str]:
        return values(arg.source, dict(reading.args)) if arg.kind == NAME and values is not None else ()

    return _next_words(reading.cursor, names)


def help_lines(words: Sequence[str] = ()) -> List[str]:
    """One line per command under ``words`` (all commands when empty): syntax and what it does."""
    readings, error = _walk(words)
    if error is not None:
        raise error
    lines: List[str] = []
    for reading in readings:
        lines.extend(_syntax(reading.cursor.node, list(reading.words)))
    return lines


def _syntax(node: Node, prefix: List[str]) -> List[str]:
    lines: List[str] = []
    if node.command:
        syntax = " ".join(prefix + [_options_syntax(node.options)] if node.options else prefix)
        if len(syntax) < HELP_COLUMN:
            lines.append(f"{syntax:{HELP_COLUMN}} {node.help}".rstrip())
        else:
            lines.extend([syntax, f"{'':{HELP_COLUMN}} {node.help}".rstrip()])
    for child in node.children:
        label = child.label if not (child.arg and child.arg.kind == CHOICE) else "|".join(child.arg.choices)
        lines.extend(_syntax(child, prefix + [label]))
    return lines


def _options_syntax(options: Sequence[Option], under: Optional[str] = None) -> str:
    """``[num <num>] [backend] [log [level ...]]``: an option that requires another nests in it."""
    parts = []
    for option in options:
        if option.requires != under:
            continue
        shown = option.word + (f" {_value_label(option.value)}" if option.value else "")
        inner = _options_syntax(options, option.word)
        parts.append(f"[{shown}{' ' + inner if inner else ''}]")
    return " ".join(parts)


def _value_label(value: Arg) -> str:
    return "|".join(value.choices) if value.kind == CHOICE else value.placeholder


def all_commands() -> List[str]:
    """Every command name in the tree (for tests: each has a handler)."""
    names: List[str] = []

    def visit(node: Node) -> None:
        if node.command and node.command not in names:
            names.append(node.command)
        for child in node.children:
            visit(child)

    visit(ROOT)
    return names


def help_topic(words: Sequence[str]) -> Optional[List[str]]:
    """The words help is asked about (``help show vpp``, ``show vpp ?``), or None for other lines."""
    if words and words[-1] == "?":
        return list(words[:-1])
    roots = [c.word for c in ROOT.children if c.word is not None]
    if words and _prefix_matches(words[0].lower(), roots) == ["help"]:
        return list(words[1:])
    return None
