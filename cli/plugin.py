"""`bokehfx plugin install|uninstall resolve|nuke`: put the host plugins where the hosts look.

The plugins (``plugins/``) are standard-library scripts that run this ``bokehfx`` command. Install
copies them and records the command's absolute path in ``$BOKEHFX_HOME/plugins.json`` (default
``~/.bokehfx``), with the files it wrote, so uninstall removes exactly those.

- **resolve**: the six menu scripts go to ``Fusion/Scripts/Edit`` of the per-OS folder (system-wide,
  or the user's with ``--user``, or ``--dest DIR``); their shared code goes to ``$BOKEHFX_HOME/lib``.
- **nuke**: ``init.py``, ``menu.py`` and the shared code go to ``~/.nuke/bokehfx`` (or ``--dest
  DIR``); without ``--dest`` a marked ``nuke.pluginAddPath`` line is added to ``~/.nuke/init.py``.
"""

from __future__ import annotations

import enum
import json
import os
import shutil
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from cli.app import app

plugin_app = typer.Typer(help="Install or remove the DaVinci Resolve and Nuke plugins.", no_args_is_help=True)
app.add_typer(plugin_app, name="plugin")

PLUGINS = Path(__file__).resolve().parent.parent / "plugins"
CONFIG_NAME = "plugins.json"
RESOLVE_MENU_SCRIPTS = tuple(f"bokehfx_{name}.{ext}" for name in ("render_clip", "import_renders", "render_timeline")
                             for ext in ("py", "lua"))
RESOLVE_LIBRARY = (("common", "bokehfx_host.py"), ("common", "bokehfx_host.lua"), ("resolve", "bokehfx_resolve.py"),
                   ("resolve", "bokehfx_resolve.lua"))
NUKE_FILES = (("nuke", "init.py"), ("nuke", "menu.py"), ("nuke", "bokehfx_nuke.py"), ("common", "bokehfx_host.py"))
NUKE_FOLDER = "bokehfx"
#: Marks the line install adds to ~/.nuke/init.py, so uninstall finds exactly it.
NUKE_INIT_MARK = "# added by bokehfx plugin install"
RESOLVE_SCRIPTS_TAIL = ("Fusion", "Scripts", "Edit")


class Host(str, enum.Enum):
    """Hosts with a bokehfx plugin."""

    resolve = "resolve"
    nuke = "nuke"


def bokehfx_home() -> Path:
    """``$BOKEHFX_HOME``, else ``~/.bokehfx``."""
    return Path(os.environ.get("BOKEHFX_HOME") or Path.home() / ".bokehfx")


def this_command() -> list[str]:
    """The absolute command that runs this bokehfx, as an argument-list prefix."""
    argv0 = Path(sys.argv[0])
    if argv0.stem == "bokehfx" and argv0.is_file():
        return [str(argv0.absolute())]
    found = shutil.which("bokehfx")
    if found:
        return [str(Path(found).absolute())]
    return [sys.executable, "-m", "cli.main"]


def resolve_scripts_folder(user: bool, platform: str = sys.platform) -> Path:
    """Resolve's ``Fusion/Scripts/Edit`` folder for this OS (the user's with ``user``)."""
    if platform == "darwin":
        base = Path("/Library/Application Support/Blackmagic Design/DaVinci Resolve")
        if user:
            base = Path.home() / "Library/Application Support/Blackmagic Design/DaVinci Resolve"
    elif platform == "win32":
        if user:
            base = Path(os.environ.get("APPDATA", Path.home() / "AppData/Roaming")) / \
                "Blackmagic Design/DaVinci Resolve/Support"
        else:
            base = Path(os.environ.get("PROGRAMDATA", "C:/ProgramData")) / "Blackmagic Design/DaVinci Resolve"
    else:
        base = Path.home() / ".local/share/DaVinciResolve" if user else Path("/opt/resolve")
    return base.joinpath(*RESOLVE_SCRIPTS_TAIL)


def _config() -> dict:
    path = bokehfx_home() / CONFIG_NAME
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _save_config(config: dict) -> Path:
    path = bokehfx_home() / CONFIG_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


def _copy(pairs: list[tuple[Path, Path]]) -> list[str]:
    from bokehfx.errors import OutputError

    written = []
    for source, target in pairs:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(source, target)
        except OSError as err:
            raise OutputError(f"cannot write {str(target)!r} ({err.strerror or err}); use --user or --dest DIR, "
                              "or run as an administrator") from None
        written.append(str(target))
    return written


def _nuke_init() -> Path:
    return Path.home() / ".nuke" / "init.py"


def _register_nuke(folder: Path) -> str:
    init = _nuke_init()
    line = f"nuke.pluginAddPath({str(folder)!r})  {NUKE_INIT_MARK}\n"
    text = init.read_text(encoding="utf-8") if init.is_file() else ""
    kept = [ln for ln in text.splitlines(keepends=True) if NUKE_INIT_MARK not in ln]
    header = [] if any(ln.strip() == "import nuke" for ln in kept) else ["import nuke\n"]
    init.parent.mkdir(parents=True, exist_ok=True)
    init.write_text("".join(header + kept + [line]), encoding="utf-8")
    return str(init)


def _unregister_nuke() -> None:
    init = _nuke_init()
    if init.is_file():
        text = init.read_text(encoding="utf-8")
        init.write_text("".join(ln for ln in text.splitlines(keepends=True) if NUKE_INIT_MARK not in ln),
                        encoding="utf-8")


@plugin_app.command("install")
def install(
    host: Annotated[Host, typer.Argument(help="resolve or nuke.")],
    user: Annotated[bool, typer.Option("--user", help="Resolve: the user's scripts folder instead of the "
                                                      "system-wide one.")] = False,
    dest: Annotated[Optional[str], typer.Option(help="Copy the scripts into this folder instead.",
                                                show_default=False)] = None,
) -> None:
    """Copy a host's plugin scripts into place and record this bokehfx command for them."""
    from bokehfx.errors import InputNotFoundError

    if not (PLUGINS / host.value).is_dir():
        raise InputNotFoundError(f"the plugin scripts are not at {str(PLUGINS)!r}: install bokehfx from its "
                                 "source tree (pip install -e .) to get them")
    home = bokehfx_home()
    if host is Host.resolve:
        folder = Path(dest) if dest else resolve_scripts_folder(user)
        pairs = [(PLUGINS / "resolve" / name, folder / name) for name in RESOLVE_MENU_SCRIPTS]
        pairs += [(PLUGINS / sub / name, home / "lib" / name) for sub, name in RESOLVE_LIBRARY]
        registered = None
    else:
        folder = Path(dest) if dest else Path.home() / ".nuke" / NUKE_FOLDER
        pairs = [(PLUGINS / sub / name, folder / name) for sub, name in NUKE_FILES]
        registered = None
    files = _copy(pairs)
    if host is Host.nuke and dest is None:
        registered = _register_nuke(folder)
    config = _config()
    config["command"] = this_command()
    config.setdefault("installed", {})[host.value] = {"folder": str(folder), "files": files,
                                                      "nuke_init": registered}
    _save_config(config)
    typer.echo(f"installed the {host.value} plugin in {folder}; it runs {' '.join(config['command'])}")


@plugin_app.command("uninstall")
def uninstall(host: Annotated[Host, typer.Argument(help="resolve or nuke.")]) -> None:
    """Remove the files ``plugin install`` wrote for a host."""
    from bokehfx.errors import UsageError

    config = _config()
    entry = (config.get("installed") or {}).pop(host.value, None)
    if entry is None:
        raise UsageError(f"the {host.value} plugin is not installed (nothing recorded in "
                         f"{bokehfx_home() / CONFIG_NAME})")
    for name in entry.get("files", []):
        Path(name).unlink(missing_ok=True)
    if entry.get("nuke_init"):
        _unregister_nuke()
    folder = Path(entry["folder"])
    if host is Host.nuke and folder.is_dir() and not any(folder.iterdir()):
        folder.rmdir()
    if not config.get("installed"):
        config.pop("command", None)
    _save_config(config)
    typer.echo(f"removed the {host.value} plugin from {folder}")
