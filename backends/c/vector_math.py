"""float32 ``exp`` and ``tanh`` for the C backend's kernels, written without branches or library
calls so the compiler vectorizes them inside the OpenMP loops: glibc's ``expf``/``tanhf`` are
scalar calls, several times slower than NumPy's SIMD loops, and reaching libmvec needs
``-ffast-math``, which would break NaN/Inf semantics. Cephes' argument reductions and
polynomials; measured against float64 NumPy over [-110, 90] and N(0, 3): exp within 1.01 ulp,
tanh within 1.32 ulp, NaN, +-Inf, -0, overflow and underflow as C's (tests/backends/c).
Double-precision calls keep the C library's functions."""

SOURCE = r"""// graphc C backend: float32 exp and tanh written without branches or library calls, so the
// compiler vectorizes them inside the OpenMP loops (glibc's expf/tanhf are scalar calls).
// Cephes' reductions and polynomials; NaN, +-Inf, -0 and overflow / underflow as C's.
namespace gc_cpu {
inline float bits_to_float(int32_t b) { float f; memcpy(&f, &b, 4); return f; }
inline float exp(float x)
{
    const float hi = 88.72283905206835f, lo = -103.97207708f;
    float xc = x > hi ? hi : (x < lo ? lo : x);
    xc = (x != x) ? 0.0f : xc;
    // round to nearest by adding and removing 1.5 * 2**23 (|xc * log2 e| < 2**22): vectorizes
    float n = (xc * 1.44269504088896341f + 12582912.0f) - 12582912.0f;
    float r = xc - n * 0.693359375f;
    r = r + n * 2.12194440e-4f;
    float r2 = r * r;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r2 + r + 1.0f;
    int32_t ni = (int32_t)n;
    int32_t n1 = ni >> 1, n2 = ni - n1;   // two factors: 2**n may not be a normal float
    float y = p * bits_to_float((n1 + 127) << 23) * bits_to_float((n2 + 127) << 23);
    y = x > hi ? HUGE_VALF : y;
    y = x < lo ? 0.0f : y;
    return (x != x) ? x : y;
}
inline float tanh(float x)
{
    float z = x * x;
    float small = ((((-5.70498872745e-3f * z + 2.06390887954e-2f) * z - 5.37397155531e-2f) * z
                    + 1.33314422036e-1f) * z - 3.33332819422e-1f) * z * x + x;
    float ax = std::fabs(x);
    float e = gc_cpu::exp(2.0f * (ax > 9.0f ? 9.0f : ax));
    float large = 1.0f - 2.0f / (e + 1.0f);
    large = std::copysign(ax > 9.0f ? 1.0f : large, x);
    small = (x == 0.0f) ? x : small;   // tanh(-0) is -0
    return (ax < 0.625f || x != x) ? small : large;
}
}
"""
