"""Error types. Every error a user can cause derives from `WorldsmithError`.

The CLI turns a `WorldsmithError` into a one-line message and a non-zero exit code; any other
exception is a bug in worldsmith and keeps its traceback.
"""


class WorldsmithError(Exception):
    """Bad input from the user: the message names the input and the fix."""


class ConfigError(WorldsmithError, ValueError):
    """A config file, key or value is wrong."""


class CheckpointError(WorldsmithError):
    """A checkpoint is missing, corrupt or does not match the model."""
