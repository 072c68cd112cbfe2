"""`bokehfx jobs OUT`: the journal of a watch folder, and requeueing failed jobs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from cli.app import app


@app.command()
def jobs(
    out_dir: Annotated[Path, typer.Argument(metavar="OUT", help="The watch folder's output folder.",
                                            show_default=False)],
    json_out: Annotated[bool, typer.Option("--json", help="Print the journal as JSON.")] = False,
    retry: Annotated[Optional[str], typer.Option(help="Requeue a failed job by its id, or all failed jobs.",
                                                 metavar="ID|all", show_default=False)] = None,
) -> None:
    """List the journal of a watch folder (OUT/.bokehfx/jobs.sqlite), or requeue failed jobs."""
    import json

    from bokehfx.batch.journal import Journal

    with Journal(out_dir, create=False) as journal:
        if retry is not None:
            count = journal.retry(retry)
            typer.echo(f"requeued {count} job(s); a running watcher takes them next")
            return
        rows = journal.rows()
    if json_out:
        typer.echo(json.dumps([row.as_dict() for row in rows], indent=1))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table("id", "state", "tries", "input", "output", "seconds", "error", box=None)
    for row in rows:
        seconds = f"{row.seconds:.1f}" if row.seconds is not None else "-"
        table.add_row(str(row.id), row.state, str(row.attempts), row.input, row.output or "-", seconds,
                      row.error or "")
    Console(width=200).print(table)
