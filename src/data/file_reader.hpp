// Internal helpers for the data readers: a zlib-backed file that reads gzip and plain files
// alike, and a line reader on top of it. Not part of the public API.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace myelin::data::detail {

/// True when the file starts with the gzip magic bytes 1f 8b. Throws IOError if it cannot be opened.
bool is_gzip(const std::string& path);

/// A file read through zlib: gzip files are decompressed, other files are read as they are
/// (zlib's transparent mode). Errors throw IOError naming the file.
class InputFile {
 public:
  /// Opens `path` for reading; throws IOError (with the system's reason) if that fails.
  explicit InputFile(const std::string& path);
  ~InputFile();
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;

  /// Reads up to `n` bytes into `buf`; returns how many were read, 0 only at the end of the data.
  size_t read(void* buf, size_t n);
  /// Reads exactly `n` bytes or throws IOError saying `what`, starting at which byte offset, ended
  /// early after how many bytes.
  void read_exact(void* buf, size_t n, const std::string& what);
  /// Bytes of (decompressed) content read so far: the offset of the next byte read() returns.
  int64_t offset() const { return offset_; }
  /// How many bytes are worth reserving for content whose header claims `claimed` bytes: `claimed`
  /// itself for a plain file (whose size the caller has checked), otherwise at most 64 MiB and no
  /// more than the compressed file could expand to. A hostile .gz announcing gigabytes thus costs no
  /// more memory than what its decompression actually produces.
  int64_t reserve_hint(int64_t claimed) const;
  /// Whether the file is gzip-compressed.
  bool compressed() const { return compressed_; }
  /// The path the file was opened with.
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  void* gz_ = nullptr;  // gzFile, kept opaque so zlib.h stays out of this header
  bool compressed_ = false;
  int64_t offset_ = 0;
  int64_t file_bytes_ = -1;  // size on disk, -1 if unknown
};

/// Longest line a LineReader accepts unless told otherwise (1 MiB).
inline constexpr size_t kDefaultMaxLineBytes = size_t{1} << 20;

/// Reads a (possibly gzipped) text file line by line, without the line end ("\n" or "\r\n").
/// Memory is bounded by the longest line allowed plus one block.
class LineReader {
 public:
  /// Opens `path`; throws IOError if that fails. Lines longer than `max_line_bytes` (without the
  /// line end) are refused; the file is read `block_bytes` at a time.
  explicit LineReader(const std::string& path, size_t max_line_bytes = kDefaultMaxLineBytes,
                      size_t block_bytes = size_t{1} << 16);
  /// Reads the next line into `line`; returns false at the end of the file. Throws IOError naming
  /// the file and the line's number for a line longer than the limit, before reading more of it.
  bool next(std::string& line);
  /// 1-based number of the line last returned by next() (0 before the first).
  int64_t line_number() const { return line_number_; }
  /// The path the file was opened with.
  const std::string& path() const { return file_.path(); }

 private:
  bool fill();
  [[noreturn]] void throw_too_long() const;

  InputFile file_;
  size_t max_line_bytes_;
  size_t block_bytes_;
  std::string buf_;
  size_t pos_ = 0;
  bool eof_ = false;
  int64_t line_number_ = 0;
};

/// Writes `bytes` to `path` gzip-compressed (level 6); throws IOError on failure.
/// Used by the tests to make fixtures, and available to future writers.
void write_gzip(const std::string& path, const std::string& bytes);

}  // namespace myelin::data::detail
