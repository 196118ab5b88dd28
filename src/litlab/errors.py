"""The one exception type a user should ever see: a short message that says what to type instead."""


class LitlabError(Exception):
    """Bad input from the user (a config value, a data file). Printed as one line, no traceback."""
