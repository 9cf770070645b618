#include "myelin/io/zip_archive.hpp"

#include <zip.h>

#include <cstring>
#include <filesystem>

#include "myelin/error.hpp"

namespace myelin::io {

namespace {
// Deflate cannot exceed about 1032:1; beyond a megabyte, anything near that is a bomb, not weights.
constexpr uint64_t kMaxRatio = 1000;
constexpr uint64_t kRatioFreeBytes = uint64_t(1) << 20;

std::string zip_message(zip_error_t* e) {
  std::string m = zip_error_strerror(e);
  zip_error_fini(e);
  return m;
}

// A name that stays inside the archive's folder once extracted.
bool safe_name(const std::string& n) {
  if (n.empty() || n[0] == '/' || n.find('\\') != std::string::npos || n.find('\0') != std::string::npos) return false;
  if (n.size() > 1 && n[1] == ':') return false;  // a drive letter
  size_t start = 0;
  while (start <= n.size()) {
    size_t end = n.find('/', start);
    if (end == std::string::npos) end = n.size();
    if (n.compare(start, end - start, "..") == 0 && end - start == 2) return false;
    start = end + 1;
  }
  return true;
}
}  // namespace

// Owns the archive, so that a constructor which throws after opening it (an unsafe entry name)
// still closes it: the member is destroyed even when the ZipReader never finishes constructing.
struct ZipReader::Handle {
  zip_t* z = nullptr;
  ~Handle() {
    if (z) zip_discard(z);
  }
};

ZipReader::ZipReader(const std::string& path) : path_(path), zip_(std::make_unique<Handle>()) {
  int code = 0;
  zip_->z = zip_open(path.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &code);
  if (!zip_->z) {
    zip_error_t e;
    zip_error_init_with_code(&e, code);
    throw IOError("'" + path + "' is not a readable zip archive: " + zip_message(&e));
  }
  std::error_code ec;
  file_bytes_ = std::filesystem::file_size(path, ec);
  if (ec) throw IOError("'" + path + "' cannot be read: " + ec.message());
  const zip_int64_t n = zip_get_num_entries(zip_->z, 0);
  for (zip_int64_t i = 0; i < n; ++i) {
    const char* name = zip_get_name(zip_->z, zip_uint64_t(i), ZIP_FL_ENC_RAW);
    if (!name) throw IOError("'" + path + "': entry " + std::to_string(i) + " has no readable name");
    if (!safe_name(name)) throw IOError("'" + path + "': entry name '" + std::string(name) + "' escapes the archive's folder");
    index_[name] = uint64_t(i);
  }
}

ZipReader::~ZipReader() = default;

std::vector<std::string> ZipReader::names() const {
  std::vector<std::string> out;
  for (const auto& [n, i] : index_) out.push_back(n);
  return out;
}

bool ZipReader::contains(const std::string& name) const { return index_.count(name) > 0; }

std::string ZipReader::read(const std::string& name, uint64_t max_bytes) const {
  auto it = index_.find(name);
  if (it == index_.end()) throw IOError("'" + path_ + "' has no entry '" + name + "'");
  zip_stat_t st;
  zip_stat_init(&st);
  if (zip_stat_index(zip_->z, it->second, 0, &st) != 0 || !(st.valid & ZIP_STAT_SIZE) || !(st.valid & ZIP_STAT_COMP_SIZE))
    throw IOError("'" + path_ + "': cannot read the size of entry '" + name + "'");
  // What an entry holds must lie in the file: a larger compressed size is a lie about it.
  if (st.comp_size > file_bytes_)
    throw IOError("'" + path_ + "': entry '" + name + "' declares more compressed bytes than the file has");
  if (st.size > max_bytes)
    throw IOError("'" + path_ + "': entry '" + name + "' declares " + std::to_string(st.size) + " bytes, over the limit of " +
                  std::to_string(max_bytes));
  if (st.size > kRatioFreeBytes && st.size / std::max<uint64_t>(st.comp_size, 1) > kMaxRatio)
    throw IOError("'" + path_ + "': entry '" + name + "' inflates " + std::to_string(st.comp_size) + " bytes to " +
                  std::to_string(st.size) + ": a zip bomb, not a model");
  zip_file_t* f = zip_fopen_index(zip_->z, it->second, 0);
  if (!f) throw IOError("'" + path_ + "': cannot open entry '" + name + "': " + zip_strerror(zip_->z));
  std::string out(size_t(st.size), '\0');
  uint64_t got = 0;
  for (;;) {
    // One byte of room beyond the declared size catches data that inflates past it.
    char probe;
    char* at = got < st.size ? out.data() + got : &probe;
    const zip_uint64_t want = got < st.size ? st.size - got : 1;
    const zip_int64_t r = zip_fread(f, at, want);
    if (r < 0) {
      std::string m = zip_file_strerror(f);
      zip_fclose(f);
      throw IOError("'" + path_ + "': entry '" + name + "' is damaged: " + m);
    }
    if (r == 0) break;
    got += uint64_t(r);
    if (got > st.size) {
      zip_fclose(f);
      throw IOError("'" + path_ + "': entry '" + name + "' inflates past its declared size");
    }
  }
  zip_fclose(f);
  if (got != st.size) throw IOError("'" + path_ + "': entry '" + name + "' is truncated");
  return out;
}

std::string make_zip(const std::vector<std::pair<std::string, std::string>>& entries, const std::string& path) {
  zip_error_t err;
  zip_error_init(&err);
  zip_source_t* buffer = zip_source_buffer_create(nullptr, 0, 0, &err);
  if (!buffer) throw IOError("'" + path + "': cannot make a zip: " + zip_message(&err));
  zip_source_keep(buffer);  // read back after zip_close
  zip_t* z = zip_open_from_source(buffer, ZIP_TRUNCATE, &err);
  if (!z) {
    zip_source_free(buffer);
    throw IOError("'" + path + "': cannot make a zip: " + zip_message(&err));
  }
  for (const auto& [name, data] : entries) {
    zip_source_t* s = zip_source_buffer(z, data.data(), data.size(), 0);
    if (!s || zip_file_add(z, name.c_str(), s, ZIP_FL_ENC_UTF_8) < 0) {
      if (s) zip_source_free(s);
      std::string m = zip_strerror(z);
      zip_discard(z);
      zip_source_free(buffer);
      throw IOError("'" + path + "': cannot add '" + name + "' to the zip: " + m);
    }
  }
  if (zip_close(z) != 0) {
    std::string m = zip_strerror(z);
    zip_discard(z);
    zip_source_free(buffer);
    throw IOError("'" + path + "': cannot finish the zip: " + m);
  }
  std::string out;
  if (zip_source_open(buffer) == 0) {
    zip_source_seek(buffer, 0, SEEK_END);
    const zip_int64_t size = zip_source_tell(buffer);
    zip_source_seek(buffer, 0, SEEK_SET);
    out.resize(size_t(std::max<zip_int64_t>(size, 0)));
    if (size > 0 && zip_source_read(buffer, out.data(), zip_uint64_t(size)) != size) out.clear();
    zip_source_close(buffer);
  }
  zip_source_free(buffer);
  if (out.empty()) throw IOError("'" + path + "': cannot read back the zip made in memory");
  return out;
}

}  // namespace myelin::io
