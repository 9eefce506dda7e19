"""``rittunnel completion bash|zsh|fish``: a shell completion script made from the command
table (its parser), and ``completion --list KIND``, what the scripts run on Tab for the
names to offer (:mod:`rittunnel.commands.names`: profiles, running tunnels, cached
service names; never the API).

The scripts complete commands, each command's options, and the names its NAME arguments
take; ``--service`` takes a service name. Running on every Tab, this path imports no
trio, httpx or yaml (a test holds it to that)."""

from __future__ import annotations

import argparse
import shlex
from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import UsageError
from ..report import Reporter
from ..settings import Settings
from .names import names_of
from .options import CompletionOptions

#: the shells a script is made for
SHELLS = ("bash", "zsh", "fish")
#: options whose value is a name completion offers, and of what kind
OPTION_KINDS = {"--service": "services"}


@dataclass(frozen=True)
class Option:
    flags: tuple[str, ...]
    takes_value: bool
    help: str


@dataclass(frozen=True)
class Spec:
    """One command as completion sees it."""

    name: str
    help: str
    options: tuple[Option, ...]
    #: what its NAME arguments are ("profiles", "tunnels", "shells", or "")
    kind: str
    #: whether it takes several NAMEs
    many: bool


def specs(parser: argparse.ArgumentParser, kinds: Mapping[str, str]) -> list[Spec]:
    """Each command of ``parser`` (:func:`~.registry.build_parser`'s), its NAME kind from
    ``kinds`` (the table's ``completes``)."""
    out = []
    for action in parser._actions:
        if not isinstance(action, argparse._SubParsersAction):
            continue
        helps = {a.dest: a.help or "" for a in action._choices_actions}
        for name, sub in action.choices.items():
            options = tuple(
                Option(tuple(a.option_strings), a.nargs != 0, a.help or "")
                for a in sub._actions
                if a.option_strings and a.help != argparse.SUPPRESS
            )
            names = [
                a for a in sub._actions if not a.option_strings and a.help != argparse.SUPPRESS
            ]
            many = any(a.nargs in ("+", "*") for a in names)
            out.append(Spec(name, helps.get(name, ""), options, kinds.get(name, ""), many))
    return out


def value_options(commands: list[Spec]) -> list[str]:
    """Every option that takes a value (its next word is no command or name)."""
    found = {f: None for c in commands for o in c.options if o.takes_value for f in o.flags}
    return sorted(found)


def _flags(spec: Spec) -> str:
    return " ".join(f for o in spec.options for f in o.flags)


# -- bash ------------------------------------------------------------------------------

_BASH = r"""# bash completion for rittunnel: made by `rittunnel completion bash` from its
# command table. Load it with:  source <(rittunnel completion bash)
_rittunnel_names() { # KIND WORD: the names of KIND that start with WORD
    local IFS=$'\n' name
    for name in $(command rittunnel completion --list "$1" 2>/dev/null); do
        [[ $name == "$2"* ]] && COMPREPLY+=("$(printf '%q' "$name")")
    done
}

_rittunnel() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    local cmd= word i names=0 opts= kind= many=
    COMPREPLY=()
    if [[ $cur == = ]]; then cur=; elif [[ $prev == = ]]; then prev=${COMP_WORDS[COMP_CWORD-2]}; fi
    for ((i = 1; i < COMP_CWORD; i++)); do
        word=${COMP_WORDS[i]}
        case $word in
            --)
                if [[ $cmd == run ]] && declare -F _command_offset >/dev/null; then
                    _command_offset $((i + 1))
                fi
                return ;;
            =) ;;
            @VALUE_OPTIONS@) ((i++)); [[ ${COMP_WORDS[i]} == = ]] && ((i++)) ;;
            -*) ;;
            *)
                if [[ -z $cmd ]]; then
                    case $word in
                        @COMMANDS_ALT@) cmd=$word ;;
                        *) cmd=@DEFAULT@; names=1 ;;
                    esac
                else
                    ((names++))
                fi ;;
        esac
    done
    case $prev in
        --service) _rittunnel_names services "$cur"; return ;;
        @VALUE_OPTIONS@) return ;;
    esac
    case $cmd in
        '')
            if [[ $cur == -* ]]; then
                COMPREPLY=($(compgen -W "-h --help --version" -- "$cur"))
            else
                COMPREPLY=($(compgen -W "@COMMANDS@" -- "$cur"))
                _rittunnel_names profiles "$cur"
            fi
            return ;;
@CASES@
    esac
    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
        return
    fi
    ((names > 0)) && [[ -z $many ]] && return
    case $kind in
        profiles | tunnels) _rittunnel_names "$kind" "$cur" ;;
        shells) COMPREPLY=($(compgen -W "@SHELLS@" -- "$cur")) ;;
    esac
}

complete -o default -F _rittunnel rittunnel
"""


def bash_script(commands: list[Spec], default: str) -> str:
    cases = "\n".join(
        f"        {c.name}) opts={shlex.quote(_flags(c))}; kind={c.kind}; "
        f"many={'1' if c.many else ''} ;;"
        for c in commands
    )
    return (
        _BASH.replace("@VALUE_OPTIONS@", " | ".join(value_options(commands)))
        .replace("@COMMANDS_ALT@", " | ".join(c.name for c in commands))
        .replace("@COMMANDS@", " ".join(c.name for c in commands))
        .replace("@DEFAULT@", default)
        .replace("@SHELLS@", " ".join(SHELLS))
        .replace("@CASES@", cases)
    )


# -- zsh -------------------------------------------------------------------------------

_ZSH = r"""#compdef rittunnel
# zsh completion for rittunnel: made by `rittunnel completion zsh` from its command
# table. Load it with:  source <(rittunnel completion zsh)  (after compinit), or save it
# as _rittunnel in a directory of $fpath.
_rittunnel_names() { # KIND: the names of KIND
    local -a names
    names=(${(f)"$(command rittunnel completion --list $1 2>/dev/null)"})
    compadd -a names
}

_rittunnel() {
    local cmd= word prev=${words[CURRENT-1]} kind= many= i names=0
    local -a opts commands
    commands=(
@DESCRIBED@
    )
    for ((i = 2; i < CURRENT; i++)); do
        word=${words[i]}
        case $word in
            --) [[ $cmd == run ]] && { shift $i words; ((CURRENT -= i)); _normal; }; return ;;
            @VALUE_OPTIONS@) ((i++)) ;;
            -*) ;;
            *)
                if [[ -z $cmd ]]; then
                    case $word in
                        @COMMANDS_ALT@) cmd=$word ;;
                        *) cmd=@DEFAULT@; names=1 ;;
                    esac
                else
                    ((names++))
                fi ;;
        esac
    done
    case $prev in
        --service) _rittunnel_names services; return ;;
        @VALUE_OPTIONS@) return ;;
    esac
    if [[ -z $cmd ]]; then
        if [[ $PREFIX == -* ]]; then
            compadd -- -h --help --version
        else
            _describe command commands
            _rittunnel_names profiles
        fi
        return
    fi
    case $cmd in
@CASES@
    esac
    if [[ $PREFIX == -* ]]; then
        compadd -a opts
        return
    fi
    ((names > 0)) && [[ -z $many ]] && return
    case $kind in
        profiles | tunnels) _rittunnel_names $kind ;;
        shells) compadd @SHELLS@ ;;
    esac
}

if [[ ${zsh_eval_context[-1]} == loadautofunc ]]; then
    _rittunnel "$@"
else
    compdef _rittunnel rittunnel
fi
"""


def zsh_script(commands: list[Spec], default: str) -> str:
    described = "\n".join(
        "        " + shlex.quote(f"{c.name}:{c.help.replace(':', chr(92) + ':')}") for c in commands
    )
    cases = "\n".join(
        f"        {c.name}) opts=({_flags(c)}); kind={c.kind}; many={'1' if c.many else ''} ;;"
        for c in commands
    )
    return (
        _ZSH.replace("@VALUE_OPTIONS@", " | ".join(value_options(commands)))
        .replace("@COMMANDS_ALT@", " | ".join(c.name for c in commands))
        .replace("@DESCRIBED@", described)
        .replace("@DEFAULT@", default)
        .replace("@SHELLS@", " ".join(SHELLS))
        .replace("@CASES@", cases)
    )


# -- fish ------------------------------------------------------------------------------


def _fish_quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def fish_script(commands: list[Spec], default: str) -> str:
    names = " ".join(c.name for c in commands)
    lines = [
        "# fish completion for rittunnel: made by `rittunnel completion fish` from its",
        "# command table. Load it with:  rittunnel completion fish | source",
        "complete -c rittunnel -f",
        "complete -c rittunnel -n __fish_use_subcommand -l version -d 'show the version'",
        "complete -c rittunnel -n __fish_use_subcommand"
        " -a '(command rittunnel completion --list profiles 2>/dev/null)' -d profile",
    ]
    lines += [
        f"complete -c rittunnel -n __fish_use_subcommand -a {c.name} -d {_fish_quote(c.help)}"
        for c in commands
    ]
    lists = {
        "profiles": "(command rittunnel completion --list profiles 2>/dev/null)",
        "tunnels": "(command rittunnel completion --list tunnels 2>/dev/null)",
        "shells": " ".join(SHELLS),
    }
    for c in commands:
        seen = f"'__fish_seen_subcommand_from {c.name}'"
        for o in c.options:
            parts = [f"complete -c rittunnel -n {seen}"]
            for flag in o.flags:
                parts.append(f"-l {flag[2:]}" if flag.startswith("--") else f"-s {flag[1:]}")
            if o.flags and o.flags[-1] in OPTION_KINDS:
                kind = OPTION_KINDS[o.flags[-1]]
                parts.append(f"-x -a '(command rittunnel completion --list {kind} 2>/dev/null)'")
            elif o.takes_value:
                parts.append("-r")
            parts.append(f"-d {_fish_quote(o.help)}")
            lines.append(" ".join(parts))
        if c.kind:
            lines.append(f"complete -c rittunnel -n {seen} -a {_fish_quote(lists[c.kind])}")
    lines.append(
        "complete -c rittunnel -n "
        f"'not __fish_use_subcommand; and not __fish_seen_subcommand_from {names}'"
        f" -a {_fish_quote(lists['profiles'])}"
    )
    del default  # `rittunnel NAME…` is `up NAME…`: the last line offers more profiles
    return "\n".join(lines) + "\n"


SCRIPTS = {"bash": bash_script, "zsh": zsh_script, "fish": fish_script}


def script(
    shell: str, parser: argparse.ArgumentParser, kinds: Mapping[str, str], default: str
) -> str:
    """The completion script for ``shell``, made from ``parser``, the NAME kinds and the
    command ``rittunnel NAME`` stands for (``default``)."""
    return SCRIPTS[shell](specs(parser, kinds), default)


def completion(
    options: CompletionOptions,
    parser: argparse.ArgumentParser,
    kinds: Mapping[str, str],
    default: str,
    settings: Settings,
    reporter: Reporter,
) -> int:
    """Print the script for ``options.shell``, or the names of ``options.list``."""
    if options.list:
        for name in names_of(options.list, settings):
            if name.isprintable():  # one a line, nothing a terminal would act on
                reporter.output(name)
        return 0
    if not options.shell:
        raise UsageError(f"completion: name the shell ({', '.join(SHELLS)})")
    reporter.output(script(options.shell, parser, kinds, default).rstrip("\n"))
    return 0
