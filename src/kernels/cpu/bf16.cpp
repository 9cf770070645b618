#include "kernels/cpu/bf16.hpp"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <oneapi/dnnl/dnnl.h>
#include <utility>
#include <vector>

#include "kernels/cpu/matmul.hpp"
#include "kernels/cpu/parallel.hpp"
#include "kernels/cpu/side_core.hpp"
#include "myelin/error.hpp"

#if defined(__AVX512BF16__)
#include <immintrin.h>
#endif

namespace myelin::kernels {

namespace {
// Whether the ISA oneDNN dispatches to (capped by DNNL_MAX_CPU_ISA) includes `wanted`: an ISA's value
// holds the bits of every ISA it extends (AMX's those of avx512_core_bf16).
bool dispatches_to(dnnl_cpu_isa_t wanted) {
  const unsigned isa = static_cast<unsigned>(dnnl_get_effective_cpu_isa());
  return (isa & static_cast<unsigned>(wanted)) == static_cast<unsigned>(wanted);
}
}  // namespace

bool bf16_supported() {
  static const bool ok = dispatches_to(dnnl_cpu_isa_avx512_core_bf16);
  return ok;
}

bool amx_supported() {
  static const bool ok = dispatches_to(dnnl_cpu_isa_avx512_core_amx);
  return ok;
}

bool bf16_faster_than_float32(const Bf16Hardware& cpu) { return cpu.bf16 && (cpu.amx || cpu.amd); }

namespace {
bool amd_cpu() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();  // the vendor is read once before main; this call makes it safe before that too
  return __builtin_cpu_is("amd");
#else
  return false;
#endif
}
}  // namespace

bool bf16_faster_than_float32() {
  static const bool faster = bf16_faster_than_float32({bf16_supported(), amx_supported(), amd_cpu()});
  return faster;
}

void to_bf16(const float* x, uint16_t* y, int64_t n) {
#pragma omp parallel for schedule(static) if (n >= (1 << 16))
  for (int64_t i = 0; i < n; ++i) y[i] = bf16_bits(x[i]);
}

void from_bf16(const uint16_t* x, float* y, int64_t n) {
#pragma omp parallel for schedule(static) if (n >= (1 << 16))
  for (int64_t i = 0; i < n; ++i) y[i] = bf16_value(x[i]);
}

namespace {
// Whether x differs bit for bit from `seen` (or `kept` was never filled); then seen becomes x.
bool changed(const float* x, int64_t n, std::vector<float>& seen, const std::vector<uint16_t>& kept) {
  const size_t count = size_t(n);
  if (!kept.empty() && seen.size() == count && std::memcmp(seen.data(), x, count * sizeof(float)) == 0) return false;
  seen.assign(x, x + n);
  return true;
}
}  // namespace

const uint16_t* kept_bf16(const float* x, int64_t n, std::vector<float>& seen, std::vector<uint16_t>& rounded) {
  if (changed(x, n, seen, rounded) || rounded.size() != size_t(n)) {
    rounded.resize(size_t(n));
    to_bf16(x, rounded.data(), n);
  }
  return rounded.data();
}

namespace {

// The stored rows of op(X) rounded into a packed buffer: `rows` x `cols` out of a matrix with row stride ld.
// The buffer only grows: one thread packs operands of several sizes in turn (each layer's input, the
// last short batch), and growing a vector again writes zeros over what was freed by shrinking it.
void pack(const float* x, int64_t rows, int64_t cols, int64_t ld, std::vector<uint16_t>& out) {
  if (out.size() < size_t(rows * cols)) out.resize(size_t(rows * cols));
  if (ld == cols) return to_bf16(x, out.data(), rows * cols);
  for (int64_t r = 0; r < rows; ++r) to_bf16(x + r * ld, out.data() + r * cols, cols);
}

thread_local std::vector<uint16_t> t_a, t_b;

}  // namespace

void gemm_bf16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
               const float* B, int64_t ldb, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0) {
    for (int64_t i = 0; i < M; ++i) std::memset(C + i * ldc, 0, size_t(N) * sizeof(float));
    return;
  }
  // Packed: op(B) stored as [K, N] (or [N, K] transposed).
  pack(B, trans_b ? N : K, trans_b ? K : N, ldb, t_b);
  gemm_bf16(trans_a, trans_b, M, N, K, A, lda, t_b.data(), trans_b ? K : N, C, ldc);
}

void gemm_bf16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
               const uint16_t* B, int64_t ldb, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  // Packed: op(A) stored as [M, K] (or [K, M] transposed).
  pack(A, trans_a ? K : M, trans_a ? M : K, lda, t_a);
  gemm_bf16(trans_a, trans_b, M, N, K, t_a.data(), trans_a ? M : K, B, ldb, C, ldc);
}

void gemm_bf16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const uint16_t* A, int64_t lda,
               const float* B, int64_t ldb, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  pack(B, trans_b ? N : K, trans_b ? K : N, ldb, t_b);
  gemm_bf16(trans_a, trans_b, M, N, K, A, lda, t_b.data(), trans_b ? K : N, C, ldc);
}

void gemm_bf16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const uint16_t* A, int64_t lda,
               const uint16_t* B, int64_t ldb, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0) {
    for (int64_t i = 0; i < M; ++i) std::memset(C + i * ldc, 0, size_t(N) * sizeof(float));
    return;
  }
  onednn_matmul(MatmulInputs::Bfloat16, trans_a, trans_b, M, N, K, A, lda, B, ldb, C, ldc);
}

#if defined(__AVX512BF16__)
namespace {

// dense_bf16's own kernel, for CPUs with AVX512_BF16 (vdpbf16ps: 16 float32 sums, each adding the
// products of one pair of bfloat16 values). Rounding A in the kernel, a few rows at a time into a
// panel that stays in L1, saves the separate pass that wrote all of A in bfloat16 and read it back,
// its fork and join, and oneDNN's per-call costs, which dominate at batch 1.

constexpr int64_t kTileRows = 12;  // 12 rows x 2 vectors = 24 accumulators, plus 2 weight registers

// Every tile of 12 rows reads all of the right operand's pairs, so the kernels pay only while those
// stay in the core's cache. Past these sizes (in values of the padded right operand; bench/README,
// "Dense under mixed_bfloat16: training through its own kernel") oneDNN's blocked matmul is faster.
constexpr int64_t kOwnForwardWeights = int64_t(1) << 17;      // K * N16: 256 KB of pairs
constexpr int64_t kOwnWeightGradientRight = int64_t(1) << 17;  // M * N16
constexpr int64_t kOwnWeightGradientColumns = 256;

// vdpbf16ps doubles the products a cycle only where 512-bit float32 FMAs run at half rate (AMD Zen
// 4). Intel's cores have two full-width FMA ports and issue one vdpbf16ps for four FMAs (an Emerald
// Rapids: 0.48-0.50 times float32's multiply-adds a second, bench/bf16_rate_benchmark), so the
// rounding only adds cost there: on a Sapphire Rapids the own kernels took 1.6-3.6 times float32's time for
// every Dense shape tried, oneDNN's matmul 0.4-1.0 times (bench/README.md, "Dense under
// mixed_bfloat16 on a CPU with AMX"). There the forward keeps them for fewer rows than a tile (the
// batch-1 call, where oneDNN's per-call cost is 3 times theirs), the weight gradient never; within
// the same size rules the AMX kernels (dense_amx.hpp) run in their place, oneDNN's matmul past them
// (bench/README.md, "Dense under mixed_bfloat16 on AMX tiles of its own").
std::atomic<bool> g_own_kernels_forced{false};
bool own_forward_pays(int64_t rows) { return g_own_kernels_forced || !amx_supported() || rows < kTileRows; }
bool own_weight_gradient_pays() { return g_own_kernels_forced || !amx_supported(); }

// Rows 2p and 2p+1 of X [rows, width] (row stride ld) rounded to bfloat16 and interleaved:
// out[p * stride + j] holds X[2p][j] in its low half and X[2p+1][j] in its high half, the form
// vdpbf16ps multiplies in pairs; zero past `rows` (an odd last pair) and in columns [width, stride).
void interleave_row_pairs(const float* x, int64_t ld, int64_t rows, int64_t width, int64_t stride, uint32_t* out) {
  // Lane 2j of the result takes value j of the first row, lane 2j+1 value j of the second.
  alignas(64) static const uint16_t order[32] = {0, 16, 1, 17, 2,  18, 3,  19, 4,  20, 5,  21, 6,  22, 7,  23,
                                                 8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
  const __m512i lanes = _mm512_load_si512(order);
  parallel_for((rows + 1) / 2, rows * width, [&](int64_t p) {
    const float* first = x + 2 * p * ld;
    const bool second = 2 * p + 1 < rows;
    uint32_t* o = out + p * stride;
    for (int64_t j = 0; j < stride; j += 16) {
      const int64_t left = width - j;
      const __mmask16 in = left >= 16 ? __mmask16(0xffff) : left <= 0 ? __mmask16(0) : __mmask16((1u << left) - 1);
      const __m512 a = _mm512_maskz_loadu_ps(in, first + j);
      const __m512 b = second ? _mm512_maskz_loadu_ps(in, first + ld + j) : _mm512_setzero_ps();
      const __m512i pairs = _mm512_permutexvar_epi16(lanes, __m512i(_mm512_cvtne2ps_pbh(b, a)));
      const int64_t room = stride - j;
      _mm512_mask_storeu_epi32(o + j, room >= 16 ? __mmask16(0xffff) : __mmask16((1u << room) - 1), pairs);
    }
  });
}

// `rows` rows of A rounded into the panel, each `pairs` 32-bit pairs long (a zero past an odd K).
void round_rows(const float* a, int64_t lda, int64_t rows, int64_t K, int64_t pairs, uint32_t* panel) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = a + r * lda;
    uint16_t* y = reinterpret_cast<uint16_t*>(panel + r * pairs);
    int64_t k = 0;
    for (; k + 32 <= K; k += 32) {
      const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_loadu_ps(x + k + 16), _mm512_loadu_ps(x + k));
      _mm512_storeu_si512(y + k, __m512i(v));
    }
    if (k < K) {  // the last 1..31 values, and the zero that completes an odd K's last pair
      const int64_t left = K - k;
      const __mmask16 lo = left >= 16 ? 0xffff : __mmask16((1u << left) - 1);
      const __mmask16 hi = left <= 16 ? 0 : __mmask16((1u << (left - 16)) - 1);
      const __m512bh v = _mm512_cvtne2ps_pbh(_mm512_maskz_loadu_ps(hi, x + k + 16), _mm512_maskz_loadu_ps(lo, x + k));
      _mm512_mask_storeu_epi16(y + k, __mmask32((uint64_t(1) << (2 * ((left + 1) / 2))) - 1), __m512i(v));
    }
  }
}

// The next tile's rows of A, fetched into the cache two lines per step of the current tile's loop:
// a batch read from memory otherwise stalls the rounding of every tile (two fifths of the seed MLP's
// bf16 predict went to it; a tenth with the fetch).
struct Ahead {
  const float* row;
  int64_t lda, K, rows_left, col = 0;
  void step() {
    if (rows_left == 0) return;
    _mm_prefetch(reinterpret_cast<const char*>(row + col), _MM_HINT_T0);
    if ((col += 16) >= K) {
      col = 0;
      row += lda;
      --rows_left;
    }
  }
};

// The left operand's pairs: row r's pair p at at[r * row_step + p * pair_step].
struct Panel {
  const uint32_t* at;
  int64_t row_step, pair_step;
};

// C[R rows, V*16 columns] = the panel's rows * W's pairs from column c0; the last vector stores `last`
// columns.
template <int R, int V>
void tile(Panel panel, int64_t pairs, const uint16_t* w, int64_t n16, int64_t c0, float* c, int64_t ldc, int last,
          Ahead* ahead) {
  __m512 acc[R][V];
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) acc[r][v] = _mm512_setzero_ps();
  for (int64_t p = 0; p < pairs; ++p) {
    __m512bh b[V];
    for (int v = 0; v < V; ++v) b[v] = __m512bh(_mm512_loadu_si512(w + (p * n16 + c0 + 16 * v) * 2));
    for (int r = 0; r < R; ++r) {
      const __m512bh a = __m512bh(_mm512_set1_epi32(int(panel.at[r * panel.row_step + p * panel.pair_step])));
      for (int v = 0; v < V; ++v) acc[r][v] = _mm512_dpbf16_ps(acc[r][v], a, b[v]);
    }
    if (ahead) {
      ahead->step();
      ahead->step();
    }
  }
  const __mmask16 tail = __mmask16((1u << last) - 1);
  for (int r = 0; r < R; ++r)
    for (int v = 0; v < V; ++v) {
      float* out = c + r * ldc + c0 + 16 * v;
      if (v + 1 < V || last == 16) _mm512_storeu_ps(out, acc[r][v]);
      else _mm512_mask_storeu_ps(out, tail, acc[r][v]);
    }
}

template <int R>
void tile_columns(Panel panel, int64_t pairs, const uint16_t* w, int64_t N, float* c, int64_t ldc,
                  Ahead ahead) {
  const int64_t n16 = (N + 15) / 16 * 16;
  for (int64_t c0 = 0; c0 < N; c0 += 32) {
    const int64_t left = N - c0;
    Ahead* fetch = c0 == 0 ? &ahead : nullptr;
    if (left > 16) tile<R, 2>(panel, pairs, w, n16, c0, c, ldc, int(left >= 32 ? 16 : left - 16), fetch);
    else tile<R, 1>(panel, pairs, w, n16, c0, c, ldc, int(left), fetch);
  }
}

template <int... R>
void tile_rows(int64_t rows, Panel panel, int64_t pairs, const uint16_t* w, int64_t N, float* c,
               int64_t ldc, Ahead ahead, std::integer_sequence<int, R...>) {
  ((rows == R + 1 ? tile_columns<R + 1>(panel, pairs, w, N, c, ldc, ahead) : void()), ...);
}

}  // namespace
#endif

bool pair_products_pay() { return own_bf16_dense_kernels_built() && !amx_supported(); }

bool own_bf16_dense_kernels_built() {
#if defined(__AVX512BF16__)
  return true;
#else
  return false;
#endif
}

void force_own_bf16_dense_kernels(bool forced) {
#if defined(__AVX512BF16__)
  g_own_kernels_forced = forced;
#else
  (void)forced;
#endif
}

#if defined(__AVX512BF16__)
void pair_columns(const float* x, int64_t ld, int64_t rows, int64_t cols, uint32_t* out) {
  round_rows(x, ld, rows, cols, (cols + 1) / 2, out);
}

void pair_columns_transposed(const float* x, int64_t ld, int64_t rows, int64_t cols, int64_t stride, uint32_t* out,
                             uint32_t* scratch) {
  const int64_t pairs = (cols + 1) / 2;
  round_rows(x, ld, rows, cols, pairs, scratch);
  for (int64_t p = 0; p < pairs; ++p) {
    uint32_t* o = out + p * stride;
    for (int64_t r = 0; r < rows; ++r) o[r] = scratch[r * pairs + p];
    std::fill(o + rows, o + stride, 0u);
  }
}

void pair_rows(const float* x, int64_t ld, int64_t rows, int64_t width, int64_t stride, uint32_t* out) {
  interleave_row_pairs(x, ld, rows, width, stride, out);
}

void pair_product(int64_t M, int64_t N, int64_t pairs, PairedLeft a, const uint32_t* b, float* C, int64_t ldc) {
  const uint16_t* w = reinterpret_cast<const uint16_t*>(b);
  for (int64_t r0 = 0; r0 < M; r0 += kTileRows)
    tile_rows(std::min(kTileRows, M - r0), Panel{a.at + r0 * a.row_step, a.row_step, a.pair_step}, pairs, w, N,
              C + r0 * ldc, ldc, Ahead{nullptr, 0, 0, 0}, std::make_integer_sequence<int, kTileRows>());
}
#else
namespace {
[[noreturn]] void no_pair_kernels() { throw Error("bfloat16 pair products need a build for a CPU with AVX512_BF16"); }
}  // namespace
void pair_columns(const float*, int64_t, int64_t, int64_t, uint32_t*) { no_pair_kernels(); }
void pair_columns_transposed(const float*, int64_t, int64_t, int64_t, int64_t, uint32_t*, uint32_t*) {
  no_pair_kernels();
}
void pair_rows(const float*, int64_t, int64_t, int64_t, int64_t, uint32_t*) { no_pair_kernels(); }
void pair_product(int64_t, int64_t, int64_t, PairedLeft, const uint32_t*, float*, int64_t) { no_pair_kernels(); }
#endif

namespace {
// dense_bf16 through oneDNN's matmul, W read from w16 where it is already rounded; A's rounded rows are
// left in *rounded_a where given.
void dense_through_onednn(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* W,
                          const uint16_t* w16, float* C, int64_t ldc, RoundedInput* rounded_a) {
  if (!rounded_a) {
    if (w16) gemm_bf16(false, false, M, N, K, A, lda, w16, N, C, ldc);
    else gemm_bf16(false, false, M, N, K, A, lda, W, N, C, ldc);
    return;
  }
  pack(A, M, K, lda, rounded_a->rows);
  rounded_a->source = A;
  rounded_a->M = M;
  rounded_a->K = rounded_a->stride = K;
  const uint16_t* a16 = rounded_a->rows.data();
  if (w16) gemm_bf16(false, false, M, N, K, a16, K, w16, N, C, ldc);
  else gemm_bf16(false, false, M, N, K, a16, K, W, N, C, ldc);
}

// The weight gradient through oneDNN's matmul, reading A's rounded rows where a_rounded holds them.
void weight_gradient_through_onednn(int64_t M, int64_t K, int64_t N, const float* A, int64_t lda, const float* B,
                                    int64_t ldb, float* C, int64_t ldc, const RoundedInput* a_rounded) {
  if (a_rounded && a_rounded->holds(A, M, K, false))
    gemm_bf16(true, false, K, N, M, a_rounded->rows.data(), a_rounded->stride, B, ldb, C, ldc);
  else
    gemm_bf16(true, false, K, N, M, A, lda, B, ldb, C, ldc);
}
}  // namespace

void dense_bf16(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* W, std::vector<float>* seen,
                std::vector<uint16_t>& kept, float* C, int64_t ldc,
                const std::function<void(int64_t, int64_t)>& finished, RoundedInput* rounded_a) {
  if (rounded_a) rounded_a->clear();
  if (M == 0 || N == 0) return;
#if defined(__AVX512BF16__)
  if (K == 0) {
    for (int64_t i = 0; i < M; ++i) std::memset(C + i * ldc, 0, size_t(N) * sizeof(float));
    if (finished) finished(0, M);
    return;
  }
  const int64_t pairs = (K + 1) / 2, n16 = (N + 15) / 16 * 16;
  const bool fits = K * n16 <= kOwnForwardWeights;
  const bool amx = !own_forward_pays(M) && fits && dense_amx_available();
  if ((!seen && !fits) || (!own_forward_pays(M) && !amx)) {
    dense_through_onednn(M, N, K, A, lda, W, nullptr, C, ldc, rounded_a);
    if (finished) finished(0, M);
    return;
  }
  // `seen` and `kept` stay the own kernels' (their layout of W), for their next call. The pairs past
  // K's up to a multiple of 16 pairs are zero, for the AMX kernel's whole tiles.
  const int64_t kept_pairs = (K + 31) / 32 * 16;
  if (!seen || changed(W, K * N, *seen, kept) || kept.size() != size_t(kept_pairs * n16 * 2)) {
    kept.resize(size_t(kept_pairs * n16 * 2));
    interleave_row_pairs(W, N, K, N, n16, reinterpret_cast<uint32_t*>(kept.data()));
    std::fill(kept.begin() + pairs * n16 * 2, kept.end(), uint16_t(0));
  }
  const uint16_t* w = kept.data();
  if (amx) {
    const uint32_t* w_pairs = reinterpret_cast<const uint32_t*>(w);
    if (rounded_a) {
      amx_round_input(A, lda, M, K, true, *rounded_a);
      amx_dense_forward(*rounded_a, w_pairs, N, C, ldc, finished);
    } else {
      amx_dense_infer(A, lda, M, K, w_pairs, N, C, ldc, finished);
    }
    return;
  }
  // Rows [first, end) in tiles; each row's values are the same whichever tile or thread computes it.
  const auto rows_from = [&](int64_t first, int64_t end) {
    const int64_t tiles = (end - first + kTileRows - 1) / kTileRows;
    parallel_for(tiles, (end - first) * (K + N), [&](int64_t t) {
      thread_local std::vector<uint32_t> panel;
      if (panel.size() < size_t(kTileRows * pairs)) panel.resize(size_t(kTileRows * pairs));
      const int64_t r0 = first + t * kTileRows, rows = std::min(kTileRows, end - r0);
      round_rows(A + r0 * lda, lda, rows, K, pairs, panel.data());
      const Ahead ahead{A + (r0 + rows) * lda, lda, K, std::min(kTileRows, end - r0 - rows)};
      tile_rows(rows, Panel{panel.data(), pairs, 1}, pairs, w, N, C + r0 * ldc, ldc, ahead,
                std::make_integer_sequence<int, kTileRows>());
      if (finished) finished(r0, rows);
    });
  };
  if (SideCore* side = side_core_for(M * N * K, M)) {
    const int64_t mine = M - side_core_rows(M);
    side->split([&] { rows_from(0, mine); }, [&] { rows_from(mine, M); });
  } else {
    rows_from(0, M);
  }
#else
  dense_through_onednn(M, N, K, A, lda, W, seen ? kept_bf16(W, K * N, *seen, kept) : nullptr, C, ldc, rounded_a);
  if (finished) finished(0, M);
#endif
}

void weight_gradient_bf16(int64_t M, int64_t K, int64_t N, const float* A, int64_t lda, const float* B, int64_t ldb,
                          float* C, int64_t ldc, const RoundedInput* a_rounded) {
  if (K == 0 || N == 0) return;
#if defined(__AVX512BF16__)
  if (M == 0) {
    for (int64_t i = 0; i < K; ++i) std::memset(C + i * ldc, 0, size_t(N) * sizeof(float));
    return;
  }
  // Both operands paired along M, the sum's axis: C's row k is then the tile kernel's product of
  // the panel row {A[2p][k], A[2p+1][k]} (p = 0, 1, ...) with B's pairs, as in dense_bf16 with A^T.
  const int64_t n16 = (N + 15) / 16 * 16, tiles = (K + kTileRows - 1) / kTileRows;
  const bool fits = M * n16 <= kOwnWeightGradientRight && N <= kOwnWeightGradientColumns;
  if (fits && !own_weight_gradient_pays() && dense_amx_available()) {
    if (a_rounded && a_rounded->holds(A, M, K, true)) {
      amx_dense_weight_gradient(*a_rounded, B, ldb, N, C, ldc);
    } else {
      thread_local RoundedInput rounded;
      amx_round_input(A, lda, M, K, true, rounded);
      amx_dense_weight_gradient(rounded, B, ldb, N, C, ldc);
    }
    return;
  }
  if (!fits || !own_weight_gradient_pays()) {
    weight_gradient_through_onednn(M, K, N, A, lda, B, ldb, C, ldc, a_rounded);
    return;
  }
  // C (row stride ldc) = the sum over rows [first, end) of A and B.
  const auto sum_over = [&](int64_t first, int64_t end, float* out, int64_t ldo) {
    const int64_t m = end - first, p = (m + 1) / 2;
    thread_local std::vector<uint32_t> a_pairs, b_pairs;
    if (a_pairs.size() < size_t(p * K)) a_pairs.resize(size_t(p * K));
    if (b_pairs.size() < size_t(p * n16)) b_pairs.resize(size_t(p * n16));
    interleave_row_pairs(A + first * lda, lda, m, K, K, a_pairs.data());
    interleave_row_pairs(B + first * ldb, ldb, m, N, n16, b_pairs.data());
    // Named here: inside the loop, a thread_local would name the running thread's own (empty) buffer.
    const uint32_t* a = a_pairs.data();
    const uint16_t* b = reinterpret_cast<const uint16_t*>(b_pairs.data());
    parallel_for(tiles, m * (K + N), [&](int64_t t) {
      const int64_t k0 = t * kTileRows, rows = std::min(kTileRows, K - k0);
      tile_rows(rows, Panel{a + k0, 1, K}, p, b, N, out + k0 * ldo, ldo, Ahead{nullptr, 0, 0, 0},
                std::make_integer_sequence<int, kTileRows>());
    });
  };
  SideCore* side = side_core_for(M * N * K, M);
  // The side core sums over the rows it took in the forward product, from an even row (whole pairs),
  // into a buffer of its own added here: the rounding then depends on whether a side core is lent,
  // as kernels::gemm's does, not on which thread ran a part.
  const int64_t mine = side ? std::min(M, (M - side_core_rows(M) + 1) / 2 * 2) : M;
  if (mine == M) {
    sum_over(0, M, C, ldc);
    return;
  }
  float* theirs = side->scratch(K * N);
  side->split([&] { sum_over(0, mine, C, ldc); }, [&] { sum_over(mine, M, theirs, N); });
  add_side_core_sum(theirs, K, N, C, ldc);
#else
  weight_gradient_through_onednn(M, K, N, A, lda, B, ldb, C, ldc, a_rounded);
#endif
}

}  // namespace myelin::kernels
