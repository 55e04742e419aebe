"""Graph -> Graph optimization passes (``gc.passes.names()`` lists the pipeline)."""
from .cse import cse
from .dce import dce
from .fold_constants import fold_constants
from .fuse_elementwise import fuse_elementwise
from .fuse_epilogues import fuse_epilogues
from .fuse_reductions import fuse_reductions
from .pipeline import PIPELINE, names, run
from .report import PassReport
from .simplify import simplify

__all__ = ["PIPELINE", "PassReport", "cse", "dce", "fold_constants", "fuse_elementwise",
           "fuse_epilogues", "fuse_reductions", "names", "run", "simplify"]
