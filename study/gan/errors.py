"""The error of an invalid setting, a leaf module (it imports nothing of the study package), so
that the data, the metrics and the config can all raise it without importing one another."""


class ConfigError(ValueError):
    """A study or trial setting is invalid; the message names the field."""
