// Reference tensors written by the PyTorch scripts under tests/pytorch/: each tensor is a line
// "name ndim d0 d1 ..." followed by a line of its values.
#pragma once
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "myelin/tensor.hpp"

namespace myelin::test {

/// One reference tensor, in float64 (the reference's precision), with its shape.
struct RefTensor {
  Shape shape;
  std::vector<double> values;
  Tensor to_tensor() const { return Tensor(shape, std::vector<float>(values.begin(), values.end())); }
};
using RefFile = std::map<std::string, RefTensor>;

/// The tensors of one reference file, by name (empty when the file cannot be read).
inline RefFile read_ref(const std::filesystem::path& path) {
  RefFile out;
  std::ifstream in(path);
  std::string header, values;
  while (std::getline(in, header) && std::getline(in, values)) {
    std::istringstream hs(header), vs(values);
    std::string name;
    int ndim = 0;
    hs >> name >> ndim;
    RefTensor t;
    for (int i = 0; i < ndim; ++i) {
      int64_t d = 0;
      hs >> d;
      t.shape.push_back(d);
    }
    double v = 0;
    while (vs >> v) t.values.push_back(v);
    out[name] = std::move(t);
  }
  return out;
}

}  // namespace myelin::test
