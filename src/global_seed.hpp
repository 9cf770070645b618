// The process-wide seed stream that set_random_seed resets: models and datasets given no seed of
// their own draw one here, so one set_random_seed call makes a whole program reproducible.
#pragma once
#include <cstdint>

namespace myelin {

/// The next seed of the stream (thread-safe).
uint64_t next_global_seed();

}  // namespace myelin
