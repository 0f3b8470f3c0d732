// Erasing x * (1 - m) of a (P, C, H, W) image batch with a (P, H, W) mask. The fused
// mask_and_erase computes the mask once (soft_mask.cu) and runs these same kernels on it:
// its backward takes the map's gradient from the stored mask, with no second exp.

// erased = x * (1 - m), one thread per element.
template <typename T>
__device__ void erase_apply(const T *x, const T *mask, T *y, unsigned long long plane,
                            unsigned long long channels, unsigned long long n) {
    const unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x;
    if (i < n) {
        const unsigned long long pixel = (i / (channels * plane)) * plane + i % plane;
        y[i] = x[i] * ((T)1 - mask[pixel]);
    }
}

// Both gradients of erased = x * (1 - m) in one pass, one thread per (p, pixel), channels
// in order (as the CPU kernel adds them). `out` holds, each only when its flag is set:
// grad_x = dy (1 - m) (P, C, H, W) (with_images), then the mask's gradient -sum_c dy x
// (P, H, W) (with_mask), times omega m (1 - m) for the soft mask's maps (from_map).
template <typename T>
__device__ void erase_bwd(const T *x, const T *mask, const T *grad_y, T *out,
                          unsigned long long plane, unsigned long long channels,
                          unsigned long long pixels, int with_images, int with_mask,
                          int from_map, T omega) {
    const unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x;
    if (i >= pixels) return;
    const unsigned long long p = i / plane, k = i % plane;
    const T m = mask[i];
    T acc = (T)0;
    for (unsigned long long c = 0; c < channels; ++c) {
        const unsigned long long j = (p * channels + c) * plane + k;
        const T dy = grad_y[j];
        if (with_images) out[j] = dy * ((T)1 - m);
        if (with_mask) acc += dy * x[j];
    }
    if (with_mask) {
        T g = (T)0 - acc;
        if (from_map) g = g * omega * m * ((T)1 - m);
        out[(with_images ? pixels * channels : 0ull) + i] = g;
    }
}

#define ERASE_OPS(T, SUFFIX)                                                                       \
    extern "C" __global__ void erase_fwd_##SUFFIX(const T *x, const T *mask, T *y,                 \
                                                  unsigned long long plane,                        \
                                                  unsigned long long channels,                     \
                                                  unsigned long long n) {                          \
        erase_apply<T>(x, mask, y, plane, channels, n);                                            \
    }                                                                                              \
    extern "C" __global__ void erase_bwd_##SUFFIX(                                                 \
        const T *x, const T *mask, const T *grad_y, T *out, unsigned long long plane,              \
        unsigned long long channels, unsigned long long pixels, int with_images, int with_mask,    \
        int from_map, T omega) {                                                                   \
        erase_bwd<T>(x, mask, grad_y, out, plane, channels, pixels, with_images, with_mask,       \
                     from_map, omega);                                                             \
    }

ERASE_OPS(float, f32)
ERASE_OPS(double, f64)
