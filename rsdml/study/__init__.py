"""The study runner: a grid of notebook executions, then the report notebooks.

A study file (:mod:`~rsdml.study.spec`) names the methods, seeds and settings of a grid; each
cell of the grid (:mod:`~rsdml.study.grid`, method x setting x seed) runs
``notebooks/<notebook>.py`` through papermill in its own folder, and the report notebooks then
read every cell and regenerate the figures and tables (:mod:`~rsdml.study.runner`). A dry run
and the rerun of finished cells are planned in :mod:`~rsdml.study.plan`.

- :mod:`~rsdml.study.spec`: :class:`Study`, :func:`load_study` and every check of a study file;
- :mod:`~rsdml.study.grid`: :class:`Cell`, :func:`expand`, :func:`select_cells`, a cell's state;
- :mod:`~rsdml.study.plan`: :func:`plan_study` (the dry run), setting aside cells to rerun;
- :mod:`~rsdml.study.runner`: :func:`run_study`, :func:`run_report`, :func:`regenerate_figures`;
- :mod:`~rsdml.study.executors`: the grid as a submitit job array (Slurm or local), ``--cancel``;
- :mod:`~rsdml.study.locks`: the lock that keeps a cell from running twice at once;
- :mod:`~rsdml.study.status`: :func:`study_status`, where a study stands, from its folder.
"""

from rsdml.study.executors import (
    EXECUTORS,
    ClusterOptions,
    ExecutorError,
    cancel_study,
    check_executor,
    parse_slurm_options,
)
from rsdml.study.grid import (
    Cell,
    cell_matches,
    expand,
    is_done,
    recorded_seconds,
    select_cells,
    study_dir,
)
from rsdml.study.locks import CellLock, LocksUnsupported, lock_holder
from rsdml.study.plan import FINISHED, cell_status, plan_study
from rsdml.study.runner import (
    FEATURE_PARAMETERS,
    prepare_shared_features,
    regenerate_figures,
    run_cell,
    run_cells,
    run_report,
    run_study,
)
from rsdml.study.spec import (
    GRID_KEYS,
    GRID_PARAMETERS,
    PRESETS_DIR,
    REPORT_RUNNER_PARAMETERS,
    Study,
    StudyError,
    available_presets,
    cell_config,
    load_study,
)
from rsdml.study.status import study_status

__all__ = [
    "EXECUTORS",
    "CellLock",
    "ClusterOptions",
    "ExecutorError",
    "LocksUnsupported",
    "cancel_study",
    "cell_status",
    "check_executor",
    "lock_holder",
    "parse_slurm_options",
    "study_dir",
    "study_status",
    "FEATURE_PARAMETERS",
    "FINISHED",
    "GRID_KEYS",
    "GRID_PARAMETERS",
    "PRESETS_DIR",
    "REPORT_RUNNER_PARAMETERS",
    "Cell",
    "Study",
    "StudyError",
    "available_presets",
    "cell_config",
    "cell_matches",
    "expand",
    "is_done",
    "load_study",
    "plan_study",
    "prepare_shared_features",
    "recorded_seconds",
    "regenerate_figures",
    "run_cell",
    "run_cells",
    "run_report",
    "run_study",
    "select_cells",
]
