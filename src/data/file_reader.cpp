#include "data/file_reader.hpp"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>

#include "myelin/error.hpp"

namespace myelin::data::detail {

namespace {
gzFile as_gz(void* p) { return static_cast<gzFile>(p); }

// A directory opens fine on Linux and fails only at the first read; say so up front instead.
void check_not_directory(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec))
    throw IOError("cannot read '" + path + "': it is a directory, not a file");
}

std::string system_reason() { return errno ? std::strerror(errno) : "unknown error"; }
}  // namespace

bool is_gzip(const std::string& path) {
  check_not_directory(path);
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw IOError("cannot open '" + path + "': " + system_reason());
  unsigned char magic[2] = {0, 0};
  const size_t got = std::fread(magic, 1, 2, f);
  std::fclose(f);
  return got == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
}

InputFile::InputFile(const std::string& path) : path_(path) {
  compressed_ = is_gzip(path);
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (!ec) file_bytes_ = static_cast<int64_t>(size);
  errno = 0;
  gz_ = gzopen(path.c_str(), "rb");
  if (!gz_) throw IOError("cannot open '" + path + "': " + system_reason());
  gzbuffer(as_gz(gz_), 1 << 17);  // larger than zlib's 8 KiB default: fewer system calls on big files
}

InputFile::~InputFile() {
  if (gz_) gzclose(as_gz(gz_));
}

size_t InputFile::read(void* buf, size_t n) {
  auto* out = static_cast<unsigned char*>(buf);
  size_t total = 0;
  // gzread takes an unsigned int count, so large requests go in pieces.
  while (total < n) {
    const unsigned chunk = static_cast<unsigned>(std::min<size_t>(n - total, 1u << 30));
    const int got = gzread(as_gz(gz_), out + total, chunk);
    if (got < 0) {
      int code = 0;
      const char* msg = gzerror(as_gz(gz_), &code);
      throw IOError("error reading '" + path_ + "': " +
                    (code == Z_ERRNO ? system_reason() : std::string(msg ? msg : "corrupt data")));
    }
    if (got == 0) {
      // A gzip stream cut short reads as a plain end of data; zlib reports it through gzerror.
      int code = 0;
      const char* msg = gzerror(as_gz(gz_), &code);
      if (code != Z_OK && code != Z_STREAM_END)
        throw IOError("error reading '" + path_ + "': " + std::string(msg ? msg : "corrupt data"));
      break;
    }
    total += static_cast<size_t>(got);
  }
  offset_ += static_cast<int64_t>(total);
  return total;
}

void InputFile::read_exact(void* buf, size_t n, const std::string& what) {
  const int64_t start = offset_;
  const size_t got = read(buf, n);
  if (got != n)
    throw IOError("'" + path_ + "' is truncated: it ends at byte " + std::to_string(offset_) + ", but " + what +
                  " needs " + std::to_string(n) + " bytes from byte " + std::to_string(start) + ", only " +
                  std::to_string(got) + " present");
}

int64_t InputFile::reserve_hint(int64_t claimed) const {
  if (!compressed_ && file_bytes_ >= 0) return claimed;
  constexpr int64_t kMaxReserve = int64_t{1} << 26;
  // Deflate expands at most about 1032-fold, whatever the data: a bound on the real content size.
  constexpr int64_t kMaxDeflateRatio = 1032;
  int64_t hint = std::min(claimed, kMaxReserve);
  if (compressed_ && file_bytes_ >= 0 && file_bytes_ < kMaxReserve / kMaxDeflateRatio)
    hint = std::min(hint, file_bytes_ * kMaxDeflateRatio);
  return std::max<int64_t>(hint, 0);
}

LineReader::LineReader(const std::string& path, size_t max_line_bytes, size_t block_bytes)
    : file_(path), max_line_bytes_(max_line_bytes), block_bytes_(std::max<size_t>(block_bytes, 1)) {}

void LineReader::throw_too_long() const {
  throw IOError("'" + file_.path() + "', line " + std::to_string(line_number_ + 1) + ": line longer than " +
                std::to_string(max_line_bytes_) + " bytes (the limit for one line; raise max_line_bytes if the file " +
                "really has such lines)");
}

bool LineReader::fill() {
  if (eof_) return false;
  // Keep the unread tail, then append a fresh block.
  buf_.erase(0, pos_);
  pos_ = 0;
  const size_t old = buf_.size();
  buf_.resize(old + block_bytes_);
  const size_t got = file_.read(buf_.data() + old, block_bytes_);
  buf_.resize(old + got);
  if (got == 0) eof_ = true;
  return got > 0;
}

bool LineReader::next(std::string& line) {
  size_t scanned = pos_;
  for (;;) {
    const size_t nl = buf_.find('\n', scanned);
    if (nl != std::string::npos) {
      size_t end = nl;
      if (end > pos_ && buf_[end - 1] == '\r') --end;
      if (end - pos_ > max_line_bytes_) throw_too_long();
      line.assign(buf_, pos_, end - pos_);
      pos_ = nl + 1;
      ++line_number_;
      return true;
    }
    // Refuse an overlong line before buffering more of it (one byte of slack for a '\r').
    if (buf_.size() - pos_ > max_line_bytes_ + 1) throw_too_long();
    scanned = buf_.size() - pos_;  // offset relative to the new pos_ (0) after fill()
    if (!fill()) break;
  }
  // Last line without a final newline.
  if (pos_ >= buf_.size()) return false;
  size_t end = buf_.size();
  if (end > pos_ && buf_[end - 1] == '\r') --end;
  if (end - pos_ > max_line_bytes_) throw_too_long();
  line.assign(buf_, pos_, end - pos_);
  pos_ = buf_.size();
  ++line_number_;
  return true;
}

void write_gzip(const std::string& path, const std::string& bytes) {
  errno = 0;
  gzFile gz = gzopen(path.c_str(), "wb6");
  if (!gz) throw IOError("cannot create '" + path + "': " + system_reason());
  size_t done = 0;
  while (done < bytes.size()) {
    const unsigned chunk = static_cast<unsigned>(std::min<size_t>(bytes.size() - done, 1u << 30));
    if (gzwrite(gz, bytes.data() + done, chunk) != static_cast<int>(chunk)) {
      gzclose(gz);
      throw IOError("error writing '" + path + "'");
    }
    done += chunk;
  }
  if (gzclose(gz) != Z_OK) throw IOError("error closing '" + path + "'");
}

}  // namespace myelin::data::detail
