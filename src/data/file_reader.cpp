#include "data/file_reader.hpp"

#include <zlib.h>

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
  return total;
}

void InputFile::read_exact(void* buf, size_t n, const std::string& what) {
  const size_t got = read(buf, n);
  if (got != n)
    throw IOError("'" + path_ + "' is truncated: " + what + " needs " + std::to_string(n) + " bytes, only " +
                  std::to_string(got) + " present");
}

LineReader::LineReader(const std::string& path) : file_(path) {}

bool LineReader::fill() {
  if (eof_) return false;
  // Keep the unread tail, then append a fresh block.
  buf_.erase(0, pos_);
  pos_ = 0;
  const size_t old = buf_.size();
  constexpr size_t kBlock = 1 << 16;
  buf_.resize(old + kBlock);
  const size_t got = file_.read(buf_.data() + old, kBlock);
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
      line.assign(buf_, pos_, end - pos_);
      pos_ = nl + 1;
      ++line_number_;
      return true;
    }
    scanned = buf_.size() - pos_;  // offset relative to the new pos_ (0) after fill()
    if (!fill()) break;
  }
  // Last line without a final newline.
  if (pos_ >= buf_.size()) return false;
  size_t end = buf_.size();
  if (end > pos_ && buf_[end - 1] == '\r') --end;
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
