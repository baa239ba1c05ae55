"""The error type of the digital-twin stage."""

from worldsmith.errors import WorldsmithError


class SimError(WorldsmithError):
    """Bad scenario, size, camera or renderer setup; the message names the input and the fix."""
