// Soft mask m = sigmoid(omega (g - sigma)) and its backward, one thread per element.

template <typename T>
__device__ void soft_mask_fwd(const T *maps, T *mask, unsigned long long n, T omega, T sigma) {
    const unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x;
    if (i < n) mask[i] = eader_soft_mask(maps[i], omega, sigma);
}

// d maps = d mask * omega * m * (1 - m), from the forward's output m.
template <typename T>
__device__ void soft_mask_bwd(const T *mask, const T *grad_mask, T *grad_maps, unsigned long long n,
                              T omega) {
    const unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x;
    if (i < n) {
        const T m = mask[i];
        grad_maps[i] = grad_mask[i] * omega * m * ((T)1 - m);
    }
}

#define SOFT_MASK_OPS(T, SUFFIX)                                                                   \
    extern "C" __global__ void soft_mask_fwd_##SUFFIX(const T *maps, T *mask,                      \
                                                      unsigned long long n, T omega, T sigma) {    \
        soft_mask_fwd<T>(maps, mask, n, omega, sigma);                                             \
    }                                                                                              \
    extern "C" __global__ void soft_mask_bwd_##SUFFIX(const T *mask, const T *grad_mask,           \
                                                      T *grad_maps, unsigned long long n,          \
                                                      T omega) {                                   \
        soft_mask_bwd<T>(mask, grad_mask, grad_maps, n, omega);                                    \
    }

SOFT_MASK_OPS(float, f32)
SOFT_MASK_OPS(double, f64)
