"""Data-parallel training over MPI. Start a script with `mpirun -np N python3 script.py`: each
process (rank) trains on its own part of every batch, gradients are averaged every step, and only
rank 0 prints progress. Nothing in the script has to change; these functions tell a rank who it is
(to print or write files on the primary rank only, say)."""
from . import _myelin

__all__ = ["available", "rank", "size", "is_primary", "barrier"]


def available():
    """Whether this build of myelin has MPI."""
    return _myelin.distributed_available()


def rank():
    """This process's rank, 0-based (0 outside mpirun)."""
    return _myelin.distributed_rank()


def size():
    """The number of ranks (1 outside mpirun)."""
    return _myelin.distributed_size()


def is_primary():
    """Whether this rank prints and writes files: rank 0, or the only process."""
    return _myelin.distributed_is_primary()


def barrier():
    """Waits until every rank has reached this call."""
    _myelin.distributed_barrier()
