// Dense's bfloat16 products on AMX tiles, for layers whose weights fit the core's cache (the seed MLP's
// 784 x 32): there oneDNN's matmul spends more on rounding, reordering and its per-call costs than on
// the products, and the input is rounded once for both of a training step's products.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

namespace myelin::kernels {

/// A [M, K] rounded to bfloat16 (to nearest even) once for the two products of a Dense layer's
/// training step, in the layouts the product that rounded it reads:
/// - `rows`: row-major with row stride `stride`. From amx_round_input, stride is K rounded up to 32
///   and the rows are zero-padded up to a multiple of 16 (32 with pairs): the AMX forward's left
///   operand. From dense_bf16's oneDNN path, stride is K and there is no padding.
/// - `pairs` (amx_round_input with pairs only): rows 2p and 2p+1 interleaved value by value, pair p's
///   value k at [p * `pair_stride` + k] (K rounded up to 16) in the low (row 2p) and high (row 2p+1)
///   halves, zero-padded up to 32 rows: the AMX weight gradient's right operand.
/// `source` is the A it was rounded from, so a caller can tell that it still stands for it. clear()
/// forgets A but keeps the buffers' sizes: growing a vector writes zeros over all it adds, and the
/// next rounding writes every value anyway.
struct RoundedInput {
  const float* source = nullptr;
  int64_t M = 0, K = 0, stride = 0, pair_stride = 0;
  bool has_pairs = false;  // `pairs` holds this A's pair layout
  std::vector<uint16_t> rows;
  std::vector<uint32_t> pairs;
  bool holds(const float* a, int64_t m, int64_t k, bool with_pairs) const {
    return source == a && M == m && K == k && (!with_pairs || has_pairs);
  }
  void clear() {
    source = nullptr;
    M = K = 0;
    has_pairs = false;
  }
};

/// Whether the AMX kernels run here: the library was built with AMX, oneDNN's ISA includes it, and
/// the operating system lets this process use the tile registers (asked once).
bool dense_amx_available();

/// Fills `out` from A [M, K] (row stride lda); the pair layout too where `with_pairs`.
void amx_round_input(const float* A, int64_t lda, int64_t M, int64_t K, bool with_pairs, RoundedInput& out);

/// C [M, N] (row stride ldc) = A W, the products summed in float32. `w_pairs` holds W [K, N] rounded
/// in pairs of rows, pair p's column n at [p * N16 + n] (N rounded up to 16), zero in the pairs past K
/// up to K rounded up to 32 and in the columns past N. `finished`, when given, is called once for
/// every block of rows as (first row, rows) once their values are final, on the thread that
/// computed them.
void amx_dense_forward(const RoundedInput& a, const uint32_t* w_pairs, int64_t N, float* C, int64_t ldc,
                       const std::function<void(int64_t, int64_t)>& finished);

/// The same product for inference, A [M, K] float32 (row stride lda) rounded a block of 32 rows at a
/// time on the thread that multiplies it, so that the rounded rows stay in that core's cache.
void amx_dense_infer(const float* A, int64_t lda, int64_t M, int64_t K, const uint32_t* w_pairs, int64_t N, float* C,
                     int64_t ldc, const std::function<void(int64_t, int64_t)>& finished);

/// C [K, N] (row stride ldc) = A^T B, the weight gradient over A's M rows: A from `a` (with pairs),
/// B [M, N] float32 with row stride ldb, rounded here; the products summed in float32.
void amx_dense_weight_gradient(const RoundedInput& a, const float* B, int64_t ldb, int64_t N, float* C, int64_t ldc);

}  // namespace myelin::kernels
