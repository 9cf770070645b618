// When a loop is worth the OpenMP threads: the one threshold rule every CPU kernel follows.
#pragma once
#include <cstdint>

namespace myelin::kernels {

/// Below this many values per call the OpenMP fork/join costs more than the work.
inline constexpr int64_t kParallelThreshold = 1 << 15;

/// Runs f(i) for every i in [0, count), spread over the OpenMP threads when the call touches at least
/// `threshold` values in all (`values`) and there is more than one item; otherwise in order on the
/// calling thread. f(i) must write only what item i owns. A plain branch rather than an OpenMP if()
/// clause: libgomp still builds a (one-thread) team for a false if().
template <class F>
void parallel_for(int64_t count, int64_t values, F&& f, int64_t threshold = kParallelThreshold) {
  if (values < threshold || count < 2) {
    for (int64_t i = 0; i < count; ++i) f(i);
    return;
  }
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < count; ++i) f(i);
}

/// The same rule over f(i, j) for i in [0, outer), j in [0, inner): nested loops on the calling thread
/// (no division per item), one flat loop of outer * inner items on the threads.
template <class F>
void parallel_for_2d(int64_t outer, int64_t inner, int64_t values, F&& f, int64_t threshold = kParallelThreshold) {
  if (values < threshold || outer * inner < 2) {
    for (int64_t i = 0; i < outer; ++i)
      for (int64_t j = 0; j < inner; ++j) f(i, j);
    return;
  }
#pragma omp parallel for schedule(static)
  for (int64_t k = 0; k < outer * inner; ++k) f(k / inner, k % inner);
}

}  // namespace myelin::kernels
