"""Running the project's notebooks with papermill, in a fresh kernel or a warm one.

A fresh kernel per notebook costs seconds of start-up and imports (torch, pandas, matplotlib)
before the first line of the experiment runs. For a study of hundreds of short frozen-backbone
cells that is a large part of the wall time, so the study runner keeps one :class:`WarmKernel`
per worker: the kernel stays alive between notebooks and its namespace is cleared before each
(IPython's reset: user variables and output history go, imported modules stay loaded). A
notebook therefore still starts from an empty namespace, and every run seeds its own random
generators, so a warm kernel gives the same results as a fresh one (tested). A kernel that dies
or times out is replaced by a fresh one for the next notebook.

Papermill only logs a parameter that the notebook's parameters cell does not define, and the
notebook then runs with its own default: here such a parameter is refused before the kernel
starts (:func:`check_parameters`).

The notebooks' default folders come from :func:`runs_dir`, the repository's ``runs/`` (or
``$RSDML_RUNS``), never from the working folder: a notebook run from anywhere (JupyterLab,
``jupytext --execute``, papermill) reads and writes the same study. A report notebook over a
folder without finished runs stops with :class:`EmptyStudyError` (:func:`require_finished_runs`)
instead of succeeding with nothing to show.
"""

from __future__ import annotations

import ast
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from jupyter_client.manager import AsyncKernelManager
from jupyter_core.utils import run_sync

from rsdml import rundir
from rsdml.errors import UserError, did_you_mean

# The kernel that papermill runs the notebooks in. The notebooks' own header names the "rsdml"
# kernel that `make venv` installs (what JupyterLab starts), but execution keeps ipykernel's
# native kernel: it exists wherever ipykernel is installed and runs this very interpreter.
KERNEL = "python3"
NOTEBOOKS_DIR = Path(__file__).resolve().parent.parent / "notebooks"
REPOSITORY = NOTEBOOKS_DIR.parent
#: Overrides the repository's ``runs/`` folder as the notebooks' default study location.
RUNS_ENV = "RSDML_RUNS"
START_TIMEOUT = 180
# The kernel's own start-up and shutdown chatter (transport warnings) would interleave with the
# study's progress bar; cell errors still reach the executed notebook.
KERNEL_ARGUMENTS = ["--IPKernelApp.log_level=CRITICAL"]


class UnknownNotebookParameter(UserError, ValueError):
    """A parameter that the notebook's parameters cell does not define."""


class EmptyStudyError(UserError, FileNotFoundError):
    """A report notebook pointed at a folder that holds no finished run."""


def runs_dir(*parts: str) -> str:
    """The notebooks' default folder ``runs/<parts>``, independent of the working folder.

    ``runs/`` is ``$RSDML_RUNS`` when set (a relative value is taken from the working folder at
    the call), else the ``runs/`` folder of the repository that holds this package. A string,
    like the values papermill injects, so a notebook treats defaults and parameters alike.
    """
    base = os.environ.get(RUNS_ENV) or REPOSITORY / "runs"
    return str(Path(base).expanduser().absolute().joinpath(*parts))


def require_finished_runs(study_dir: str | os.PathLike) -> None:
    """Refuse a study folder without any finished cell, naming the folder and the fix.

    Raises:
        EmptyStudyError: ``study_dir`` is missing or none of its cells finished.
    """
    folder = Path(study_dir)
    if any(rundir.is_cell_done(cell) for cell in rundir.study_cell_folders(folder)):
        return
    state = "does not exist" if not folder.exists() else "holds no finished run"
    raise EmptyStudyError(
        f"the study folder {folder} {state}: run the study first (`make study` for the quick "
        f"study, or `rsdml study <preset or file> --out {folder}`), or set study_dir (or "
        f"${RUNS_ENV}) to a study that has finished runs"
    )


def parameter_names(notebook: str | os.PathLike) -> list[str]:
    """The variables that a notebook's ``parameters`` cell assigns, in order.

    ``notebook`` is an .ipynb file or a jupytext percent script (.py). A notebook without a
    parameters cell takes none.
    """
    import jupytext

    # jupytext reads both formats; the cell tags are what papermill looks for too
    for cell in jupytext.read(Path(notebook)).cells:
        if cell.cell_type == "code" and "parameters" in cell.metadata.get("tags", []):
            names = []
            for node in ast.parse(cell.source).body:
                targets = node.targets if isinstance(node, ast.Assign) else []
                if isinstance(node, ast.AnnAssign):
                    targets = [node.target]
                names += [t.id for t in targets if isinstance(t, ast.Name) and t.id not in names]
            return names
    return []


def check_parameters(notebook: str | os.PathLike, parameters: dict[str, Any]) -> None:
    """Refuse parameters that ``notebook``'s parameters cell does not define.

    Raises:
        UnknownNotebookParameter: naming each unknown parameter, the closest known one and the
            notebook's parameters.
    """
    known = parameter_names(notebook)
    unknown = [name for name in parameters if name not in known]
    if unknown:
        hints = [f"{name!r}{did_you_mean(name, known)}" for name in unknown]
        raise UnknownNotebookParameter(
            f"notebook {Path(notebook).stem} has no parameter {', '.join(hints)}; its "
            f"parameters are {known}: rename or remove the unknown one(s)"
        )


def notebook_path(name: str, out: str | os.PathLike) -> Path:
    """Convert ``notebooks/<name>.py`` (jupytext percent format) to an .ipynb under ``out``."""
    import jupytext

    source = NOTEBOOKS_DIR / f"{name}.py"
    target = Path(out) / "_notebooks" / f"{name}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    notebook = jupytext.read(source)
    notebook.metadata["kernelspec"] = {
        "name": KERNEL,
        "display_name": "Python 3",
        "language": "python",
    }
    tmp = target.with_suffix(".tmp.ipynb")
    jupytext.write(notebook, tmp, fmt="ipynb")
    os.replace(tmp, target)
    return target


def set_threads(threads: int) -> None:
    """Thread counts for kernels started from now on (they inherit this process's environment)."""
    os.environ.update(
        OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), RSDML_PROGRESS="0"
    )


def execute_notebook(
    notebook: Path,
    output: Path,
    parameters: dict[str, Any],
    threads: int,
    kernel: WarmKernel | None = None,
    save_each_cell: bool = True,
) -> None:
    """Run one notebook with papermill inside ``output``'s folder.

    Without ``kernel`` the notebook gets a fresh kernel that is shut down afterwards; with one,
    it runs in that warm kernel after a namespace reset. ``save_each_cell``: papermill writes
    ``output`` before and after every cell, so that a long notebook can be watched; without
    it, once at the end.

    Raises:
        UnknownNotebookParameter: a parameter the notebook does not define (papermill would only
            log it and run with the notebook's default).
    """
    check_parameters(notebook, parameters)
    output.parent.mkdir(parents=True, exist_ok=True)
    set_threads(threads)
    if kernel is None:
        _papermill(
            notebook,
            output,
            parameters,
            cwd=str(output.parent),
            extra_arguments=KERNEL_ARGUMENTS,
            request_save_on_cell_execute=save_each_cell,
        )
    else:
        kernel.execute(notebook, output, parameters, save_each_cell=save_each_cell)


def _papermill(notebook: Path, output: Path, parameters: dict[str, Any], **options: Any) -> None:
    import papermill

    papermill.execute_notebook(
        str(notebook),
        str(output),
        parameters=parameters,
        kernel_name=KERNEL,
        progress_bar=False,
        start_timeout=START_TIMEOUT,
        **options,
    )


class WarmKernel:
    """One kernel reused across notebook executions, its namespace reset before each.

    Use as a context manager (or call :meth:`close`) so the kernel is shut down at the end.
    """

    def __init__(self) -> None:
        self._manager = None
        self.executions = 0
        self.starts = 0

    def _ensure_started(self, cwd: Path) -> None:
        if self._manager is not None and self._manager.has_kernel:
            return
        self.close()
        self._manager = ClientTrackingKernelManager(kernel_name=KERNEL)
        run_sync(self._manager.start_kernel)(extra_arguments=KERNEL_ARGUMENTS, cwd=str(cwd))
        self.starts += 1

    def execute(
        self,
        notebook: Path,
        output: Path,
        parameters: dict[str, Any],
        save_each_cell: bool = True,
    ) -> None:
        """Reset the namespace, change to ``output``'s folder, and run the notebook there
        (``save_each_cell`` as in :func:`execute_notebook`)."""
        from papermill.exceptions import PapermillExecutionError

        cwd = output.parent.resolve()  # the kernel's own working directory is elsewhere
        self._ensure_started(cwd)
        reset = (
            f"import os as _os; _os.chdir({str(cwd)!r}); del _os\n"
            "get_ipython().reset(new_session=True)"
        )
        try:
            # The reset runs through papermill's own kernel client, once it is ready and before
            # the first cell: a client of its own cost a third of a second a notebook.
            _papermill(
                notebook,
                output,
                parameters,
                km=self._manager,
                on_notebook_start=self._run_before_cells(reset),
                request_save_on_cell_execute=save_each_cell,
            )
        except PapermillExecutionError:
            raise  # an error in the notebook's own code: the kernel itself is fine
        except BaseException:
            self.close()  # dead, hung or interrupted: the next notebook gets a fresh kernel
            raise
        finally:
            if self._manager is not None:
                self._manager.stop_clients()
            self.executions += 1

    def _run_before_cells(self, code: str) -> Callable[..., Awaitable[None]]:
        """A hook for nbclient's ``on_notebook_start`` that runs ``code`` through the client
        the notebook's execution just started (raises on an error in ``code``)."""
        manager = self._manager

        async def run(**_: Any) -> None:
            client = manager.handed_out[-1]
            reply = await client.execute_interactive(
                code, store_history=False, output_hook=lambda message: None
            )
            if reply["content"]["status"] != "ok":
                content = reply["content"]
                raise RuntimeError(
                    f"the warm kernel could not reset: {content.get('ename')}: "
                    f"{content.get('evalue')}"
                )

        return run

    def close(self) -> None:
        """Shut the kernel down (a no-op when none is running)."""
        if self._manager is None:
            return
        manager, self._manager = self._manager, None
        manager.stop_clients()
        if manager.has_kernel:
            run_sync(manager.shutdown_kernel)(now=True)

    def __enter__(self) -> WarmKernel:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class ClientTrackingKernelManager(AsyncKernelManager):
    """A kernel manager that remembers the clients it hands out.

    nbclient leaves a client's channels (sockets and a heartbeat thread) open when it does not own
    the kernel manager; the warm kernel stops them after each notebook.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.handed_out: list[Any] = []

    def client(self, **kwargs: Any) -> Any:
        client = super().client(**kwargs)
        self.handed_out.append(client)
        return client

    def stop_clients(self) -> None:
        """Stop the channels of every client handed out so far."""
        while self.handed_out:
            client = self.handed_out.pop()
            if client.channels_running:
                client.stop_channels()
