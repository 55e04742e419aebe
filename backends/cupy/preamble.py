"""The CUDA preamble: device functions the per-op templates call.

Most ops' ``scalar["cuda"]`` templates (graphc/ops/*.py) are single C++ expressions over CUDA's
overloaded math functions. A few of NumPy's semantics need a function with a per-type
definition; they live here, so every generated kernel starts with this text. Everything is
``__host__ __device__``: a host-side harness (tests/backends/cupy/test_cuda_codegen.py) runs the same code
on the CPU. No #include: CuPy compiles with NVRTC, which has no host headers.
"""

PREAMBLE = r"""#ifndef GRAPHC_PREAMBLE
#define GRAPHC_PREAMBLE
// ---- graphc preamble: NumPy semantics that need more than one expression ----

// np.maximum / np.minimum: NaN in either operand gives NaN (x != x only for NaN); for
// integers the test is always false and this is the plain max / min
template <typename T> __host__ __device__ inline T gc_maximum(T x, T y) { return (x >= y || x != x) ? x : y; }
template <typename T> __host__ __device__ inline T gc_minimum(T x, T y) { return (x <= y || x != x) ? x : y; }

// np.abs: clears the sign bit of floats (abs(-0.0) == +0.0); integers wrap (abs(INT_MIN))
template <typename T> __host__ __device__ inline T gc_abs(T x) { return x < T(0) ? T(-x) : x; }
__host__ __device__ inline float gc_abs(float x) { return fabsf(x); }
__host__ __device__ inline double gc_abs(double x) { return fabs(x); }

// np.power: C's pow for floats; for integers repeated squaring, wrapping on overflow as
// NumPy does. NumPy raises for a negative integer exponent; a kernel cannot, and gives
// what 1 / base**-e truncates to: 1 for base 1, +-1 for base -1, else 0.
__host__ __device__ inline float gc_pow(float x, float y) { return powf(x, y); }
__host__ __device__ inline double gc_pow(double x, double y) { return pow(x, y); }
template <typename T> __host__ __device__ inline T gc_pow(T base, T exponent)
{
    if (exponent < T(0)) {
        if (base == T(1)) return T(1);
        if (base == T(0) - T(1)) return (exponent % T(2) == T(0)) ? T(1) : base;
        return T(0);
    }
    T result = T(1);
    while (exponent != T(0)) {
        if (exponent % T(2) != T(0)) result = T(result * base);
        base = T(base * base);
        exponent = T(exponent / T(2));
    }
    return result;
}
#endif  // GRAPHC_PREAMBLE
"""
