// A scratch folder for benchmarks that write files.
#pragma once
#include <unistd.h>

#include <filesystem>
#include <string>
#include <system_error>

#include "myelin/error.hpp"

namespace bench {

/// A fresh directory under the system's temporary directory, removed with everything in it when
/// this object goes, also when the benchmark fails.
class TemporaryDirectory {
 public:
  TemporaryDirectory() {
    std::string pattern = (std::filesystem::temp_directory_path() / "myelin-bench-XXXXXX").string();
    if (!::mkdtemp(pattern.data())) throw myelin::IOError("cannot create a temporary directory from '" + pattern + "'");
    path_ = pattern;
  }
  ~TemporaryDirectory() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  TemporaryDirectory(const TemporaryDirectory&) = delete;
  TemporaryDirectory& operator=(const TemporaryDirectory&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

}  // namespace bench
