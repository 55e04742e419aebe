"""Padding and sliding windows of NHWC images over any array module (NumPy or CuPy): the
index arithmetic the NumPy kernels and the CUDA device ops share."""
from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from graphc.ops.conv import same_pads, effective_kernel



def resolve_pads(pads, spatial, kernel, strides):
    if isinstance(pads, str):
        return tuple(same_pads(n, k, s) for n, k, s in zip(spatial, kernel, strides))
    return pads



def out_sizes(spatial, kernel, strides, pads):
    return tuple((n + lo + hi - k) // s + 1 for n, k, s, (lo, hi) in zip(spatial, kernel, strides, pads))



def pad(x, pads, value=0.0, array_module=np):
    """x (N, H, W, C) with ``pads`` ((top, bottom), (left, right)) of ``value`` around H and W;
    ``array_module``: NumPy, or CuPy for the GPU backend's device ops."""
    (t, b), (l, r) = pads
    if t == b == l == r == 0:
        return x
    n, h, w, c = x.shape
    xp = array_module.full((n, h + t + b, w + l + r, c), value, dtype=x.dtype)
    xp[:, t:t + h, l:l + w, :] = x
    return xp



def windows(xp, kernel, strides, out, dilations=(1, 1)):
    """A read-only view (N, OH, OW, KH, KW, C) of the windows of the padded input (tap (a, b)
    of window (i, j) is the cell (i·sh + a·dh, j·sw + b·dw))."""
    n, _, _, c = xp.shape
    s_n, s_h, s_w, s_c = xp.strides
    (kh, kw), (sh, sw), (oh, ow), (dh, dw) = kernel, strides, out, dilations
    return as_strided(xp, (n, oh, ow, kh, kw, c), (s_n, s_h * sh, s_w * sw, s_h * dh, s_w * dw, s_c),
                      writeable=False)



def tap(xp, a, b, strides, out, dilations=(1, 1)):
    """The cells of xp that tap (a, b) of every window reads: (N, OH, OW, C), strided."""
    (sh, sw), (oh, ow) = strides, out
    top, left = a * dilations[0], b * dilations[1]
    return xp[:, top:top + (oh - 1) * sh + 1:sh, left:left + (ow - 1) * sw + 1:sw, :]



def conv_setup(x_shape, kernel, strides, pads, dilations):
    """(pads resolved for the run-time size, (OH, OW)), both from the dilated window's span."""
    span = effective_kernel(kernel, dilations)
    pads = resolve_pads(pads, x_shape[1:3], span, strides)
    return pads, out_sizes(x_shape[1:3], span, strides, pads)



def pool_setup(shape, pool, strides, pads):
    h, w = shape[1:3]
    pads = resolve_pads(pads, (h, w), pool, strides)
    return pads, out_sizes((h, w), pool, strides, pads)
