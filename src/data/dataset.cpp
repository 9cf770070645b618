#include "myelin/data/dataset.hpp"

namespace myelin::data {

int64_t Dataset::read_arrays(int64_t max_rows, std::vector<Tensor>& x, std::vector<Tensor>& y) {
  x.resize(1);
  y.resize(1);
  return read(max_rows, x[0], y[0]);
}

int64_t Dataset::read_weighted(int64_t max_rows, std::vector<Tensor>& x, std::vector<Tensor>& y,
                               std::vector<Tensor>& w) {
  w.clear();
  return read_arrays(max_rows, x, y);
}

}  // namespace myelin::data
