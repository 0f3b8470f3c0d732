// Erasing x * (1 - m) of a (P, C, H, W) image batch with a (P, H, W) mask, one thread per
// element. The `mask_erase_*` kernels take the normalised map g instead of the mask and
// compute m = sigmoid(omega (g - sigma)) on the fly (the fused path: no mask round trip).

template <typename T, bool FROM_MAP>
__device__ __forceinline__ T mask_value(const T *mask_or_map, unsigned long long i, T omega, T sigma) {
    const T v = mask_or_map[i];
    return FROM_MAP ? eader_soft_mask(v, omega, sigma) : v;
}

// erased = x * (1 - m). The images' gradient dy * (1 - m) is the same kernel run on dy.
template <typename T, bool FROM_MAP>
__device__ void erase_apply(const T *x, const T *mask_or_map, T *y, unsigned long long plane,
                            unsigned long long channels, unsigned long long n, T omega, T sigma) {
    const unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x;
    if (i < n) {
        const unsigned long long pixel = (i / (channels * plane)) * plane + i % plane;
        y[i] = x[i] * ((T)1 - mask_value<T, FROM_MAP>(mask_or_map, pixel, omega, sigma));
    }
}

// Gradient to the mask (FROM_MAP false): -sum_c dy x; to the map (FROM_MAP true): that times
// omega m (1 - m). One thread per (p, pixel), channels summed in order.
template <typename T, bool FROM_MAP>
__device__ void erase_bwd_mask(const T *x, const T *mask_or_map, const T *grad_y, T *grad,
                               unsigned long long plane, unsigned long long channels,
                               unsigned long long n, T omega, T sigma) {
    const unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x;
    if (i < n) {
        const unsigned long long p = i / plane, k = i % plane;
        T acc = (T)0;
        for (unsigned long long c = 0; c < channels; ++c) {
            const unsigned long long j = (p * channels + c) * plane + k;
            acc += grad_y[j] * x[j];
        }
        T g = (T)0 - acc;
        if (FROM_MAP) {
            const T m = eader_soft_mask(mask_or_map[i], omega, sigma);
            g = g * omega * m * ((T)1 - m);
        }
        grad[i] = g;
    }
}

#define ERASE_OPS(T, SUFFIX)                                                                       \
    extern "C" __global__ void erase_fwd_##SUFFIX(const T *x, const T *mask, T *y,                 \
                                                  unsigned long long plane,                        \
                                                  unsigned long long channels,                     \
                                                  unsigned long long n) {                          \
        erase_apply<T, false>(x, mask, y, plane, channels, n, (T)0, (T)0);                         \
    }                                                                                              \
    extern "C" __global__ void erase_bwd_mask_##SUFFIX(const T *x, const T *grad_y, T *grad_mask,  \
                                                       unsigned long long plane,                   \
                                                       unsigned long long channels,                \
                                                       unsigned long long n) {                     \
        erase_bwd_mask<T, false>(x, x, grad_y, grad_mask, plane, channels, n, (T)0, (T)0);         \
    }                                                                                              \
    extern "C" __global__ void mask_erase_fwd_##SUFFIX(const T *x, const T *maps, T *y,            \
                                                       unsigned long long plane,                   \
                                                       unsigned long long channels,                \
                                                       unsigned long long n, T omega, T sigma) {   \
        erase_apply<T, true>(x, maps, y, plane, channels, n, omega, sigma);                        \
    }                                                                                              \
    extern "C" __global__ void mask_erase_bwd_maps_##SUFFIX(                                       \
        const T *x, const T *maps, const T *grad_y, T *grad_maps, unsigned long long plane,        \
        unsigned long long channels, unsigned long long n, T omega, T sigma) {                     \
        erase_bwd_mask<T, true>(x, maps, grad_y, grad_maps, plane, channels, n, omega, sigma);     \
    }

ERASE_OPS(float, f32)
ERASE_OPS(double, f64)
