#include "myelin/memory_limit.hpp"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <optional>
#include <sstream>

#include "myelin/error.hpp"

namespace myelin {

namespace {
constexpr int64_t kUnlimited = std::numeric_limits<int64_t>::max();

int64_t page_size() { return int64_t(sysconf(_SC_PAGESIZE)); }

// /proc/self/statm: the address space mapped and the memory resident, in pages.
struct ProcessSize {
  int64_t mapped = 0, resident = 0;
};

ProcessSize process_size() {
  ProcessSize s;
  std::ifstream f("/proc/self/statm");
  int64_t size = 0, resident = 0;
  if (f >> size >> resident) s = {size * page_size(), resident * page_size()};
  return s;
}

std::optional<int64_t> read_limit_file(const std::string& path) {
  std::ifstream f(path);
  std::string text;
  if (!(f >> text) || text == "max") return std::nullopt;
  try {
    const long long v = std::stoll(text);
    // cgroup v1 reports "no limit" as a huge page-aligned number.
    if (v <= 0 || v >= (int64_t(1) << 60)) return std::nullopt;
    return v;
  } catch (const std::exception&) {
    return std::nullopt;
  }
}

// The memory limit of this process's cgroup (v2, else v1), when one is set.
std::optional<int64_t> cgroup_limit() {
  std::ifstream f("/proc/self/cgroup");
  std::string line;
  std::optional<int64_t> best;
  auto consider = [&](std::optional<int64_t> v) {
    if (v && (!best || *v < *best)) best = v;
  };
  while (std::getline(f, line)) {
    const size_t a = line.find(':'), b = a == std::string::npos ? a : line.find(':', a + 1);
    if (b == std::string::npos) continue;
    const std::string controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
    if (controllers.empty()) {
      consider(read_limit_file("/sys/fs/cgroup" + path + "/memory.max"));
    } else if (("," + controllers + ",").find(",memory,") != std::string::npos) {
      consider(read_limit_file("/sys/fs/cgroup/memory" + path + "/memory.limit_in_bytes"));
    }
  }
  // Inside a container the listed path may not exist under its own view of /sys/fs/cgroup.
  if (!best) consider(read_limit_file("/sys/fs/cgroup/memory.max"));
  if (!best) consider(read_limit_file("/sys/fs/cgroup/memory/memory.limit_in_bytes"));
  return best;
}

int64_t parse_size(const std::string& text) {
  auto fail = [&] {
    return ValueError("MYELIN_MEMORY_LIMIT='" + text +
                      "' is not a size: give bytes, or a number with K, M, G or T (powers of 1024), as 512M or 2GiB");
  };
  size_t used = 0;
  double value = 0;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
    throw fail();
  }
  std::string unit;
  for (size_t i = used; i < text.size(); ++i)
    if (!std::isspace(static_cast<unsigned char>(text[i]))) unit += char(std::toupper(static_cast<unsigned char>(text[i])));
  if (!unit.empty() && unit.back() == 'B') unit.pop_back();
  if (unit.size() == 2 && unit[1] == 'I') unit.pop_back();
  const std::string units = "KMGT";
  double scale = 1;
  if (unit.size() == 1 && units.find(unit[0]) != std::string::npos)
    scale = std::pow(1024.0, double(units.find(unit[0]) + 1));
  else if (!unit.empty())
    throw fail();
  const double bytes = value * scale;
  if (!std::isfinite(bytes) || bytes <= 0) throw fail();
  return bytes >= double(kUnlimited) ? kUnlimited : int64_t(bytes);
}
}  // namespace

MemoryLimit memory_limit() {
  const ProcessSize used = process_size();
  MemoryLimit limit;
  if (const char* env = std::getenv("MYELIN_MEMORY_LIMIT"); env && *env) {
    limit = {parse_size(env), "MYELIN_MEMORY_LIMIT"};
  } else {
    limit = {int64_t(sysconf(_SC_PHYS_PAGES)) * page_size(), "physical memory"};
    if (const auto c = cgroup_limit(); c && *c < limit.bytes) limit = {*c, "the cgroup's memory limit"};
    limit.bytes = std::max<int64_t>(0, limit.bytes - used.resident);
  }
  rlimit as{};
  if (getrlimit(RLIMIT_AS, &as) == 0 && as.rlim_cur != RLIM_INFINITY) {
    const int64_t left = std::max<int64_t>(0, int64_t(std::min<rlim_t>(as.rlim_cur, rlim_t(kUnlimited))) - used.mapped);
    if (left < limit.bytes) limit = {left, "the address-space limit (ulimit -v)"};
  }
  return limit;
}

std::string format_bytes(double bytes) {
  if (bytes < 1024) return std::to_string(int64_t(bytes)) + " B";
  static const char* units[] = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB", "ZiB", "YiB"};
  int u = -1;
  while (bytes >= 1024 && u < 7) bytes /= 1024, ++u;
  char text[64];
  std::snprintf(text, sizeof text, "%.1f %s", bytes, units[u]);
  return text;
}

}  // namespace myelin
