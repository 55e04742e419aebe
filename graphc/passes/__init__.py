"""Graph -> Graph optimization passes (``gc.passes.names()`` lists the pipeline)."""
from graphc.passes.cse import cse
from graphc.passes.dce import dce
from graphc.passes.fold_constants import fold_constants
from graphc.passes.fuse_elementwise import fuse_elementwise
from graphc.passes.fuse_epilogues import fuse_epilogues
from graphc.passes.fuse_reductions import fuse_reductions
from graphc.passes.pipeline import PIPELINE, names, run
from graphc.passes.report import PassReport
from graphc.passes.simplify import simplify

__all__ = ["PIPELINE", "PassReport", "cse", "dce", "fold_constants", "fuse_elementwise",
           "fuse_epilogues", "fuse_reductions", "names", "run", "simplify"]
