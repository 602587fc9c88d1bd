"""The ``tvstream`` command line: one click group, one verb per module, one error path."""
