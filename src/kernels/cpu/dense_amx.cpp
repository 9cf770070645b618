#include "kernels/cpu/dense_amx.hpp"

#include <algorithm>
#include <cstring>

#include "kernels/cpu/bf16.hpp"
#include "kernels/cpu/parallel.hpp"
#include "myelin/error.hpp"

#if defined(__AMX_TILE__) && defined(__AMX_BF16__) && defined(__AVX512BF16__)
#define MYELIN_DENSE_AMX 1
#include <immintrin.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace myelin::kernels {

namespace {
int64_t round_up(int64_t v, int64_t to) { return (v + to - 1) / to * to; }
}  // namespace

#if defined(MYELIN_DENSE_AMX)

namespace {

// All eight tiles are 16 rows of 64 bytes: 16 x 16 float32 sums (tiles 0 to 3, a 2 x 2 block of
// them, so that four chains of products are in flight), 16 x 32 bfloat16 values (tiles 4 and 5, the
// left operands) and 16 pairs x 16 columns (tiles 6 and 7, the right operands).
struct alignas(64) TileConfig {
  uint8_t palette = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t bytes_per_row[16] = {};
  uint8_t rows[16] = {};
};

void configure_tiles() {
  static const TileConfig config = [] {
    TileConfig c;
    for (int t = 0; t < 8; ++t) {
      c.bytes_per_row[t] = 64;
      c.rows[t] = 16;
    }
    return c;
  }();
  _tile_loadconfig(&config);
}

// Linux hands a process AMX's tile data only once asked (ARCH_REQ_XCOMP_PERM for XFEATURE_XTILEDATA).
bool tiles_granted() {
  constexpr long kRequestPermission = 0x1023, kTileData = 18;
  return syscall(SYS_arch_prctl, kRequestPermission, kTileData) == 0;
}

// Lane 2j of the result takes value j of the first vector, lane 2j+1 value j of the second.
alignas(64) const uint16_t kInterleave[32] = {0, 16, 1, 17, 2,  18, 3,  19, 4,  20, 5,  21, 6,  22, 7,  23,
                                              8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};

// Rows r[0..15] of a 16 x 16 block become its columns: r[k][u] takes the old r[u][k].
void transpose16(__m512 r[16]) {
  __m512 t[16];
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_ps(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_ps(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {
    const __m512d a = _mm512_castps_pd(t[4 * i]), b = _mm512_castps_pd(t[4 * i + 1]);
    const __m512d c = _mm512_castps_pd(t[4 * i + 2]), d = _mm512_castps_pd(t[4 * i + 3]);
    r[4 * i] = _mm512_castpd_ps(_mm512_unpacklo_pd(a, c));
    r[4 * i + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a, c));
    r[4 * i + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(b, d));
    r[4 * i + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(b, d));
  }
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 4; ++j) {
      t[8 * i + j] = _mm512_shuffle_f32x4(r[8 * i + j], r[8 * i + j + 4], 0x88);
      t[8 * i + j + 4] = _mm512_shuffle_f32x4(r[8 * i + j], r[8 * i + j + 4], 0xdd);
    }
  for (int j = 0; j < 8; ++j) {
    r[j] = _mm512_shuffle_f32x4(t[j], t[j + 8], 0x88);
    r[j + 8] = _mm512_shuffle_f32x4(t[j], t[j + 8], 0xdd);
  }
}

__mmask16 first(int64_t n) { return n >= 16 ? __mmask16(0xffff) : n <= 0 ? __mmask16(0) : __mmask16((1u << n) - 1); }

// Rows r and r + 1 of A (zero past M) rounded into two rows of `rows` (row stride `stride`, zero past
// K) and, where `pairs` is given, interleaved into its pair_stride values.
void round_two_rows(const float* A, int64_t lda, int64_t M, int64_t K, int64_t r, uint16_t* rows, int64_t stride,
                    uint32_t* pairs, int64_t pair_stride) {
  const __m512i lanes = _mm512_load_si512(kInterleave);
  const float* a0 = A + r * lda;
  const float* a1 = a0 + lda;
  const bool has0 = r < M, has1 = r + 1 < M;
  for (int64_t k = 0; k < stride; k += 16) {
    const __mmask16 in = first(K - k);
    const __m512 lo = has0 ? _mm512_maskz_loadu_ps(in, a0 + k) : _mm512_setzero_ps();
    const __m512 hi = has1 ? _mm512_maskz_loadu_ps(in, a1 + k) : _mm512_setzero_ps();
    const __m512i both = __m512i(_mm512_cvtne2ps_pbh(hi, lo));  // lo's 16 values, then hi's
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(rows + k), _mm512_castsi512_si256(both));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(rows + stride + k), _mm512_extracti64x4_epi64(both, 1));
    if (pairs && k < pair_stride) _mm512_storeu_si512(pairs + k, _mm512_permutexvar_epi16(lanes, both));
  }
}

}  // namespace

bool dense_amx_available() {
  static const bool ok = amx_supported() && tiles_granted();
  return ok;
}

void amx_round_input(const float* A, int64_t lda, int64_t M, int64_t K, bool with_pairs, RoundedInput& out) {
  const int64_t stride = round_up(K, 32), pair_stride = round_up(K, 16);
  const int64_t row_count = round_up(M, with_pairs ? 32 : 16);
  out.source = A;
  out.M = M;
  out.K = K;
  out.stride = stride;
  out.pair_stride = pair_stride;
  if (out.rows.size() < size_t(row_count * stride)) out.rows.resize(size_t(row_count * stride));
  out.has_pairs = with_pairs;
  if (with_pairs && out.pairs.size() < size_t(row_count / 2 * pair_stride))
    out.pairs.resize(size_t(row_count / 2 * pair_stride));
  // Two rows at a time, each read once: one conversion gives both rows' bfloat16 values, stored as
  // rows and, interleaved, as pairs.
  parallel_for(row_count / 2, M * K, [&](int64_t p) {
    round_two_rows(A, lda, M, K, 2 * p, out.rows.data() + 2 * p * stride, stride,
                   with_pairs ? out.pairs.data() + p * pair_stride : nullptr, pair_stride);
  });
}

namespace {

// Adds the product of left tiles 4 (and 5) with right tiles 6 (and 7) to sum tiles 0, 1 (and 2, 3):
// sum 2i + j takes left i times right j.
inline void multiply(bool two_left, bool two_right) {
  _tile_dpbf16ps(0, 4, 6);
  if (two_right) _tile_dpbf16ps(1, 4, 7);
  if (two_left) {
    _tile_dpbf16ps(2, 5, 6);
    if (two_right) _tile_dpbf16ps(3, 5, 7);
  }
}

// Stores sum tiles 0 to 3 into sums[32][32]: sum 2i + j at rows 16i, columns 16j.
inline void store_sums(float (*sums)[32]) {
  _tile_stored(0, &sums[0][0], 128);
  _tile_stored(1, &sums[0][16], 128);
  _tile_stored(2, &sums[16][0], 128);
  _tile_stored(3, &sums[16][16], 128);
}

inline void zero_sums() {
  _tile_zero(0);
  _tile_zero(1);
  _tile_zero(2);
  _tile_zero(3);
}

// C's rows [r0, r0 + rows) (rows <= 32) from the block's rounded rows `left` (row stride `stride`,
// zero-padded to 16 rows, or 32 where rows > 16): 2 x 2 tiles of sums at a time.
void forward_block(const uint16_t* left, int64_t stride, int64_t rows, const uint32_t* w_pairs, int64_t N,
                   float* C, int64_t ldc) {
  const int64_t n16 = round_up(N, 16), chunks = stride / 32, column_blocks = n16 / 16;
  const bool two_left = rows > 16;
  alignas(64) float sums[32][32];
  for (int64_t cb = 0; cb < column_blocks; cb += 2) {
    const bool two_right = cb + 1 < column_blocks;
    zero_sums();
    for (int64_t k = 0; k < chunks; ++k) {
      const uint32_t* right = w_pairs + (16 * k) * n16 + 16 * cb;
      _tile_loadd(4, left + 32 * k, stride * 2);
      if (two_left) _tile_loadd(5, left + 16 * stride + 32 * k, stride * 2);
      _tile_loadd(6, right, n16 * 4);
      if (two_right) _tile_loadd(7, right + 16, n16 * 4);
      multiply(two_left, two_right);
    }
    store_sums(sums);
    const int64_t c0 = 16 * cb, columns = std::min<int64_t>(32, N - c0);
    for (int64_t r = 0; r < rows; ++r) std::memcpy(C + r * ldc + c0, sums[r], size_t(columns) * sizeof(float));
  }
}

}  // namespace

void amx_dense_forward(const RoundedInput& a, const uint32_t* w_pairs, int64_t N, float* C, int64_t ldc,
                       const std::function<void(int64_t, int64_t)>& finished) {
  const int64_t M = a.M;
  parallel_for((M + 31) / 32, M * a.K + M * N, [&](int64_t b) {
    configure_tiles();
    const int64_t r0 = 32 * b, rows = std::min<int64_t>(32, M - r0);
    forward_block(a.rows.data() + r0 * a.stride, a.stride, rows, w_pairs, N, C + r0 * ldc, ldc);
    _tile_release();
    if (finished) finished(r0, rows);
  });
}

void amx_dense_infer(const float* A, int64_t lda, int64_t M, int64_t K, const uint32_t* w_pairs, int64_t N, float* C,
                     int64_t ldc, const std::function<void(int64_t, int64_t)>& finished) {
  const int64_t stride = round_up(K, 32);
  parallel_for((M + 31) / 32, M * K + M * N, [&](int64_t b) {
    thread_local std::vector<uint16_t> block;  // this thread's: filled and read here
    if (block.size() < size_t(32 * stride)) block.resize(size_t(32 * stride));
    const int64_t r0 = 32 * b, rows = std::min<int64_t>(32, M - r0);
    for (int64_t r = 0; r < round_up(rows, 16); r += 2)
      round_two_rows(A + r0 * lda, lda, rows, K, r, block.data() + r * stride, stride, nullptr, 0);
    configure_tiles();
    forward_block(block.data(), stride, rows, w_pairs, N, C + r0 * ldc, ldc);
    _tile_release();
    if (finished) finished(r0, rows);
  });
}

void amx_dense_weight_gradient(const RoundedInput& a, const float* B, int64_t ldb, int64_t N, float* C, int64_t ldc) {
  if (!a.has_pairs) throw Error("amx_dense_weight_gradient: the input was rounded without its pair layout");
  const int64_t M = a.M, K = a.K, m32 = round_up(M, 32), n16 = round_up(N, 16), pair_stride = a.pair_stride;
  // B^T rounded, [n16 rows, m32 columns]: the left operand of C^T = B^T A, whose tiles sum over the rows.
  thread_local std::vector<uint16_t> bt;
  if (bt.size() < size_t(n16 * m32)) bt.resize(size_t(n16 * m32));
  uint16_t* b_t = bt.data();
  const __m512i rows_apart = _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                                                _mm512_set1_epi32(int(ldb)));
  for (int64_t n = 0; n < n16; ++n)
    for (int64_t m = 0; m < m32; m += 32) {
      const __m512 lo = n < N ? _mm512_mask_i32gather_ps(_mm512_setzero_ps(), first(M - m), rows_apart,
                                                         B + m * ldb + n, 4)
                              : _mm512_setzero_ps();
      const __m512 hi = n < N && M > m + 16 ? _mm512_mask_i32gather_ps(_mm512_setzero_ps(), first(M - m - 16),
                                                                       rows_apart, B + (m + 16) * ldb + n, 4)
                                            : _mm512_setzero_ps();
      _mm512_storeu_si512(b_t + n * m32 + m, __m512i(_mm512_cvtne2ps_pbh(hi, lo)));
    }
  const int64_t column_blocks = round_up(K, 16) / 16, unit_blocks = n16 / 16, chunks = m32 / 32;
  // C^T's tiles: units down (left operand B^T), inputs across (right operand, A's pairs), 2 x 2 at a
  // time; each is turned back into C's rows as it is written.
  parallel_for((column_blocks + 1) / 2, M * K + M * N, [&](int64_t kb) {
    configure_tiles();
    alignas(64) float sums[32][32];
    const int64_t k0 = 32 * kb, inputs = std::min<int64_t>(32, K - k0);
    const bool two_right = 2 * kb + 1 < column_blocks;
    for (int64_t ub = 0; ub < unit_blocks; ub += 2) {
      const bool two_left = ub + 1 < unit_blocks;
      zero_sums();
      for (int64_t c = 0; c < chunks; ++c) {
        const uint32_t* right = a.pairs.data() + (16 * c) * pair_stride + k0;
        _tile_loadd(4, b_t + (16 * ub) * m32 + 32 * c, m32 * 2);
        if (two_left) _tile_loadd(5, b_t + (16 * ub + 16) * m32 + 32 * c, m32 * 2);
        _tile_loadd(6, right, pair_stride * 4);
        if (two_right) _tile_loadd(7, right + 16, pair_stride * 4);
        multiply(two_left, two_right);
      }
      store_sums(sums);  // sums[u][k]: unit 16 ub + u, input k0 + k
      for (int i = 0; i < (two_left ? 2 : 1); ++i)
        for (int j = 0; j < (two_right ? 2 : 1); ++j) {
          const int64_t u0 = 16 * (ub + i);
          __m512 r[16];
          for (int u = 0; u < 16; ++u) r[u] = _mm512_load_ps(&sums[16 * i + u][16 * j]);
          transpose16(r);
          const __mmask16 units = first(N - u0);
          const int64_t count = std::min<int64_t>(16, inputs - 16 * j);
          for (int64_t k = 0; k < count; ++k) _mm512_mask_storeu_ps(C + (k0 + 16 * j + k) * ldc + u0, units, r[k]);
        }
    }
    _tile_release();
  });
}

#else

bool dense_amx_available() { return false; }

void amx_round_input(const float*, int64_t, int64_t, int64_t, bool, RoundedInput&) {
  throw Error("amx_round_input: this library was built without AMX");
}

void amx_dense_forward(const RoundedInput&, const uint32_t*, int64_t, float*, int64_t,
                       const std::function<void(int64_t, int64_t)>&) {
  throw Error("amx_dense_forward: this library was built without AMX");
}

void amx_dense_infer(const float*, int64_t, int64_t, int64_t, const uint32_t*, int64_t, float*, int64_t,
                     const std::function<void(int64_t, int64_t)>&) {
  throw Error("amx_dense_infer: this library was built without AMX");
}

void amx_dense_weight_gradient(const RoundedInput&, const float*, int64_t, int64_t, float*, int64_t) {
  throw Error("amx_dense_weight_gradient: this library was built without AMX");
}

#endif

}  // namespace myelin::kernels
