// Internal: shape helpers shared by the Dataset implementations. Not part of the public API.
#pragma once
#include <cstdint>

#include "myelin/tensor.hpp"

namespace myelin::data::detail {

/// The shape of one sample of a batch-first shape: all dimensions but the first.
inline Shape sample_shape(const Shape& batch) { return batch.empty() ? Shape{} : Shape(batch.begin() + 1, batch.end()); }

/// The shape of `rows` samples of shape `sample`.
inline Shape batch_shape(int64_t rows, const Shape& sample) {
  Shape s{rows};
  s.insert(s.end(), sample.begin(), sample.end());
  return s;
}

}  // namespace myelin::data::detail
