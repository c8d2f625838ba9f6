"""``python -m server COMMAND``: the command line, the one layer that reads arguments and prints.

:mod:`.main` builds the parser and dispatches; each command's own module turns its arguments into
calls of the layers below (transport, pipeline, evaluation, bench) and their errors into one line.
"""
