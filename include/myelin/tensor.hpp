// Tensor: a float32, row-major, batch-first array with shared, 64-byte aligned storage.
//
// Views (rows(), reshape()) share storage with the tensor they come from; clone() copies.
// Images are NHWC, as Keras's channels_last.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

namespace myelin {

/// A tensor's dimensions, outermost first. Layer shapes omit the batch dimension.
using Shape = std::vector<int64_t>;

/// Number of elements of a shape (1 for the empty shape).
int64_t shape_size(const Shape& shape);
/// "(128, 28, 28, 1)"; with batch_none=true the first entry prints as None, as Keras's summary does.
std::string shape_to_string(const Shape& shape, bool batch_none = false);
/// The shape with a batch dimension in front: {batch, shape...}.
Shape with_batch(int64_t batch, const Shape& shape);

/// Where a tensor's storage lives. Only the CPU exists today; kernels dispatch on this.
enum class Device { CPU };

class Tensor {
 public:
  /// An empty tensor (shape {0}).
  Tensor();
  /// A zero-filled tensor.
  explicit Tensor(Shape shape);
  /// A tensor holding `values` (row-major); their count must match the shape.
  Tensor(Shape shape, const std::vector<float>& values);
  /// A tensor filled with `value`.
  static Tensor full(Shape shape, float value);
  /// A tensor over memory owned elsewhere (a numpy array's buffer), kept alive by `owner`: no copy.
  static Tensor wrap(float* data, Shape shape, std::shared_ptr<void> owner);

  const Shape& shape() const { return shape_; }
  int ndim() const { return static_cast<int>(shape_.size()); }
  /// Size of dimension i; negative i counts from the end.
  int64_t dim(int i) const;
  int64_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  /// Rows of a batch-first tensor (dimension 0).
  int64_t rows() const { return shape_.empty() ? 1 : shape_[0]; }
  /// Elements per row: the product of all dimensions but the first.
  int64_t row_size() const;
  Device device() const { return Device::CPU; }

  float* data() { return data_; }
  const float* data() const { return data_; }
  float& operator[](int64_t i) { return data_[i]; }
  float operator[](int64_t i) const { return data_[i]; }
  /// Element of a 2-D tensor.
  float& at(int64_t r, int64_t c) { return data_[r * row_size() + c]; }
  float at(int64_t r, int64_t c) const { return data_[r * row_size() + c]; }

  /// View of rows [begin, end) sharing storage.
  Tensor rows(int64_t begin, int64_t end) const;
  /// View with a new shape of the same size, sharing storage.
  Tensor reshape(Shape shape) const;
  /// Deep copy.
  Tensor clone() const;
  /// Copy of the given rows, in that order (for shuffling and splitting).
  Tensor gather_rows(const std::vector<int64_t>& indices) const;
  /// Copies the given rows of `src` into this tensor, which must already be sized for them.
  /// With use_threads, a large copy is shared among the kernel threads.
  void gather_rows_from(const Tensor& src, const int64_t* indices, int64_t count, bool use_threads = true);

  /// Gives this tensor the shape, reusing its storage when it is large enough (contents are
  /// then unspecified). Used for layer buffers, so the steady-state training loop allocates nothing.
  void resize(const Shape& shape);
  /// Elements the storage holds from data() on: resize() within it allocates nothing.
  int64_t capacity() const { return capacity_; }
  /// Makes this tensor a view of `src`'s storage with another shape of the same size. Unlike
  /// `*this = src.reshape(shape)` it allocates nothing when this tensor's shape has the capacity.
  void alias(const Tensor& src, const Shape& shape);
  /// Sets the first dimension to `rows` within the storage already held (ShapeError beyond it).
  void resize_rows(int64_t rows);
  void fill(float value);
  /// Copies values from a tensor of the same size.
  void copy_from(const Tensor& other);
  std::vector<float> to_vector() const;

 private:
  std::shared_ptr<float> storage_;
  float* data_ = nullptr;
  int64_t capacity_ = 0;  // elements available from data_ to the end of storage
  int64_t size_ = 0;
  Shape shape_;
};

/// Element-wise arithmetic returning a new tensor, for data preparation (`x / 16.f`, `(x - m) * s`).
/// Tensor-tensor forms need equal shapes (ShapeError otherwise).
Tensor operator+(const Tensor& a, float b);
Tensor operator-(const Tensor& a, float b);
Tensor operator*(const Tensor& a, float b);
Tensor operator/(const Tensor& a, float b);
Tensor operator*(float a, const Tensor& b);
Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);

}  // namespace myelin
