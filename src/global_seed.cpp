#include "global_seed.hpp"

#include <mutex>

#include "myelin/model.hpp"
#include "myelin/random.hpp"

namespace myelin {
namespace {
std::mutex g_seed_mutex;
Rng g_seed_rng(0);
}  // namespace

uint64_t next_global_seed() {
  std::lock_guard<std::mutex> lock(g_seed_mutex);
  return g_seed_rng.next_u64();
}

void set_random_seed(uint64_t seed) {
  std::lock_guard<std::mutex> lock(g_seed_mutex);
  g_seed_rng = Rng(seed);
}

}  // namespace myelin
