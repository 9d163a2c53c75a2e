"""The one exception type for problems a user can fix."""


class FaceoffError(Exception):
    """A user-facing problem: bad spec, missing file, unknown plugin, refused checkpoint.

    The CLI prints the message as one line on stderr and exits with code 2; the message must
    name the thing at fault and what would be valid. Any other exception is a bug.
    """
