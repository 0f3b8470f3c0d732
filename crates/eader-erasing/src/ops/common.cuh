// Helpers shared by every eader-erasing kernel; prepended to each .cu source before NVRTC
// compiles it (NVRTC sees one translation unit, no include paths needed).
// The arithmetic mirrors the CPU kernels operation by operation: compiled with --fmad=false,
// the GPU gives the same bilinear weights and interpolated values as the CPU, bit for bit.

__device__ __forceinline__ float eader_floor(float x) { return floorf(x); }
__device__ __forceinline__ double eader_floor(double x) { return floor(x); }
__device__ __forceinline__ float eader_exp(float x) { return expf(x); }
__device__ __forceinline__ double eader_exp(double x) { return exp(x); }

// One output coordinate of PyTorch's bilinear resampling (align_corners=False, no scale
// factor): the two source indices and the weight of the second one.
template <typename T> struct EaderTap {
    int i0;
    int i1;
    T lambda;
};

template <typename T>
__device__ __forceinline__ EaderTap<T> eader_tap(int out_index, int in_size, int out_size) {
    const T scale = (T)in_size / (T)out_size;
    T src = scale * ((T)out_index + (T)0.5) - (T)0.5;
    if (src < (T)0) src = (T)0;
    int i0 = (int)eader_floor(src);
    if (i0 > in_size - 1) i0 = in_size - 1;
    EaderTap<T> tap;
    tap.i0 = i0;
    tap.i1 = i0 < in_size - 1 ? i0 + 1 : i0;
    T lambda = src - (T)i0;
    if (lambda < (T)0) lambda = (T)0;
    if (lambda > (T)1) lambda = (T)1;
    tap.lambda = lambda;
    return tap;
}

template <typename T> __device__ __forceinline__ T eader_lerp(T a, T b, T lambda) {
    return a + lambda * (b - a);
}

// The bilinear value at output (y, x) of one (h, w) map: vertical interpolation of the two
// source columns first, then horizontal (the CPU kernel interpolates each output row's
// source rows once, then each pixel, in the same order).
template <typename T>
__device__ __forceinline__ T eader_sample(const T *map, int w, EaderTap<T> row, EaderTap<T> col) {
    const T left = eader_lerp(map[row.i0 * w + col.i0], map[row.i1 * w + col.i0], row.lambda);
    const T right = eader_lerp(map[row.i0 * w + col.i1], map[row.i1 * w + col.i1], row.lambda);
    return eader_lerp(left, right, col.lambda);
}

// Soft mask sigmoid(omega (g - sigma)).
template <typename T> __device__ __forceinline__ T eader_soft_mask(T g, T omega, T sigma) {
    const T z = omega * (g - sigma);
    return (T)1 / ((T)1 + eader_exp(-z));
}

#define EADER_BLOCK 256
