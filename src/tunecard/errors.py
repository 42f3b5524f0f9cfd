"""The one user-facing error type. Torch-free so every layer can raise it."""


class TunecardError(Exception):
    """Bad input: says what was expected, what was found, and how to fix it.

    The CLI prints it on one line and exits with status `exit_code` (2), without a traceback.
    """

    exit_code = 2

    def __init__(self, what: str, expected: str, found: str, fix: str):
        self.what, self.expected, self.found, self.fix = what, expected, found, fix
        super().__init__(f"{what}: expected {expected}; found {found}. Fix: {fix}")

    def __reduce__(self):
        # Pickled with its four parts, so it crosses process boundaries (Ray actors, multiprocessing) as
        # itself: Exception's default would call the class with the one formatted message and fail.
        return type(self), (self.what, self.expected, self.found, self.fix)


class TunecardErrors(TunecardError):
    """Several problems found together (config validation reports all at once)."""

    def __init__(self, errors: list[TunecardError]):
        self.errors = errors
        Exception.__init__(self, " | ".join(str(e) for e in errors))

    def __reduce__(self):
        return type(self), (self.errors,)


class Failed(TunecardError):
    """A command that finished, but whose result fails a check the user asked for (--strict): exit status 1."""

    exit_code = 1


class Stopped(TunecardError):
    """The user stopped the run (Ctrl-C): exit status 130, as a shell reports a SIGINT."""

    exit_code = 130


def raise_all(problems: list[TunecardError]) -> None:
    """Raise every problem found at once (one, or TunecardErrors); nothing when there are none."""
    if problems:
        raise problems[0] if len(problems) == 1 else TunecardErrors(problems)
