// Reader for the IDX format of MNIST and Fashion-MNIST (http://yann.lecun.com/exdb/mnist/).
#pragma once
#include <string>

#include "myelin/tensor.hpp"

namespace myelin::data {

/// Reads an IDX file, gzip-compressed (detected by its magic bytes 1f 8b) or raw, into a tensor
/// whose shape is the file's dimensions (e.g. {60000, 28, 28} for MNIST images, {60000} for labels).
///
/// Element types: unsigned byte (0x08), signed byte (0x09), int16 (0x0B), int32 (0x0C),
/// float32 (0x0D) and float64 (0x0E), all big-endian as the format requires. Values are
/// returned unscaled as floats (0..255 for bytes); scaling is the caller's job.
///
/// Throws IOError naming the file if it cannot be read, has a bad magic number, type code or
/// dimension count (1..8), is shorter or longer than its header says, or its header claims more
/// than 2^31 elements. Nothing larger than the data actually present is ever allocated.
Tensor read_idx(const std::string& path);

/// Decompresses a gzip file (`train-images-idx3-ubyte.gz`) to `to`, written under a temporary name
/// and renamed, in 1 MiB pieces: IdxDataset maps raw files, so downloaded .gz files go through this
/// once. Throws IOError naming the file when it cannot be read, is not gzip, or is cut short.
void gunzip_file(const std::string& from, const std::string& to);

}  // namespace myelin::data
