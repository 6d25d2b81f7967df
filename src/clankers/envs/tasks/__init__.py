"""Tasks declared by config: schema, term libraries, the generic env and the shipped tasks."""

from clankers.envs.tasks.config import TaskConfig, load_task_config, shipped_task_config
from clankers.envs.tasks.env import TaskEnv

__all__ = ["TaskConfig", "TaskEnv", "load_task_config", "shipped_task_config"]
