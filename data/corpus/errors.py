# The two ways a corpus build says no: a whole-build error (bad recipe, missing tool) and one rejected input.


class CorpusError(Exception):
    """Stops the build; the message names the file or key and the problem on one line."""


class Rejected(Exception):
    """A file or document the corpus does not take; the message is the reason, counted in the build summary."""
