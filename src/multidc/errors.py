"""Errors the CLI prints as one line each; the exit code says which kind it was."""


class MultidcError(Exception):
    """Base of every error multidc reports to a user."""

    exit_code = 1


class TopologyError(MultidcError):
    """The topology (file or options) is invalid; nothing has been created."""

    exit_code = 2

    def __init__(self, problems: list[str] | str) -> None:
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))


class PrerequisiteError(MultidcError):
    """The host lacks something multidc needs (root, namespaces, a binary, a tool, a free port); nothing was made."""

    exit_code = 2


class ProviderError(MultidcError):
    """A step of bringing the environment up or down failed."""

    exit_code = 1


class NotFoundError(MultidcError):
    """The named environment does not exist."""

    exit_code = 4


class FaultError(MultidcError):
    """A fault that cannot be applied as asked (unknown DC, nothing to resume, ...)."""

    exit_code = 2


class StartFailed(FaultError):
    """A started server exited at once (exit 1); the message has its fatal log line and what starts it again."""

    exit_code = 1


class BusyError(MultidcError):
    """Another multidc command holds the environment (exit 3)."""

    exit_code = 3
