// Zip archives (Keras 3's .keras files are zips) through libzip, read with limits: an archive from
// the web may be a zip bomb, or name entries that escape its folder.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace myelin::io {

/// A zip archive open for reading. Entry names are checked on opening: an absolute name, a "..",
/// a backslash or a NUL is an IOError naming the file and the entry.
class ZipReader {
 public:
  /// Throws IOError naming `path` when it is not a readable zip (missing, truncated, damaged).
  explicit ZipReader(const std::string& path);
  ~ZipReader();
  ZipReader(const ZipReader&) = delete;
  ZipReader& operator=(const ZipReader&) = delete;

  std::vector<std::string> names() const;
  bool contains(const std::string& name) const;
  /// The entry's bytes. Throws IOError before reading when its declared size is over `max_bytes` or
  /// its compression ratio is beyond any real file's (a zip bomb), and while reading when the data
  /// inflates past the declared size or fails its checksum.
  std::string read(const std::string& name, uint64_t max_bytes) const;

 private:
  std::string path_;
  struct Handle;
  std::unique_ptr<Handle> zip_;
  std::map<std::string, uint64_t> index_;
  uint64_t file_bytes_ = 0;
};

/// Builds a zip archive in memory (deflated entries) and returns its bytes, for write_file_atomically.
std::string make_zip(const std::vector<std::pair<std::string, std::string>>& entries, const std::string& path);

}  // namespace myelin::io
