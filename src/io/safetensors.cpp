#include "myelin/io/safetensors.hpp"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "myelin/error.hpp"
#include "myelin/io/atomic_file.hpp"

namespace myelin::io {

namespace {
static_assert(sizeof(float) == 4, "safetensors F32 needs 4-byte floats");

bool host_is_little_endian() {
  const uint16_t one = 1;
  uint8_t b;
  std::memcpy(&b, &one, 1);
  return b == 1;
}

void put_u64_le(std::ostream& out, uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = char((v >> (8 * i)) & 0xff);
  out.write(b, 8);
}

[[noreturn]] void bad(const std::string& path, const std::string& why) {
  throw IOError("'" + path + "' is not a valid safetensors file: " + why);
}
}  // namespace

const Tensor& SafetensorsFile::at(const std::string& name) const {
  for (const auto& [n, t] : tensors)
    if (n == name) return t;
  std::string known;
  for (const auto& [n, t] : tensors) known += (known.empty() ? "" : ", ") + n;
  throw IOError("no tensor '" + name + "' in the file (it has: " + known + ")");
}

bool SafetensorsFile::contains(const std::string& name) const {
  return std::any_of(tensors.begin(), tensors.end(), [&](const auto& p) { return p.first == name; });
}

void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, const Tensor*>>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  if (!host_is_little_endian()) throw IOError("writing '" + path + "': big-endian hosts are not supported");
  nlohmann::ordered_json header;
  if (!metadata.empty()) header["__metadata__"] = metadata;
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (name == "__metadata__" || header.contains(name))
      throw IOError("writing '" + path + "': tensor name '" + name + "' is reserved or repeated");
    const uint64_t bytes = uint64_t(t->size()) * 4;
    header[name] = {{"dtype", "F32"}, {"shape", t->shape()}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  // Pad with spaces to a multiple of 8 so the data that follows is aligned, as other writers do.
  text.append((8 - text.size() % 8) % 8, ' ');
  write_file_atomically(path, [&](std::ostream& out) {
    put_u64_le(out, text.size());
    out.write(text.data(), std::streamsize(text.size()));
    for (const auto& [name, t] : tensors) out.write(reinterpret_cast<const char*>(t->data()), t->size() * 4);
  });
}

SafetensorsFile read_safetensors(const std::string& path, const SafetensorsLimits& limits) {
  if (!host_is_little_endian()) throw IOError("reading '" + path + "': big-endian hosts are not supported");
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) throw IOError("cannot open '" + path + "'");
  const uint64_t file_size = uint64_t(in.tellg());
  in.seekg(0);
  if (file_size < 8) bad(path, "it has " + std::to_string(file_size) + " bytes, fewer than the 8-byte header length");
  unsigned char len_bytes[8];
  in.read(reinterpret_cast<char*>(len_bytes), 8);
  if (!in) bad(path, "reading the 8-byte header length at offset 0 failed");
  uint64_t header_len = 0;
  for (int i = 7; i >= 0; --i) header_len = (header_len << 8) | len_bytes[i];
  if (header_len > limits.max_header_bytes)
    bad(path, "header length " + std::to_string(header_len) + " at offset 0 exceeds the limit of " +
                  std::to_string(limits.max_header_bytes) + " bytes");
  if (header_len > file_size - 8)
    bad(path, "header length " + std::to_string(header_len) + " at offset 0 runs past the end of the " +
                  std::to_string(file_size) + "-byte file");
  std::string text(header_len, '\0');
  in.read(text.data(), std::streamsize(header_len));
  if (!in) bad(path, "reading the header failed");
  nlohmann::ordered_json header;
  try {
    header = nlohmann::ordered_json::parse(text);
  } catch (const nlohmann::json::exception& e) {  // parse_error, and out_of_range for numbers such as 1e400
    bad(path, std::string("the header (bytes 8 to ") + std::to_string(8 + header_len) + ") is not JSON: " + e.what());
  }
  if (!header.is_object()) bad(path, "the header is not a JSON object");

  const uint64_t data_start = 8 + header_len, data_size = file_size - data_start;
  SafetensorsFile result;
  // First every entry is checked and noted, then the ranges are checked against each other, and only
  // then is anything allocated: a header of many tensors all claiming the same bytes must not make
  // the reader allocate the file's size once per tensor.
  struct Entry {
    std::string name;
    Shape shape;
    uint64_t begin, end;
  };
  std::vector<Entry> entries;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const auto& v = it.value();
    if (name == "__metadata__") {
      if (!v.is_object()) bad(path, "__metadata__ is not an object");
      for (auto m = v.begin(); m != v.end(); ++m) {
        if (!m.value().is_string()) bad(path, "__metadata__ value '" + m.key() + "' is not a string");
        result.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    const std::string where = "tensor '" + name + "'";
    if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets"))
      bad(path, where + " lacks dtype, shape or data_offsets");
    if (!v["dtype"].is_string()) bad(path, where + " has a non-string dtype");
    const std::string dtype = v["dtype"].get<std::string>();
    if (dtype != "F32") bad(path, where + " has dtype " + dtype + "; myelin reads F32 tensors only");
    const auto& shape_j = v["shape"];
    if (!shape_j.is_array() || int(shape_j.size()) > limits.max_dims)
      bad(path, where + " has a shape that is not a list of at most " + std::to_string(limits.max_dims) + " sizes");
    Shape shape;
    uint64_t count = 1, nonzero = 1;
    for (const auto& d : shape_j) {
      if (!d.is_number_unsigned()) bad(path, where + " has a shape entry that is not a non-negative integer");
      const uint64_t n = d.get<uint64_t>();
      // Checked against the data size at each step, so the product can neither overflow nor exceed the file.
      if (n != 0 && count > data_size / 4 / n) bad(path, where + " has shape larger than the file's data");
      // A zero elsewhere makes the count 0 whatever the other sizes: they must still fit an int64_t
      // product, or the tensor's own size computation would overflow.
      if (n != 0 && nonzero > (uint64_t(1) << 62) / n) bad(path, where + " has a shape whose sizes overflow");
      if (n != 0) nonzero *= n;
      count *= n;
      shape.push_back(int64_t(n));
    }
    const auto& off = v["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      bad(path, where + " has data_offsets that are not two non-negative integers");
    const uint64_t b = off[0].get<uint64_t>(), e = off[1].get<uint64_t>();
    if (b > e || e > data_size)
      bad(path, where + " has data_offsets [" + std::to_string(b) + ", " + std::to_string(e) +
                    ") outside the data (" + std::to_string(data_size) + " bytes from offset " +
                    std::to_string(data_start) + ")");
    if (e - b != count * 4)
      bad(path, where + " has shape " + shape_to_string(shape) + " (" + std::to_string(count * 4) + " bytes) but " +
                    std::to_string(e - b) + " bytes of data");
    entries.push_back({name, std::move(shape), b, e});
  }
  // Ordered by (begin, end) so an empty tensor sharing its offset with the next one is not taken for
  // an overlap; empty tensors hold no bytes and cannot overlap anything.
  std::vector<const Entry*> by_offset;
  for (const auto& en : entries)
    if (en.end > en.begin) by_offset.push_back(&en);
  std::sort(by_offset.begin(), by_offset.end(),
            [](const Entry* a, const Entry* b) { return a->begin != b->begin ? a->begin < b->begin : a->end < b->end; });
  for (size_t i = 1; i < by_offset.size(); ++i)
    if (by_offset[i]->begin < by_offset[i - 1]->end)
      bad(path, "tensors '" + by_offset[i - 1]->name + "' and '" + by_offset[i]->name + "' overlap");
  // Disjoint ranges inside the data: the allocations below add up to at most the file's size.
  for (auto& en : entries) {
    Tensor t(en.shape);
    if (en.end > en.begin) {
      in.seekg(std::streamoff(data_start + en.begin));
      in.read(reinterpret_cast<char*>(t.data()), std::streamsize(en.end - en.begin));
      if (!in) bad(path, "reading tensor '" + en.name + "' at offset " + std::to_string(data_start + en.begin) + " failed");
    }
    result.tensors.emplace_back(std::move(en.name), std::move(t));
  }
  return result;
}

}  // namespace myelin::io
