// Bilinear upsampling (h, w) -> (H, W) of P maps (PyTorch's align_corners=False sampling),
// then per-map min-max normalisation g = (u - min u) / (max u - min u) (0 where that is 0).
//
// Forward: upsample_normalize_upsample (one thread per output pixel) writes u into the
// output, upsample_normalize_minmax (one block per map) reduces it to (min, max), and
// upsample_normalize_fwd (one thread per output pixel) normalises in place.
// Backward: upsample_normalize_bwd_stats (one block per map) recomputes u on the fly and
// reduces min, max, their tie counts, sum dg and sum dg*u into three coefficients
//     du = a dg + b [u == max] + c [u == min],
// upsample_normalize_bwd_rows (one thread per (p, y, j), j a source column) applies the
// transposed column interpolation to dg and to the extrema terms e = b [u == max] +
// c [u == min] apart, tmp = a T(dg) + T(e) (the CPU's passes 1 and 2), and
// upsample_normalize_bwd (one thread per source element) the transposed row interpolation.
// Each thread gathers its terms in the same order as the CPU kernel adds them.

template <typename T>
__device__ void upsample(const T *maps, T *out, int h, int w, int H, int W, unsigned long long n) {
    const unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x;
    if (i >= n) return;
    const unsigned long long plane = (unsigned long long)H * W;
    const int p = (int)(i / plane);
    const int y = (int)((i % plane) / W), x = (int)(i % W);
    const EaderTap<T> row = eader_tap<T>(y, h, H), col = eader_tap<T>(x, w, W);
    out[i] = eader_sample(maps + (unsigned long long)p * h * w, w, row, col);
}

template <typename T> __device__ void minmax(const T *u, T *extrema, unsigned long long plane) {
    __shared__ T lo_s[EADER_BLOCK];
    __shared__ T hi_s[EADER_BLOCK];
    const T *map = u + blockIdx.x * plane;
    const int t = threadIdx.x;
    T lo = map[0], hi = map[0];
    for (unsigned long long i = t; i < plane; i += blockDim.x) {
        const T v = map[i];
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    lo_s[t] = lo;
    hi_s[t] = hi;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (t < s) {
            lo_s[t] = lo_s[t + s] < lo_s[t] ? lo_s[t + s] : lo_s[t];
            hi_s[t] = hi_s[t + s] > hi_s[t] ? hi_s[t + s] : hi_s[t];
        }
        __syncthreads();
    }
    if (t == 0) {
        extrema[2 * blockIdx.x] = lo_s[0];
        extrema[2 * blockIdx.x + 1] = hi_s[0];
    }
}

template <typename T>
__device__ void normalize(T *out, const T *extrema, unsigned long long plane, unsigned long long n) {
    const unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x;
    if (i >= n) return;
    const unsigned long long p = i / plane;
    const T lo = extrema[2 * p], range = extrema[2 * p + 1] - lo;
    out[i] = (out[i] - lo) / (range != (T)0 ? range : (T)1);
}

template <typename T>
__device__ void bwd_stats(const T *maps, const T *grad, T *extrema, double *coef, int h, int w,
                          int H, int W) {
    __shared__ T lo_s[EADER_BLOCK];
    __shared__ T hi_s[EADER_BLOCK];
    __shared__ unsigned long long klo_s[EADER_BLOCK];
    __shared__ unsigned long long khi_s[EADER_BLOCK];
    __shared__ double sg_s[EADER_BLOCK];
    __shared__ double sgu_s[EADER_BLOCK];
    const int p = blockIdx.x, t = threadIdx.x;
    const unsigned long long plane = (unsigned long long)H * W;
    const T *map = maps + (unsigned long long)p * h * w;
    const T *g = grad + (unsigned long long)p * plane;
    T lo = map[0], hi = map[0];
    unsigned long long klo = 0, khi = 0;
    double sg = 0.0, sgu = 0.0;
    for (unsigned long long i = t; i < plane; i += blockDim.x) {
        const int y = (int)(i / W), x = (int)(i % W);
        const T u = eader_sample(map, w, eader_tap<T>(y, h, H), eader_tap<T>(x, w, W));
        if (klo == 0 || u < lo) { lo = u; klo = 1; } else if (u == lo) { klo += 1; }
        if (khi == 0 || u > hi) { hi = u; khi = 1; } else if (u == hi) { khi += 1; }
        sg += (double)g[i];
        sgu += (double)g[i] * (double)u;
    }
    lo_s[t] = lo; hi_s[t] = hi; klo_s[t] = klo; khi_s[t] = khi; sg_s[t] = sg; sgu_s[t] = sgu;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (t < s) {
            const int o = t + s;
            if (klo_s[o] > 0) {
                if (klo_s[t] == 0 || lo_s[o] < lo_s[t]) { lo_s[t] = lo_s[o]; klo_s[t] = klo_s[o]; }
                else if (lo_s[o] == lo_s[t]) { klo_s[t] += klo_s[o]; }
            }
            if (khi_s[o] > 0) {
                if (khi_s[t] == 0 || hi_s[o] > hi_s[t]) { hi_s[t] = hi_s[o]; khi_s[t] = khi_s[o]; }
                else if (hi_s[o] == hi_s[t]) { khi_s[t] += khi_s[o]; }
            }
            sg_s[t] += sg_s[o];
            sgu_s[t] += sgu_s[o];
        }
        __syncthreads();
    }
    if (t == 0) {
        const T min_u = lo_s[0], max_u = hi_s[0];
        const T range = max_u - min_u;
        const double sum_g = sg_s[0];
        double a, b, c;
        if (range != (T)0) {
            const double d = (double)range;
            const double sum_gs = sgu_s[0] - (double)min_u * sum_g;
            a = 1.0 / d;
            b = -sum_gs / (d * d * (double)khi_s[0]);
            c = -(sum_g / d - sum_gs / (d * d)) / (double)klo_s[0];
        } else {
            a = 1.0;
            b = 0.0;
            c = -sum_g / (double)klo_s[0];
        }
        extrema[2 * p] = min_u;
        extrema[2 * p + 1] = max_u;
        coef[3 * p] = a;
        coef[3 * p + 1] = b;
        coef[3 * p + 2] = c;
    }
}

// First and last output index whose taps may reach source index j (with a safety margin;
// the exact test is done on each candidate).
__device__ __forceinline__ void tap_range(int j, int in_size, int out_size, int *first, int *last) {
    const double scale = (double)in_size / (double)out_size;
    int lo = (int)floor(((double)j - 0.5) / scale - 0.5) - 2;
    int hi = (int)ceil(((double)j + 1.5) / scale - 0.5) + 2;
    // Outputs whose source coordinate is clamped to 0 have taps (0, 1), lambda 0.
    *first = (lo < 0 || j <= 1) ? 0 : lo;
    *last = hi > out_size - 1 ? out_size - 1 : hi;
}

template <typename T>
__device__ void bwd_rows(const T *maps, const T *grad, const T *extrema, const double *coef, T *tmp,
                         int h, int w, int H, int W, unsigned long long n) {
    const unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x;
    if (i >= n) return;
    const int j = (int)(i % w);
    const int y = (int)((i / w) % H);
    const int p = (int)(i / ((unsigned long long)w * H));
    const T *map = maps + (unsigned long long)p * h * w;
    const T *g = grad + ((unsigned long long)p * H + y) * W;
    const T lo = extrema[2 * p], hi = extrema[2 * p + 1];
    const T a = (T)coef[3 * p], b = (T)coef[3 * p + 1], c = (T)coef[3 * p + 2];
    const EaderTap<T> row = eader_tap<T>(y, h, H);
    int first, last;
    tap_range(j, w, W, &first, &last);
    T acc_g = (T)0, acc_e = (T)0;
    for (int x = first; x <= last; ++x) {
        const EaderTap<T> col = eader_tap<T>(x, w, W);
        if (col.i0 != j && col.i1 != j) continue;
        const T dg = g[x];
        if (col.i0 == j) acc_g += dg * ((T)1 - col.lambda);
        if (col.i1 == j) acc_g += dg * col.lambda;
        const T u = eader_sample(map, w, row, col);
        if (u != hi && u != lo) continue;
        T e = (T)0;
        if (u == hi) e += b;
        if (u == lo) e += c;
        if (col.i0 == j) acc_e += e * ((T)1 - col.lambda);
        if (col.i1 == j) acc_e += e * col.lambda;
    }
    tmp[i] = a * acc_g + acc_e;
}

template <typename T>
__device__ void bwd_cols(const T *tmp, T *grad_maps, int h, int w, int H, unsigned long long n) {
    const unsigned long long i = blockIdx.x * (unsigned long long)blockDim.x + threadIdx.x;
    if (i >= n) return;
    const int j = (int)(i % w);
    const int r = (int)((i / w) % h);
    const int p = (int)(i / ((unsigned long long)w * h));
    const T *t = tmp + (unsigned long long)p * H * w;
    int first, last;
    tap_range(r, h, H, &first, &last);
    T acc = (T)0;
    for (int y = first; y <= last; ++y) {
        const EaderTap<T> row = eader_tap<T>(y, h, H);
        if (row.i0 == r) acc += t[y * w + j] * ((T)1 - row.lambda);
        if (row.i1 == r) acc += t[y * w + j] * row.lambda;
    }
    grad_maps[i] = acc;
}

#define UPSAMPLE_NORMALIZE_OPS(T, SUFFIX)                                                          \
    extern "C" __global__ void upsample_normalize_upsample_##SUFFIX(                               \
        const T *maps, T *out, int h, int w, int H, int W, unsigned long long n) {                 \
        upsample<T>(maps, out, h, w, H, W, n);                                                     \
    }                                                                                              \
    extern "C" __global__ void upsample_normalize_minmax_##SUFFIX(const T *u, T *extrema,          \
                                                                  unsigned long long plane) {      \
        minmax<T>(u, extrema, plane);                                                              \
    }                                                                                              \
    extern "C" __global__ void upsample_normalize_fwd_##SUFFIX(                                    \
        T *out, const T *extrema, unsigned long long plane, unsigned long long n) {                \
        normalize<T>(out, extrema, plane, n);                                                      \
    }                                                                                              \
    extern "C" __global__ void upsample_normalize_bwd_stats_##SUFFIX(                              \
        const T *maps, const T *grad, T *extrema, double *coef, int h, int w, int H, int W) {      \
        bwd_stats<T>(maps, grad, extrema, coef, h, w, H, W);                                       \
    }                                                                                              \
    extern "C" __global__ void upsample_normalize_bwd_rows_##SUFFIX(                               \
        const T *maps, const T *grad, const T *extrema, const double *coef, T *tmp, int h, int w,  \
        int H, int W, unsigned long long n) {                                                      \
        bwd_rows<T>(maps, grad, extrema, coef, tmp, h, w, H, W, n);                                \
    }                                                                                              \
    extern "C" __global__ void upsample_normalize_bwd_##SUFFIX(const T *tmp, T *grad_maps, int h,  \
                                                               int w, int H,                       \
                                                               unsigned long long n) {             \
        bwd_cols<T>(tmp, grad_maps, h, w, H, n);                                                   \
    }

UPSAMPLE_NORMALIZE_OPS(float, f32)
UPSAMPLE_NORMALIZE_OPS(double, f64)
