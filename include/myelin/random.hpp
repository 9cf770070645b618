// Rng: the one random source behind initialisation, shuffling and dropout.
//
// Our own generator (xoshiro256**) and distributions rather than <random>'s, whose normal
// distribution differs between standard libraries: the same seed gives the same numbers everywhere.
#pragma once
#include <array>
#include <cstdint>
#include <vector>

namespace myelin {

class Rng {
 public:
  explicit Rng(uint64_t seed = 0);
  uint64_t next_u64();
  /// Uniform in [0, 1).
  double uniform01();
  float uniform(float lo, float hi);
  /// Normal(mean, stddev), by Box-Muller.
  float normal(float mean, float stddev);
  /// Normal truncated to two standard deviations (redrawn outside), as Keras's truncated_normal.
  float truncated_normal(float mean, float stddev);
  /// Uniform integer in [0, n).
  uint64_t below(uint64_t n);
  /// Fisher-Yates shuffle.
  void shuffle(std::vector<int64_t>& v);
  /// An independent generator derived from this one's stream (for per-layer streams).
  Rng split();

  /// The generator's whole state, so a checkpoint can resume the stream exactly.
  std::array<uint64_t, 4> state() const { return {s_[0], s_[1], s_[2], s_[3]}; }
  /// Puts back a state from state(); throws ValueError for all zeros (xoshiro's one invalid state).
  void set_state(const std::array<uint64_t, 4>& state);

 private:
  uint64_t s_[4];
};

}  // namespace myelin
