// Shared by the fuzz targets: the readers take file paths, so each input is written to an
// in-memory file (memfd) and handed over as /proc/self/fd/N. Nothing touches the disk, and the
// one file is rewritten for every input.
#pragma once
#include <sys/mman.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace myelin_fuzz {

class InputFile {
 public:
  InputFile() {
    fd_ = memfd_create("myelin-fuzz-input", 0);
    if (fd_ < 0) {
      std::perror("memfd_create");
      std::abort();
    }
    path_ = "/proc/self/fd/" + std::to_string(fd_);
  }

  // Replaces the file's contents with `data`.
  const std::string& write(const uint8_t* data, size_t size) {
    if (ftruncate(fd_, 0) != 0) std::abort();
    size_t done = 0;
    while (done < size) {
      const ssize_t n = pwrite(fd_, data + done, size - done, static_cast<off_t>(done));
      if (n <= 0) std::abort();
      done += static_cast<size_t>(n);
    }
    return path_;
  }

 private:
  int fd_ = -1;
  std::string path_;
};

// With MYELIN_FUZZ_VERBOSE set, prints the expected errors too: to check which seeds a reader
// accepts, or why an input is refused (`MYELIN_FUZZ_VERBOSE=1 fuzz_csv fuzz/corpus/fuzz_csv/*`).
inline void note_error(const char* what) {
  static const bool verbose = std::getenv("MYELIN_FUZZ_VERBOSE") != nullptr;
  if (verbose) std::fprintf(stderr, "refused: %s\n", what);
}

// One file for the whole fuzzing process (libFuzzer calls the target in a loop).
inline InputFile& input_file() {
  static InputFile f;
  return f;
}

}  // namespace myelin_fuzz
