#include "myelin/data/idx.hpp"

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <vector>

#include "data/file_reader.hpp"
#include "data/idx_format.hpp"
#include "myelin/error.hpp"

namespace myelin::data {

Tensor read_idx(const std::string& path) {
  detail::InputFile file(path);

  unsigned char magic[4];
  file.read_exact(magic, 4, "the IDX magic number");
  const detail::IdxElementType* type = nullptr;
  int ndim = 0;
  detail::check_idx_magic(path, magic, type, ndim);

  unsigned char dims_raw[8 * 4];
  file.read_exact(dims_raw, static_cast<size_t>(ndim) * 4, "the IDX header's " + std::to_string(ndim) + " dimension sizes");
  const detail::IdxHeader header = detail::idx_header(path, type, ndim, dims_raw);

  std::vector<unsigned char> bytes;
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  if (!file.compressed() && !ec) {
    // A raw file's size is known: check it against the header before allocating anything.
    const int64_t present = static_cast<int64_t>(size) - header.header_bytes;
    if (present < header.data_bytes) throw IOError(detail::idx_truncated(path, header, present));
    if (present > header.data_bytes) throw IOError(detail::idx_trailing(path, header, present - header.data_bytes));
    bytes.resize(static_cast<size_t>(header.data_bytes));
    const size_t got = file.read(bytes.data(), bytes.size());
    if (static_cast<int64_t>(got) < header.data_bytes)  // shrank while we read it
      throw IOError(detail::idx_truncated(path, header, static_cast<int64_t>(got)));
  } else {
    // A gzip file's content size is only known once decompressed: read it a chunk at a time, keeping
    // only the bytes that actually arrived, so a header that lies about the size costs no more memory
    // than the real contents (plus one chunk).
    bytes.reserve(static_cast<size_t>(file.reserve_hint(header.data_bytes)));
    constexpr int64_t kChunk = int64_t{1} << 20;
    std::vector<unsigned char> chunk(static_cast<size_t>(std::min(header.data_bytes, kChunk)));
    while (static_cast<int64_t>(bytes.size()) < header.data_bytes) {
      const size_t want =
          static_cast<size_t>(std::min<int64_t>(header.data_bytes - static_cast<int64_t>(bytes.size()), kChunk));
      const size_t got = file.read(chunk.data(), want);
      bytes.insert(bytes.end(), chunk.data(), chunk.data() + got);
      if (got < want) throw IOError(detail::idx_truncated(path, header, static_cast<int64_t>(bytes.size())));
    }
  }
  unsigned char extra;
  if (file.read(&extra, 1) != 0) throw IOError(detail::idx_trailing(path, header, 0));

  Tensor t(header.shape);
  detail::idx_convert(type->code, bytes.data(), header.count, t.data());
  return t;
}

}  // namespace myelin::data
