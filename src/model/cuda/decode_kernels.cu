// Decode-step kernels (see decode_kernels.h).
#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include <cfloat>
#include <cstdint>

#include "io/cuda/convert.cuh"
#include "model/cuda/decode_kernels.h"

namespace heartmula::model::cuda {

namespace {

using io::cuda::from_f;
using io::cuda::Pack;
using io::cuda::to_f;

// 16 bytes of T as one access.
template <typename T>
struct alignas(16) Pack16 {
  static constexpr int N = 16 / sizeof(T);
  T v[N];
};

// ---- single-query attention, split over the cache length (flash decoding) -------------------
// Phase 1: block (chunk c, row b, kv head h) of kChunk threads for the G query heads of h.
// Scores: thread t owns position j = c * kChunk + t (its K row read in 16-byte packs, all in
// flight). Values: thread t owns pack t % (HD / N) of positions t / (HD / N), + groups, ...
// (coalesced 16-byte loads), partial sums reduced through shared memory.
// Partials: m[c][b][H], l[c][b][H], acc[c][b][H][HD]. Phase 2 combines the chunks.
constexpr int kChunk = 128;
constexpr int kMaxGroup = 4;  // query heads per kv head

template <typename T, int HD>
__global__ void __launch_bounds__(kChunk)
    attn_partial_kernel(const T* __restrict__ q, int64_t q_bstride, const T* __restrict__ kc, const T* __restrict__ vc,
                        const bool* __restrict__ mask, int64_t mask_bstride, float* __restrict__ pm,
                        float* __restrict__ pl, float* __restrict__ pacc, int64_t batch, int64_t heads,
                        int64_t kv_heads, int64_t cache_len, int64_t kv_len, float scale) {
  using P = Pack16<T>;
  constexpr int N = P::N, NP = HD / N, GROUPS = kChunk / NP;  // threads t >= GROUPS * NP idle for V
  static_assert(GROUPS >= 1, "head_dim too large for one chunk of threads");
  const int64_t c = blockIdx.x, b = blockIdx.y, h = blockIdx.z;
  const int g_count = static_cast<int>(heads / kv_heads);
  const int t = threadIdx.x;
  __shared__ float sq[kMaxGroup][HD];
  __shared__ float sp[kMaxGroup][kChunk];
  __shared__ float red[kMaxGroup][kChunk / 32];
  __shared__ int s_last;  // the chunk's last visible position (-1: none)
  __shared__ float sacc[GROUPS][kMaxGroup][HD];
  for (int i = t; i < g_count * HD; i += kChunk) {
    const int g = i / HD, d = i % HD;
    sq[g][d] = to_f(q[b * q_bstride + (h * g_count + g) * HD + d]) * scale;
  }
  const int64_t j0 = c * kChunk;
  const int64_t j = j0 + t;
  const bool visible = j < kv_len && (mask == nullptr || mask[b * mask_bstride + j]);
  if (t == 0) s_last = -1;
  __syncthreads();
  if (visible) atomicMax(&s_last, t);
  __syncthreads();
  float s[kMaxGroup];
#pragma unroll
  for (int g = 0; g < kMaxGroup; ++g) s[g] = (visible && g < g_count) ? 0.f : -INFINITY;
  if (visible) {
    const P* krow = reinterpret_cast<const P*>(kc + ((b * kv_heads + h) * cache_len + j) * HD);
#pragma unroll
    for (int p0 = 0; p0 < NP; p0 += 8) {
      P kv[8];
#pragma unroll
      for (int u = 0; u < 8; ++u)
        if (p0 + u < NP) kv[u] = krow[p0 + u];
#pragma unroll
      for (int u = 0; u < 8; ++u) {
        if (p0 + u >= NP) continue;
#pragma unroll
        for (int e = 0; e < N; ++e) {
          const float kf = to_f(kv[u].v[e]);
#pragma unroll
          for (int g = 0; g < kMaxGroup; ++g)
            if (g < g_count) s[g] = fmaf(sq[g][(p0 + u) * N + e], kf, s[g]);
        }
      }
    }
  }
  // Chunk max and sum per query head.
  const int lane = t & 31, warp = t >> 5;
#pragma unroll
  for (int g = 0; g < kMaxGroup; ++g) {
    float v = s[g];
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffffu, v, o));
    if (lane == 0) red[g][warp] = v;
  }
  __syncthreads();
  float mx[kMaxGroup];
#pragma unroll
  for (int g = 0; g < kMaxGroup; ++g) {
    float v = red[g][0];
    for (int w = 1; w < kChunk / 32; ++w) v = fmaxf(v, red[g][w]);
    mx[g] = v;
  }
  __syncthreads();
#pragma unroll
  for (int g = 0; g < kMaxGroup; ++g) {
    const float p = (g < g_count && visible) ? __expf(s[g] - mx[g]) : 0.f;
    sp[g][t] = p;
    float v = p;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
    if (lane == 0) red[g][warp] = v;
  }
  __syncthreads();
  const int64_t part = (c * batch + b) * heads + h * g_count;  // + g
  if (t < g_count) {
    float sum = 0.f;
    for (int w = 0; w < kChunk / 32; ++w) sum += red[t][w];
    pm[part + t] = mx[t];
    pl[part + t] = sum;
  }
  // sum_j p_j v_j over this chunk.
  const int pi = t % NP, grp = t / NP;
  float acc[kMaxGroup][N];
#pragma unroll
  for (int g = 0; g < kMaxGroup; ++g)
#pragma unroll
    for (int e = 0; e < N; ++e) acc[g][e] = 0.f;
  // Up to the last visible position every V row is read (p = 0 where masked; cache rows are
  // always finite: zeros or written values), so the loads are unconditional and pipeline;
  // the masked tail of the cache (the whole-cache attention of the graphs) is never read.
  const int jn = s_last + 1;
  const P* vbase = reinterpret_cast<const P*>(vc + ((b * kv_heads + h) * cache_len + j0) * HD) + pi;
#pragma unroll 4
  for (int jj = grp; grp < GROUPS && jj < jn; jj += GROUPS) {
    const P vv = vbase[static_cast<int64_t>(jj) * NP];
#pragma unroll
    for (int g = 0; g < kMaxGroup; ++g) {
      if (g >= g_count) continue;
      const float pj = sp[g][jj];
#pragma unroll
      for (int e = 0; e < N; ++e) acc[g][e] = fmaf(pj, to_f(vv.v[e]), acc[g][e]);
    }
  }
  if (grp < GROUPS) {
#pragma unroll
    for (int g = 0; g < kMaxGroup; ++g)
#pragma unroll
      for (int e = 0; e < N; ++e) sacc[grp][g][pi * N + e] = acc[g][e];
  }
  __syncthreads();
  for (int i = t; i < g_count * HD; i += kChunk) {
    const int g = i / HD, d = i % HD;
    float v = 0.f;
#pragma unroll
    for (int r = 0; r < GROUPS; ++r) v += sacc[r][g][d];
    pacc[(part + g) * HD + d] = v;
  }
}

// Phase 2: block per (b, head), thread per dim: out = sum_c e^(m_c - M) acc_c / sum_c e^(m_c - M) l_c.
template <typename T>
__global__ void attn_combine_kernel(const float* __restrict__ pm, const float* __restrict__ pl,
                                    const float* __restrict__ pacc, T* __restrict__ out, int64_t chunks, int64_t batch,
                                    int64_t heads, int64_t hd) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  // The output projection after it (int8, launched with PDL) may start prefetching its weights.
  asm volatile("griddepcontrol.launch_dependents;" ::: "memory");
#endif
  const int64_t b = blockIdx.x / heads, hq = blockIdx.x % heads;
  float mmax = -INFINITY;
  for (int64_t c = 0; c < chunks; ++c) mmax = fmaxf(mmax, pm[(c * batch + b) * heads + hq]);
  for (int64_t d = threadIdx.x; d < hd; d += blockDim.x) {
    float num = 0.f, den = 0.f;
    for (int64_t c = 0; c < chunks; ++c) {
      const int64_t part = (c * batch + b) * heads + hq;
      const float m = pm[part];
      if (m == -INFINITY) continue;
      const float wgt = __expf(m - mmax);
      num = fmaf(wgt, pacc[part * hd + d], num);
      den = fmaf(wgt, pl[part], den);
    }
    out[(b * heads + hq) * hd + d] = from_f<T>(den > 0.f ? num / den : 0.f);
  }
}

template <typename T, int HD>
int decode_attention_hd(const void* q, int64_t q_bstride, const void* kc, const void* vc, const bool* mask,
                        int64_t mask_bstride, void* out, float* scratch, int64_t batch, int64_t heads, int64_t kv_heads,
                        int64_t cache_len, int64_t kv_len, float scale, cudaStream_t s) {
  const int64_t chunks = (kv_len + kChunk - 1) / kChunk;
  float* pm = scratch;
  float* pl = pm + chunks * batch * heads;
  float* pacc = pl + chunks * batch * heads;
  const dim3 grid1(static_cast<unsigned>(chunks), static_cast<unsigned>(batch), static_cast<unsigned>(kv_heads));
  attn_partial_kernel<T, HD><<<grid1, kChunk, 0, s>>>(static_cast<const T*>(q), q_bstride, static_cast<const T*>(kc),
                                                      static_cast<const T*>(vc), mask, mask_bstride, pm, pl, pacc,
                                                      batch, heads, kv_heads, cache_len, kv_len, scale);
  const unsigned combine_threads = HD < 128 ? 64 : 128;
  attn_combine_kernel<T><<<static_cast<unsigned>(batch * heads), combine_threads, 0, s>>>(
      pm, pl, pacc, static_cast<T*>(out), chunks, batch, heads, HD);
  return static_cast<int>(cudaGetLastError());
}

// ---- single-query attention over a few positions (the depth decoder: head_dim 384, <= 9) ----
// One block of 4 warps per (row b, kv head h) for its G query heads. Scores: warp w takes the
// (head, position) pairs w, w + 4, ...; its lanes stride the head dimension (coalesced), a
// shuffle sum gives the dot product. Softmax: warp g over head g's positions (one per lane).
// Values: thread t owns dims t, t + 128, ... of each head, summing over the positions.
template <typename T, int HD>
__global__ void __launch_bounds__(128)
    attn_short_kernel(const T* __restrict__ q, int64_t q_bstride, const T* __restrict__ kc, const T* __restrict__ vc,
                      const bool* __restrict__ mask, int64_t mask_bstride, T* __restrict__ out, int64_t heads,
                      int64_t kv_heads, int64_t cache_len, int kv_len, float scale) {
  const int64_t b = blockIdx.x, h = blockIdx.y;
  const int g_count = static_cast<int>(heads / kv_heads);
  const int t = threadIdx.x, lane = t & 31, warp = t >> 5;
  __shared__ float sq[kMaxGroup][HD];
  __shared__ float sp[kMaxGroup][kDecodeAttentionShortMax];
  for (int i = t; i < g_count * HD; i += 128) {
    const int g = i / HD, d = i % HD;
    sq[g][d] = to_f(q[b * q_bstride + (h * g_count + g) * HD + d]) * scale;
  }
  __syncthreads();
  const int64_t base = (b * kv_heads + h) * cache_len * HD;
  for (int pair = warp; pair < g_count * kv_len; pair += 4) {
    const int g = pair / kv_len, j = pair % kv_len;
    const bool visible = mask == nullptr || mask[b * mask_bstride + j];
    float s = 0.f;
    if (visible) {
      const T* krow = kc + base + static_cast<int64_t>(j) * HD;
#pragma unroll 4
      for (int d = lane; d < HD; d += 32) s = fmaf(sq[g][d], to_f(krow[d]), s);
    }
    for (int o = 16; o > 0; o >>= 1) s += __shfl_xor_sync(0xffffffffu, s, o);
    if (lane == 0) sp[g][j] = visible ? s : -INFINITY;
  }
  __syncthreads();
  if (warp < g_count) {
    const float v = lane < kv_len ? sp[warp][lane] : -INFINITY;
    float m = v;
    for (int o = 16; o > 0; o >>= 1) m = fmaxf(m, __shfl_xor_sync(0xffffffffu, m, o));
    const float e = (v == -INFINITY) ? 0.f : __expf(v - m);
    float sum = e;
    for (int o = 16; o > 0; o >>= 1) sum += __shfl_xor_sync(0xffffffffu, sum, o);
    if (lane < kv_len) sp[warp][lane] = sum > 0.f ? e / sum : 0.f;
  }
  __syncthreads();
  for (int i = t; i < g_count * HD; i += 128) {
    const int g = i / HD, d = i % HD;
    const T* vcol = vc + base + d;
    float acc = 0.f;
    for (int j = 0; j < kv_len; ++j) acc = fmaf(sp[g][j], to_f(vcol[static_cast<int64_t>(j) * HD]), acc);
    out[(b * heads + h * g_count + g) * HD + d] = from_f<T>(acc);
  }
}

template <typename T>
int decode_attention_typed(const void* q, int64_t q_bstride, const void* kc, const void* vc, const bool* mask,
                           int64_t mask_bstride, void* out, float* scratch, int64_t batch, int64_t heads,
                           int64_t kv_heads, int64_t hd, int64_t cache_len, int64_t kv_len, float scale,
                           cudaStream_t s) {
  if (kv_heads < 1 || heads % kv_heads != 0 || heads / kv_heads > kMaxGroup || kv_len < 1 || kv_len > cache_len)
    return -1;
  if (hd > 128) {  // the depth decoder: a few positions only
    if (hd != 384 || kv_len > kDecodeAttentionShortMax) return -1;
    attn_short_kernel<T, 384><<<dim3(static_cast<unsigned>(batch), static_cast<unsigned>(kv_heads)), 128, 0, s>>>(
        static_cast<const T*>(q), q_bstride, static_cast<const T*>(kc), static_cast<const T*>(vc), mask, mask_bstride,
        static_cast<T*>(out), heads, kv_heads, cache_len, static_cast<int>(kv_len), scale);
    return static_cast<int>(cudaGetLastError());
  }
  switch (hd) {
    case 64:
      return decode_attention_hd<T, 64>(q, q_bstride, kc, vc, mask, mask_bstride, out, scratch, batch, heads, kv_heads,
                                        cache_len, kv_len, scale, s);
    case 128:
      return decode_attention_hd<T, 128>(q, q_bstride, kc, vc, mask, mask_bstride, out, scratch, batch, heads, kv_heads,
                                         cache_len, kv_len, scale, s);
    default:
      return -1;
  }
}

}  // namespace

int64_t decode_attention_scratch_floats(int64_t batch, int64_t heads, int64_t head_dim, int64_t kv_len) {
  const int64_t chunks = (kv_len + kChunk - 1) / kChunk;
  return chunks * batch * heads * (2 + head_dim);
}

int launch_decode_attention(int dtype, const void* q, int64_t q_batch_stride, const void* k_cache, const void* v_cache,
                            const bool* mask, int64_t mask_batch_stride, void* out, float* scratch, int64_t batch,
                            int64_t heads, int64_t kv_heads, int64_t head_dim, int64_t cache_len, int64_t kv_len,
                            float scale, void* stream) {
  auto s = static_cast<cudaStream_t>(stream);
  switch (dtype) {
    case 0:
      return decode_attention_typed<float>(q, q_batch_stride, k_cache, v_cache, mask, mask_batch_stride, out, scratch,
                                           batch, heads, kv_heads, head_dim, cache_len, kv_len, scale, s);
    case 1:
      return decode_attention_typed<__nv_bfloat16>(q, q_batch_stride, k_cache, v_cache, mask, mask_batch_stride, out,
                                                   scratch, batch, heads, kv_heads, head_dim, cache_len, kv_len, scale,
                                                   s);
    case 2:
      return decode_attention_typed<__half>(q, q_batch_stride, k_cache, v_cache, mask, mask_batch_stride, out, scratch,
                                            batch, heads, kv_heads, head_dim, cache_len, kv_len, scale, s);
    default:
      return -1;
  }
}

}  // namespace heartmula::model::cuda
