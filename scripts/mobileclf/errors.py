"""The one base class of the errors a user can fix.

Every stage raises a subclass of :class:`UserError` for bad input (a file, a key, a
folder), with a message that names the file or key and what to do. ``cli.run`` catches
this one class and prints the message as one line instead of a traceback; anything else
is a bug and keeps its traceback. Living here, not in ``cli``, it lets library modules
raise user errors without depending on the command line.
"""


class UserError(Exception):
    """Bad input the user must fix; the message names the file or key and the fix."""


# The one recovery command, named by every "delete it and ..." message. `make repair` runs
# Snakemake's default target, which requests every file a job writes (outputs.job_outputs):
# a deleted file is rebuilt and only what reads it reruns (docs/reruns-and-recovery.md).
REPAIR = "run `make repair` (CONFIG=your.yaml for your own config; docs/reruns-and-recovery.md)"
