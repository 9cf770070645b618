// Times the matrix products of the MLP workloads with each candidate kernel: oneDNN's
// dnnl_sgemm, myelin's dispatch (kernels::gemm, what the layers call), and OpenBLAS's
// cblas_sgemm when the build finds it.
// Prints one line per shape and kernel: median microseconds and GFLOP/s.
#include <oneapi/dnnl/dnnl.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "aligned_floats.hpp"
#include "kernels/cpu/gemm.hpp"
#include "myelin/threading.hpp"

#ifdef MYELIN_BENCH_OPENBLAS
extern "C" void cblas_sgemm(int order, int ta, int tb, int M, int N, int K, float alpha, const float* A, int lda,
                            const float* B, int ldb, float beta, float* C, int ldc);
extern "C" void openblas_set_num_threads(int);
#endif

namespace {
double median_us(const std::function<void()>& f, int reps) {
  for (int i = 0; i < 3; ++i) f();  // warm caches and JIT
  std::vector<double> t;
  for (int r = 0; r < reps; ++r) {
    auto a = std::chrono::steady_clock::now();
    f();
    t.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - a).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}
}  // namespace

int main(int argc, char** argv) {
  int threads = argc > 1 ? std::atoi(argv[1]) : 0;
  myelin::set_num_threads(threads);
#ifdef MYELIN_BENCH_OPENBLAS
  openblas_set_num_threads(myelin::num_threads());
#endif
  struct Case {
    const char* what;
    bool ta, tb;
    int M, N, K;
  };
  const Case cases[] = {
      {"mlp forward b128", false, false, 128, 32, 784}, {"mlp dW b128", true, false, 784, 32, 128},
      {"mlp forward b1024", false, false, 1024, 32, 784}, {"mlp forward b1", false, false, 1, 32, 784},
      {"mlp head b1", false, false, 1, 10, 32},        {"small fwd 10x10x10", false, false, 10, 10, 10},
      {"small dW 10x10x10", true, false, 10, 10, 10},  {"small dx 10x10x10", false, true, 10, 10, 10},
      {"head fwd b128", false, false, 128, 10, 32},     {"head dx b128", false, true, 128, 32, 10},
  };
  std::printf("threads=%d\n", myelin::num_threads());
  for (const auto& c : cases) {
    const int lda = c.ta ? c.M : c.K, ldb = c.tb ? c.K : c.N;
    bench::Floats A(size_t(c.M) * c.K, 0.5f), B(size_t(c.K) * c.N, 0.25f), C(size_t(c.M) * c.N);
    const int reps = c.M * c.N * c.K > 1000000 ? 200 : 5000;
    const double flop = 2.0 * c.M * c.N * c.K;
    auto report = [&](const char* kernel, double us) {
      std::printf("%-22s %-10s %9.2f us %8.1f GFLOP/s\n", c.what, kernel, us, flop / us * 1e-3);
    };
    report("onednn", median_us([&] {
             dnnl_sgemm(c.ta ? 'T' : 'N', c.tb ? 'T' : 'N', c.M, c.N, c.K, 1.f, A.data(), lda, B.data(), ldb, 0.f,
                        C.data(), c.N);
           }, reps));
    report("myelin", median_us([&] {
             myelin::kernels::gemm(c.ta, c.tb, c.M, c.N, c.K, 1.f, A.data(), lda, B.data(), ldb, 0.f, C.data(), c.N);
           }, reps));
#ifdef MYELIN_BENCH_OPENBLAS
    report("openblas", median_us([&] {
             cblas_sgemm(101, c.ta ? 112 : 111, c.tb ? 112 : 111, c.M, c.N, c.K, 1.f, A.data(), lda, B.data(), ldb,
                         0.f, C.data(), c.N);
           }, reps));
#endif
  }
}
