"""Errors with a meaning for the user: the CLI turns them into one line and an exit code."""


class DgmError(Exception):
    """Bad usage or bad input: the CLI prints the message on one line and exits with `exit_code` (2)."""

    exit_code = 2


class NoDensityError(DgmError):
    """The model defines no tractable density (for example a GAN), so it has no `log_prob`."""


class TrainingDiverged(DgmError):
    """The training loss became NaN or infinite (exit code 1)."""

    exit_code = 1


class NotFinite(DgmError):
    """A model computed NaN or infinite values from finite weights, e.g. samples (exit code 1)."""

    exit_code = 1


class TrainingInterrupted(DgmError):
    """SIGINT or SIGTERM stopped training at a step boundary, after a checkpoint (exit 128 + signal)."""

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.exit_code = 128 + signum
