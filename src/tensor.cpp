#include "myelin/tensor.hpp"

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>

#if defined(__linux__)
#include <sys/mman.h>
#endif

#include "kernels/cpu/elementwise.hpp"
#include "myelin/error.hpp"
#include "myelin/memory_limit.hpp"
#include "tensor_budget.hpp"

namespace myelin {

int64_t shape_size(const Shape& shape) {
  int64_t n = 1;
  // Shapes can come from files (an architecture's batch_input_shape): a product past int64 is refused.
  for (int64_t d : shape)
    if (__builtin_mul_overflow(n, d, &n))
      throw ShapeError("shape " + shape_to_string(shape) + " has more elements than a tensor can hold");
  return n;
}

std::string shape_to_string(const Shape& shape, bool batch_none) {
  std::string s = "(";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i) s += ", ";
    s += (i == 0 && batch_none) ? std::string("None") : std::to_string(shape[i]);
  }
  if (shape.size() == 1 && !batch_none) s += ",";
  return s + ")";
}

Shape with_batch(int64_t batch, const Shape& shape) {
  Shape s{batch};
  s.insert(s.end(), shape.begin(), shape.end());
  return s;
}

namespace {
// From this size a tensor asks for 2 MiB pages (where the kernel leaves them to the program): rows
// read in a scattered order, such as a training set's batches, otherwise cost a page walk each,
// a long one in a virtual machine. Gathering the MLP's batches took 32-34 us instead of 37-39
// (bench/README.md, "A side core for the MLP's step").
constexpr size_t kHugePageTensorBytes = size_t(8) << 20;

void advise_huge_pages(void* p, size_t bytes) {
#if defined(MADV_HUGEPAGE)
  if (bytes < kHugePageTensorBytes) return;
  // The whole 2 MiB pages inside the block; advice is a hint, and its failure changes nothing.
  constexpr uintptr_t kHuge = uintptr_t(2) << 20;
  const uintptr_t begin = (reinterpret_cast<uintptr_t>(p) + kHuge - 1) & ~(kHuge - 1);
  const uintptr_t end = (reinterpret_cast<uintptr_t>(p) + bytes) & ~(kHuge - 1);
  if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);
#else
  (void)p, (void)bytes;
#endif
}

// 64-byte alignment so vector loads never straddle cache lines.
std::shared_ptr<float> allocate(int64_t n) {
  if (n == 0) return {};
  if (n > (int64_t(1) << 40)) throw ShapeError("tensor of " + std::to_string(n) + " elements is too large");
  TensorBudget::charge(n * int64_t(sizeof(float)));
  size_t bytes = ((static_cast<size_t>(n) * sizeof(float) + 63) / 64) * 64;
  void* p = std::aligned_alloc(64, bytes);
  // The model checks its needs before allocating (model_memory.hpp); this names what still fails.
  if (!p) {
    const MemoryLimit limit = memory_limit();
    throw ResourceError("could not allocate " + format_bytes(double(bytes)) + " for a tensor of " + std::to_string(n) +
                        " values; this process may use " + format_bytes(double(limit.bytes)) + " (" + limit.source + ")");
  }
  advise_huge_pages(p, bytes);
  return std::shared_ptr<float>(static_cast<float*>(p), [](float* q) { std::free(q); });
}

void check_shape(const Shape& shape) {
  for (int64_t d : shape)
    if (d < 0) throw ShapeError("negative dimension in shape " + shape_to_string(shape));
}
}  // namespace

Tensor::Tensor() : shape_{0} {}

Tensor::Tensor(Shape shape) : shape_(std::move(shape)) {
  check_shape(shape_);
  size_ = capacity_ = shape_size(shape_);
  storage_ = allocate(size_);
  data_ = storage_.get();
  if (size_) std::memset(data_, 0, size_ * sizeof(float));
}

Tensor::Tensor(Shape shape, const std::vector<float>& values) : Tensor(std::move(shape)) {
  if (static_cast<int64_t>(values.size()) != size_)
    throw ShapeError("tensor of shape " + shape_to_string(shape_) + " needs " + std::to_string(size_) +
                     " values, got " + std::to_string(values.size()));
  if (size_) std::memcpy(data_, values.data(), size_ * sizeof(float));
}

Tensor Tensor::full(Shape shape, float value) {
  Tensor t(std::move(shape));
  t.fill(value);
  return t;
}

Tensor Tensor::wrap(float* data, Shape shape, std::shared_ptr<void> owner) {
  check_shape(shape);
  Tensor t;
  t.shape_ = std::move(shape);
  t.size_ = t.capacity_ = shape_size(t.shape_);
  // The aliasing constructor shares `owner`'s lifetime while pointing at `data`.
  t.storage_ = std::shared_ptr<float>(std::move(owner), data);
  t.data_ = data;
  return t;
}

int64_t Tensor::dim(int i) const {
  int n = ndim();
  int j = i < 0 ? i + n : i;
  if (j < 0 || j >= n)
    throw ShapeError("dimension " + std::to_string(i) + " out of range for shape " + shape_to_string(shape_));
  return shape_[j];
}

int64_t Tensor::row_size() const {
  if (shape_.empty()) return 1;
  int64_t n = 1;
  for (size_t i = 1; i < shape_.size(); ++i) n *= shape_[i];
  return n;
}

Tensor Tensor::rows(int64_t begin, int64_t end) const {
  if (begin < 0 || end < begin || end > rows())
    throw ShapeError("rows [" + std::to_string(begin) + ", " + std::to_string(end) + ") out of range for shape " +
                     shape_to_string(shape_));
  Tensor v = *this;
  v.shape_[0] = end - begin;
  v.data_ = data_ + begin * row_size();
  v.size_ = (end - begin) * row_size();
  v.capacity_ = capacity_ - begin * row_size();
  return v;
}

Tensor Tensor::reshape(Shape shape) const {
  check_shape(shape);
  if (shape_size(shape) != size_)
    throw ShapeError("cannot reshape " + shape_to_string(shape_) + " to " + shape_to_string(shape));
  Tensor v = *this;
  v.shape_ = std::move(shape);
  return v;
}

Tensor Tensor::clone() const {
  Tensor t(shape_);
  if (size_) std::memcpy(t.data_, data_, size_ * sizeof(float));
  return t;
}

Tensor Tensor::gather_rows(const std::vector<int64_t>& indices) const {
  Shape s = shape_;
  s[0] = static_cast<int64_t>(indices.size());
  Tensor t(s);
  t.gather_rows_from(*this, indices.data(), static_cast<int64_t>(indices.size()));
  return t;
}

void Tensor::gather_rows_from(const Tensor& src, const int64_t* indices, int64_t count, bool use_threads) {
  const int64_t rs = src.row_size();
  if (count * rs > size_) throw ShapeError("gather_rows_from: destination too small");
  for (int64_t i = 0; i < count; ++i)
    if (indices[i] < 0 || indices[i] >= src.rows())
      throw ShapeError("row index " + std::to_string(indices[i]) + " out of range for " + shape_to_string(src.shape_));
  kernels::gather_rows(src.data_, rs, indices, count, data_, use_threads);
}

void Tensor::resize(const Shape& shape) {
  check_shape(shape);
  int64_t n = shape_size(shape);
  if (n > capacity_ || !storage_) {
    storage_ = allocate(n);
    data_ = storage_.get();
    capacity_ = n;
  }
  shape_ = shape;
  size_ = n;
}

void Tensor::alias(const Tensor& src, const Shape& shape) {
  if (shape_size(shape) != src.size_)
    throw ShapeError("cannot view " + shape_to_string(src.shape_) + " as " + shape_to_string(shape));
  storage_ = src.storage_;
  data_ = src.data_;
  capacity_ = src.capacity_;
  size_ = src.size_;
  shape_ = shape;
}

void Tensor::resize_rows(int64_t rows) {
  const int64_t n = rows * row_size();
  if (shape_.empty() || rows < 0 || n > capacity_)
    throw ShapeError("resize_rows(" + std::to_string(rows) + ") beyond the storage of " + shape_to_string(shape_));
  shape_[0] = rows;
  size_ = n;
}

void Tensor::fill(float value) { kernels::fill(data_, size_, value); }

void Tensor::copy_from(const Tensor& other) {
  if (other.size_ != size_)
    throw ShapeError("copy_from: sizes differ, " + shape_to_string(shape_) + " vs " + shape_to_string(other.shape_));
  if (size_) std::memmove(data_, other.data_, size_ * sizeof(float));
}

namespace {
using kernels::BinaryOp;
Tensor map_scalar(const Tensor& a, float b, BinaryOp op) {
  Tensor out(a.shape());
  kernels::binary_scalar(op, a.data(), b, out.data(), a.size());
  return out;
}
Tensor map_pair(const Tensor& a, const Tensor& b, const char* name, BinaryOp op) {
  if (a.shape() != b.shape())
    throw ShapeError(std::string("tensor ") + name + ": shapes " + shape_to_string(a.shape()) + " and " +
                     shape_to_string(b.shape()) + " differ");
  Tensor out(a.shape());
  kernels::binary(op, a.data(), b.data(), out.data(), a.size());
  return out;
}
}  // namespace

Tensor operator+(const Tensor& a, float b) { return map_scalar(a, b, BinaryOp::Add); }
Tensor operator-(const Tensor& a, float b) { return map_scalar(a, b, BinaryOp::Subtract); }
Tensor operator*(const Tensor& a, float b) { return map_scalar(a, b, BinaryOp::Multiply); }
Tensor operator/(const Tensor& a, float b) { return map_scalar(a, b, BinaryOp::Divide); }
Tensor operator*(float a, const Tensor& b) { return b * a; }
Tensor operator+(const Tensor& a, const Tensor& b) { return map_pair(a, b, "+", BinaryOp::Add); }
Tensor operator-(const Tensor& a, const Tensor& b) { return map_pair(a, b, "-", BinaryOp::Subtract); }
Tensor operator*(const Tensor& a, const Tensor& b) { return map_pair(a, b, "*", BinaryOp::Multiply); }
Tensor operator/(const Tensor& a, const Tensor& b) { return map_pair(a, b, "/", BinaryOp::Divide); }

std::vector<float> Tensor::to_vector() const { return std::vector<float>(data_, data_ + size_); }

}  // namespace myelin
