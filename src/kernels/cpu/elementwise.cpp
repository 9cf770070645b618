#include "kernels/cpu/elementwise.hpp"

#include <cstring>

#include "kernels/cpu/parallel.hpp"

namespace myelin::kernels {

namespace {
// Asks for every cache line of a row without waiting for it.
inline void prefetch_row(const float* row, int64_t row_bytes) {
  const char* bytes = reinterpret_cast<const char*>(row);
  for (int64_t b = 0; b < row_bytes; b += 64) __builtin_prefetch(bytes + b);
}

// One loop per operator, so each vectorises on its own.
template <class F>
void map_scalar(const float* a, float b, float* out, int64_t n, F f) {
  for (int64_t i = 0; i < n; ++i) out[i] = f(a[i], b);
}
template <class F>
void map_pair(const float* a, const float* b, float* out, int64_t n, F f) {
  for (int64_t i = 0; i < n; ++i) out[i] = f(a[i], b[i]);
}
constexpr auto add = [](float x, float y) { return x + y; };
constexpr auto subtract = [](float x, float y) { return x - y; };
constexpr auto multiply = [](float x, float y) { return x * y; };
constexpr auto divide = [](float x, float y) { return x / y; };
}  // namespace

void fill(float* x, int64_t n, float value) {
  for (int64_t i = 0; i < n; ++i) x[i] = value;
}

void binary_scalar(BinaryOp op, const float* a, float b, float* out, int64_t n) {
  switch (op) {
    case BinaryOp::Add: return map_scalar(a, b, out, n, add);
    case BinaryOp::Subtract: return map_scalar(a, b, out, n, subtract);
    case BinaryOp::Multiply: return map_scalar(a, b, out, n, multiply);
    case BinaryOp::Divide: return map_scalar(a, b, out, n, divide);
  }
}

void binary(BinaryOp op, const float* a, const float* b, float* out, int64_t n) {
  switch (op) {
    case BinaryOp::Add: return map_pair(a, b, out, n, add);
    case BinaryOp::Subtract: return map_pair(a, b, out, n, subtract);
    case BinaryOp::Multiply: return map_pair(a, b, out, n, multiply);
    case BinaryOp::Divide: return map_pair(a, b, out, n, divide);
  }
}

void gather_rows(const float* src, int64_t row_size, const int64_t* indices, int64_t count, float* dst,
                 bool use_threads) {
  // Below 2^16 values (256 KiB) one thread copies the rows before a team would have started.
  constexpr int64_t kGatherThreshold = 1 << 16;
  // Scattered rows come from main memory one after another unless asked for ahead: the row this
  // many places on is requested while one is copied.
  constexpr int64_t kAhead = 4;
  const int64_t row_bytes = row_size * int64_t(sizeof(float));
  parallel_for(
      count, use_threads ? count * row_size : 0,
      [&](int64_t i) {
        if (i + kAhead < count) prefetch_row(src + indices[i + kAhead] * row_size, row_bytes);
        std::memcpy(dst + i * row_size, src + indices[i] * row_size, row_bytes);
      },
      kGatherThreshold);
}

void prefetch_rows(const float* src, int64_t row_size, const int64_t* indices, int64_t count) {
  const int64_t row_bytes = row_size * int64_t(sizeof(float));
  for (int64_t i = 0; i < count; ++i) prefetch_row(src + indices[i] * row_size, row_bytes);
}

}  // namespace myelin::kernels
