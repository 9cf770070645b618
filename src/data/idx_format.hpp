// Internal: the IDX format's header checks and element conversion, shared by read_idx (which
// streams, gzip included) and IdxDataset (which memory-maps raw files). Not part of the public API.
#pragma once
#include <cstdint>
#include <string>

#include "myelin/tensor.hpp"

namespace myelin::data::detail {

/// One IDX element type: its code (the magic number's third byte), size and name.
struct IdxElementType {
  int code;
  int bytes;
  const char* name;
};

/// The header of an IDX file, checked: a known type, 1 to 8 dimensions, at most 2^31 elements.
struct IdxHeader {
  const IdxElementType* type = nullptr;
  Shape shape;
  int64_t count = 0;         ///< elements
  int64_t header_bytes = 0;  ///< 4 + 4 per dimension: where the data starts
  int64_t data_bytes = 0;    ///< count * type->bytes
};

/// Checks the 4 magic bytes at byte 0 and returns the element type and dimension count. Throws
/// IOError naming the file and the offending byte's offset.
void check_idx_magic(const std::string& path, const unsigned char magic[4], const IdxElementType*& type, int& ndim);

/// Completes the header from the `ndim` big-endian dimension sizes that start at byte 4. Throws
/// IOError naming the file and the dimensions' offsets if they claim more than 2^31 elements.
IdxHeader idx_header(const std::string& path, const IdxElementType* type, int ndim, const unsigned char* dims);

/// Message of the IOError for a file whose data ends after `present` of the header's bytes.
std::string idx_truncated(const std::string& path, const IdxHeader& header, int64_t present);
/// Message of the IOError for a file with `extra` bytes after the header's data.
std::string idx_trailing(const std::string& path, const IdxHeader& header, int64_t extra);

/// Converts `count` big-endian elements of type `code` to floats, each multiplied by `scale`.
void idx_convert(int code, const unsigned char* in, int64_t count, float* out, float scale = 1.0f);

}  // namespace myelin::data::detail
