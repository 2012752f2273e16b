"""Errors with a meaning for the user: the CLI turns them into one line and an exit code."""


class DgmError(Exception):
    """Bad usage or bad input: the CLI prints the message on one line and exits with code 2."""


class NoDensityError(DgmError):
    """The model defines no tractable density (for example a GAN), so it has no `log_prob`."""


class TrainingDiverged(DgmError):
    """The training loss became NaN or infinite."""
