// How much memory this process may use. Before a model allocates its weights, its optimizer's
// state or a batch's activations, it adds up what they need and compares it with this limit:
// over it, it throws ResourceError (naming the layer, its shapes and the bytes) instead of
// exhausting the machine or failing with std::bad_alloc. docs/reliability.md tells how it is used.
#pragma once
#include <cstdint>
#include <string>

namespace myelin {

struct MemoryLimit {
  int64_t bytes = 0;
  /// What set it: "physical memory", "the cgroup's memory limit", "the address-space limit
  /// (ulimit -v)" or "MYELIN_MEMORY_LIMIT".
  std::string source;
};

/// The memory this process may still take, read afresh at each call: the smallest of
///  - physical memory, or the cgroup's limit where one is set (cgroup v2 memory.max, v1
///    memory.limit_in_bytes), less what this process already holds resident;
///  - the address-space limit (getrlimit(RLIMIT_AS), `ulimit -v`), less the address space the
///    process has already mapped.
/// The environment variable MYELIN_MEMORY_LIMIT (bytes, or a number with K, M, G or T, as "512M"
/// or "2GiB", powers of 1024) replaces the first item, for containers whose limit is not visible
/// from inside; the address-space limit still applies, as the kernel enforces it. Throws ValueError
/// when MYELIN_MEMORY_LIMIT cannot be read as a size.
MemoryLimit memory_limit();

/// Bytes for people: "912 B", "3.5 KiB", "29.8 GiB".
std::string format_bytes(double bytes);

}  // namespace myelin
