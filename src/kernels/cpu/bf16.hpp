// bfloat16 for mixed precision: the CPU check, float32 -> bfloat16 conversion, and the matrix
// product with bfloat16 operands and a float32 result (oneDNN's matmul primitive).
#pragma once
#include <bit>
#include <cstdint>
#include <functional>
#include <type_traits>
#include <vector>

#include "kernels/cpu/dense_amx.hpp"

namespace myelin::kernels {

/// Whether oneDNN runs bfloat16 kernels here: its effective ISA includes AVX512_BF16 (or AMX).
bool bf16_supported();

/// Whether oneDNN's effective ISA includes AMX, whose tiles multiply bfloat16 matrices.
bool amx_supported();

/// What decides whether bfloat16 products run faster than float32's on a CPU.
struct Bf16Hardware {
  bool bf16 = false;  // bfloat16 dot products: AVX512_BF16 or AMX (bf16_supported())
  bool amx = false;   // AMX tiles (amx_supported())
  bool amd = false;   // an AMD CPU (Zen 4 issues its 512-bit float32 FMAs at half rate)
};

/// Whether layers under mixed_bfloat16 out-run float32 on `cpu`: with AMX, or with AVX512_BF16 on AMD
/// (Zen 4, bench/README.md "On a CPU with AVX512_BF16 and no AMX"). Not with AVX512_BF16 alone on
/// Intel, whose cores issue one vdpbf16ps for four 512-bit FMAs, so bfloat16 multiply-adds run at half
/// float32's rate before the rounding is paid (bench/README.md, "mixed_bfloat16 on an Intel CPU
/// without AMX"). The rule reads the CPU, never a timing, so the policy "auto" resolves to is the same
/// in every run on the same machine.
bool bf16_faster_than_float32(const Bf16Hardware& cpu);

/// bf16_faster_than_float32 for this CPU.
bool bf16_faster_than_float32();

/// x rounded to the nearest bfloat16 (ties to even), as its upper 16 bits; a NaN stays a (quiet) NaN
/// instead of rounding into infinity. Inline, for loops that round as they write (they vectorise it).
inline uint16_t bf16_bits(float x) {
  const uint32_t u = std::bit_cast<uint32_t>(x);
  const bool nan = (u & 0x7fffffffu) > 0x7f800000u;
  return nan ? uint16_t((u >> 16) | 0x40u) : uint16_t((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);
}

/// The float32 that bfloat16 bits stand for (exact).
inline float bf16_value(uint16_t bits) { return std::bit_cast<float>(uint32_t(bits) << 16); }

/// v as a kernel writes it into an output of type D: float32 as it is, or bfloat16 (uint16_t) bits
/// rounded by bf16_bits. One template for the kernels that write either precision.
template <class D>
inline D stored_as(float v) {
  static_assert(std::is_same_v<D, float> || std::is_same_v<D, uint16_t>);
  if constexpr (std::is_same_v<D, uint16_t>)
    return bf16_bits(v);
  else
    return v;
}

/// y[i] = bf16_bits(x[i]).
void to_bf16(const float* x, uint16_t* y, int64_t n);

/// y[i] = bf16_value(x[i]).
void from_bf16(const uint16_t* x, float* y, int64_t n);

/// x rounded to bfloat16, kept in `rounded` and rounded again only when x differs bit for bit from
/// `seen`, the values rounded last time (then updated): for weights that repeat from call to call,
/// where one comparison costs less than rounding them again. Returns rounded.data().
const uint16_t* kept_bf16(const float* x, int64_t n, std::vector<float>& seen, std::vector<uint16_t>& rounded);

/// C = A * W for Dense's products, all row-major: A [M, K] float32 with row stride lda, rounded to
/// bfloat16 on the way in; W [K, N] float32, rounded to bfloat16 into `kept` (in the layout this
/// function's kernel reads); C [M, N] float32 with row stride ldc, the products accumulated in float32.
/// With `seen` (inference, where the weights repeat), W is rounded again only when it differs bit for
/// bit from *seen, the values kept last time (then updated); without it (training, where they change
/// every step), on every call; then, for weights too large for its kernel to pay, through
/// gemm_bf16 (oneDNN's matmul), `kept` unused.
/// `finished`, when given, is called once for every block of rows of C, as (first row, rows), as
/// soon as their values are final, on whichever thread computed them (several blocks at once): a
/// pass over them there (a bias, an activation) reads them while they are in that core's cache.
/// On a CPU with AMX, weights that fit the own kernel's size rule go through the AMX kernels of
/// dense_amx.hpp (W rounded into `kept` there too), larger ones through oneDNN's matmul.
/// `rounded_a`, when given (training, whose weight gradient reads A again), receives A rounded to
/// bfloat16 where this call rounds A whole (the AMX kernels, with the pair layout; oneDNN's matmul,
/// rows only), for weight_gradient_bf16; it is cleared where A is rounded a tile at a time (the own
/// kernel).
void dense_bf16(int64_t M, int64_t N, int64_t K, const float* A, int64_t lda, const float* W, std::vector<float>* seen,
                std::vector<uint16_t>& kept, float* C, int64_t ldc,
                const std::function<void(int64_t, int64_t)>& finished = {}, RoundedInput* rounded_a = nullptr);

/// On a CPU with AMX, dense_bf16 runs its own kernel only for fewer rows than one of its tiles and
/// weight_gradient_bf16 never (the AMX kernels or oneDNN's matmul are faster there); `forced` true
/// makes both run it wherever its size rules allow, as on other CPUs. For tests of those kernels.
void force_own_bf16_dense_kernels(bool forced);

/// Whether this build has those own kernels (it was built for a CPU with AVX512_BF16); without them
/// dense_bf16 and weight_gradient_bf16 run through oneDNN. For tests.
bool own_bf16_dense_kernels_built();

/// C = A^T * B, the weight gradient of a product over M rows, all row-major: A [M, K] and B [M, N]
/// float32 with row strides lda and ldb, rounded to bfloat16; C [K, N] float32 with row stride ldc,
/// the products summed over M in float32. Equal to gemm_bf16(true, false, K, N, M, ...) but for
/// the order of the float32 sums; it is that call where B is too large for its own kernel to pay.
/// On a CPU with AMX it runs the AMX kernel of dense_amx.hpp within the own kernel's size rule and
/// oneDNN's matmul past it. `a_rounded`, when given and holding this A (as dense_bf16 left it), is
/// read in place of rounding A again.
void weight_gradient_bf16(int64_t M, int64_t K, int64_t N, const float* A, int64_t lda, const float* B, int64_t ldb,
                          float* C, int64_t ldc, const RoundedInput* a_rounded = nullptr);

/// Whether the kernels that multiply bfloat16 pairs with vdpbf16ps themselves (pair_product below,
/// the recurrent layers' team) run in place of float32 products where a layer under mixed_bfloat16 has
/// the choice: the build has them and the CPU has no AMX, whose cores run vdpbf16ps at half float32's
/// rate of multiply-adds, so that the float32 products are faster there (bench/README.md,
/// "mixed_bfloat16 on an Intel CPU without AMX").
bool pair_products_pay();

/// Products of bfloat16 pairs on the calling thread, for many small products whose operands are laid
/// out once each (attention's heads): every operand rounded to bfloat16, two values along the sum's
/// axis side by side in one 32-bit word (the first in the low half), the form vdpbf16ps multiplies.
/// Built only for CPUs with AVX512_BF16 (own_bf16_dense_kernels_built()); elsewhere they throw Error.
///
/// out[r * pairs + p] = {X[r][2p], X[r][2p+1]} for X [rows, cols] with row stride ld, pairs =
/// ceil(cols / 2), zero completing an odd last pair: a left operand's rows (row_step pairs, pair_step 1).
void pair_columns(const float* x, int64_t ld, int64_t rows, int64_t cols, uint32_t* out);
/// The same pairs laid out as a right operand, X^T's: out[p * stride + r] = {X[r][2p], X[r][2p+1]},
/// zero in columns [rows, stride). `scratch` holds rows * pairs words.
void pair_columns_transposed(const float* x, int64_t ld, int64_t rows, int64_t cols, int64_t stride, uint32_t* out,
                             uint32_t* scratch);
/// A right operand X [rows, width] (row stride ld) paired along its rows: out[p * stride + j] =
/// {X[2p][j], X[2p+1][j]}, zero past `rows` (an odd last pair) and in columns [width, stride). Also a
/// left operand whose sum runs over X's rows (X^T's rows: row_step 1, pair_step stride).
void pair_rows(const float* x, int64_t ld, int64_t rows, int64_t width, int64_t stride, uint32_t* out);
/// A left operand of pair_product: row i's pair p at at[i * row_step + p * pair_step].
struct PairedLeft {
  const uint32_t* at;
  int64_t row_step, pair_step;
};
/// C [M, N] (row stride ldc) = A B over `pairs` pairs, the products summed in float32; B's pair p,
/// column n at b[p * stride + n] with stride N rounded up to 16 (pair_rows, pair_columns_transposed).
void pair_product(int64_t M, int64_t N, int64_t pairs, PairedLeft a, const uint32_t* b, float* C, int64_t ldc);

/// C = op(A) * op(B), all row-major as kernels::gemm, with A and B rounded to bfloat16 and the
/// products accumulated in float32: op(A) is [M, K], op(B) is [K, N], C is [M, N].
void gemm_bf16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
               const float* B, int64_t ldb, float* C, int64_t ldc);

/// The same product with B already in bfloat16 (a kept copy of weights: kept_bf16) and A rounded
/// on the way in.
void gemm_bf16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const float* A, int64_t lda,
               const uint16_t* B, int64_t ldb, float* C, int64_t ldc);

/// The same product with A already in bfloat16 (rounded once for two products) and B rounded on the
/// way in.
void gemm_bf16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const uint16_t* A, int64_t lda,
               const float* B, int64_t ldb, float* C, int64_t ldc);

/// The same product on operands already in bfloat16 (their upper 16 bits, as to_bf16 writes them),
/// with row strides lda and ldb.
void gemm_bf16(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, const uint16_t* A, int64_t lda,
               const uint16_t* B, int64_t ldb, float* C, int64_t ldc);

}  // namespace myelin::kernels
