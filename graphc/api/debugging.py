"""``gc.debugging``: process-wide debugging switches (TensorFlow's ``tf.debugging`` names)."""
from graphc.plan.numerics import disable_check_numerics, enable_check_numerics

__all__ = ["enable_check_numerics", "disable_check_numerics"]
