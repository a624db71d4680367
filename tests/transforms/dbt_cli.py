"""dbt run as Dagster runs it (the project's environment and vars), for commands the assets don't run."""
import subprocess

from safecity.config.profiles import Settings
from safecity.orchestration.resources import dbt_executable, prepare_dbt
from safecity.transforms import PROJECT_DIR
from safecity.transforms.dbt_vars import dbt_vars_arg


def run_dbt(settings: Settings, *args: str) -> subprocess.CompletedProcess:
    prepare_dbt(settings)  # the environment profiles.yml reads
    return subprocess.run([dbt_executable(), *args, *dbt_vars_arg(settings), "--project-dir", str(PROJECT_DIR),
                           "--profiles-dir", str(PROJECT_DIR), "--target-path", str(settings.paths.dbt_target)],
                          capture_output=True, text=True, timeout=900)
