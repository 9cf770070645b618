// Embedding lookups: a gather of table rows by token id, and its backward, a scatter-add of the
// output gradient into the table's gradient.
//
// Shapes: n ids (every position of every sample); table and dtable are [input_dim, dim]; out and dy
// are [n, dim]. Ids arrive as float32 (myelin's one tensor type) and must already be checked to be
// whole numbers in [0, input_dim) (kernels::first_non_class_index): these loops read no table row
// they were not given.
#pragma once
#include <cstdint>
#include <vector>

namespace myelin::kernels {

/// out[i, :] = table[ids[i], :].
void embedding_forward(const float* ids, int64_t n, const float* table, int64_t dim, float* out);

/// dtable = 0, then dtable[ids[i], :] += dy[i, :] for every i. Positions are sorted by (id, position)
/// and each id's row is summed by one thread in position order, so the result is the same bit for bit
/// whatever the thread count, and no two threads write one row. `order` is scratch, reused between
/// calls (it allocates nothing once grown to n).
void embedding_backward(const float* ids, int64_t n, const float* dy, int64_t dim, int64_t input_dim, float* dtable,
                        std::vector<uint64_t>& order);

}  // namespace myelin::kernels
