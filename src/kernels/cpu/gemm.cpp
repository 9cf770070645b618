#include "kernels/cpu/gemm.hpp"

#include <oneapi/dnnl/dnnl.h>
#include <omp.h>

#include <string>

#include "kernels/cpu/matmul.hpp"
#include "kernels/cpu/narrow_gemm.hpp"
#include "kernels/cpu/side_core.hpp"
#include "myelin/error.hpp"

namespace myelin::kernels {

namespace {

// Plain products (no transposes, no scaling, C overwritten) that oneDNN's matmul primitive runs up
// to 15 % faster than its sgemm: from 32 rows and 2^18 multiply-adds, at most 128 columns (a Dense
// layer's units). Below those rows or that work it is slower, and so it is for wider outputs from
// few inputs, such as an LSTM's input projection (bench/README.md, "GEMM: the matmul primitive for
// plain products").
constexpr int64_t kMatmulRows = 32, kMatmulColumns = 128, kMatmulWork = int64_t(1) << 18;

void gemm_here(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
               const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (!trans_a && !trans_b && alpha == 1.f && beta == 0.f && K > 0 && M >= kMatmulRows && N <= kMatmulColumns &&
      M * N * K >= kMatmulWork)
    return onednn_matmul(MatmulInputs::Float32, false, false, M, N, K, A, lda, B, ldb, C, ldc);
  // Up to 64k multiply-adds the second thread's fork and join cost more than its share of the work:
  // batch-1 inference took 3.7 us on two threads against 1.4 on one (bench/README.md). 2^16 itself
  // included: a batch-1 LSTM step of 128 units is exactly that, 100 forks per sequence.
  const bool small = M * N * K <= kGemmOneThreadWork;
  // Narrow products computed on one thread skip sgemm, whose first call of a training step cost
  // 8-10 us whatever its size (narrow_gemm.hpp); with a team of threads sgemm shares them out.
  if (narrow_gemm_fits(trans_b, N, K) && (small || omp_get_max_threads() == 1))
    return narrow_gemm(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  const int threads = small ? omp_get_max_threads() : 1;
  if (threads > 1) omp_set_num_threads(1);
  // Elsewhere oneDNN's sgemm: row-major, and the fastest candidate measured at every size the models
  // use, down to batch 1 and 10x10x10, where plain loops lost (bench/README.md, "GEMM").
  dnnl_status_t st = dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  if (threads > 1) omp_set_num_threads(threads);
  if (st != dnnl_success) throw Error("dnnl_sgemm failed with status " + std::to_string(static_cast<int>(st)));
}

// op(A) op(B) over two parts of the batch's rows, with the side core lent to the calling thread: A's
// rows when they are the batch's (a layer's forward product and its input gradient), K when the sum
// runs over them (a weight gradient). The side core takes the same last rows in both (side_core_rows).
void gemm_on_side_core(SideCore& side, bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha,
                       const float* A, int64_t lda, const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  const int64_t rows = trans_a ? K : M, mine = rows - side_core_rows(rows);
  if (!trans_a) {
    side.split([&] { gemm_here(false, trans_b, mine, N, K, alpha, A, lda, B, ldb, beta, C, ldc); },
               [&] {
                 gemm_here(false, trans_b, M - mine, N, K, alpha, A + mine * lda, lda, B, ldb, beta, C + mine * ldc,
                           ldc);
               });
    return;
  }
  // Two partial sums, the side core's into a buffer of its own, added here.
  float* theirs = side.scratch(M * N);
  const float* B2 = B + (trans_b ? mine : mine * ldb);
  side.split([&] { gemm_here(true, trans_b, M, N, mine, alpha, A, lda, B, ldb, beta, C, ldc); },
             [&] { gemm_here(true, trans_b, M, N, K - mine, alpha, A + mine * lda, lda, B2, ldb, 0.f, theirs, N); });
  add_side_core_sum(theirs, M, N, C, ldc);
}

}  // namespace

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
          const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (SideCore* side = side_core_for(M * N * K, trans_a ? K : M))
    return gemm_on_side_core(*side, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  gemm_here(trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

}  // namespace myelin::kernels
