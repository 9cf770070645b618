// Reading and writing safetensors files: an 8-byte little-endian header length, a JSON header naming
// each tensor's dtype, shape and byte range, then the raw little-endian data. PyTorch, numpy and the
// Hugging Face tools read the format; myelin stores float32 ("F32") tensors.
#pragma once
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "myelin/tensor.hpp"

namespace myelin::io {

/// Limits a reader enforces before allocating anything, so a hostile file cannot make it allocate
/// what its header claims.
struct SafetensorsLimits {
  uint64_t max_header_bytes = 100u << 20;  ///< 100 MiB, as the reference implementation
  int max_dims = 8;
};

struct SafetensorsFile {
  /// Tensors in file order (the order of their data).
  std::vector<std::pair<std::string, Tensor>> tensors;
  /// The header's "__metadata__": string keys to string values.
  std::map<std::string, std::string> metadata;

  /// The tensor of that name; throws IOError naming the file's known tensors when absent.
  const Tensor& at(const std::string& name) const;
  bool contains(const std::string& name) const;
};

/// Writes named float32 tensors and string metadata atomically (io::write_file_atomically): the old
/// file stays whole if anything fails. Throws IOError naming the path.
void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, const Tensor*>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

/// Reads a safetensors file. Every claim of the header is checked against the file before use: the
/// header length against the file size and the limit, the JSON's syntax, each tensor's dtype (F32
/// only; F64/F16/BF16/I* are refused by name), shape (non-negative, at most max_dims), byte range
/// (inside the data, matching shape times 4 bytes, no overlaps). Throws IOError naming the file and
/// the offending tensor or byte offset.
SafetensorsFile read_safetensors(const std::string& path, const SafetensorsLimits& limits = {});

}  // namespace myelin::io
