// The MPI collectives training uses, behind an interface that is a no-op in a world of one (or a
// build without MPI), so the model code has no #ifdef.
#pragma once
#include <cstdint>
#include <vector>

namespace myelin::distributed {

/// Sums `n` values over all ranks, in place, on every rank.
void allreduce_sum(float* data, int64_t n);
void allreduce_sum(double* data, int64_t n);
/// Copies rank 0's `n` values to every rank.
void broadcast(float* data, int64_t n);
void broadcast(uint64_t& value);

/// Every rank's `mine`, in rank order, on every rank (vectors may differ in length).
std::vector<std::vector<double>> allgather(const std::vector<double>& mine);

/// Sums gradient buckets over all ranks while the backward pass goes on: start() hands a bucket to
/// MPI (MPI_Iallreduce) as soon as its layer's backward is done, wait() completes them all before
/// the optimizer step.
class OverlappedAllreduce {
 public:
  OverlappedAllreduce() = default;
  ~OverlappedAllreduce();
  OverlappedAllreduce(const OverlappedAllreduce&) = delete;
  OverlappedAllreduce& operator=(const OverlappedAllreduce&) = delete;
  void start(float* data, int64_t n);
  void wait();

 private:
  std::vector<void*> requests_;  // MPI_Request values, kept opaque here
};

}  // namespace myelin::distributed
