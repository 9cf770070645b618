// HDF5 files (Keras's weights) through the HDF5 C library, held in memory: Keras 3 keeps its
// weights file inside a zip, and Keras 2's .h5 files are read whole. Objects are reached only by
// the paths the caller names, never by walking the file, so hard links that make cycles or deep
// nesting cost nothing.
#pragma once
#include <optional>
#include <string>
#include <vector>

#include "myelin/tensor.hpp"

namespace myelin::io {

class Hdf5File {
 public:
  /// Opens an HDF5 file image (its bytes) read-only; `where` names it in errors. A damaged or
  /// truncated image is an IOError.
  static Hdf5File open_image(std::string bytes, const std::string& where);
  /// A new, empty file in memory, to be filled and then taken with image().
  static Hdf5File create(const std::string& where);
  ~Hdf5File();
  Hdf5File(Hdf5File&& other) noexcept;
  Hdf5File& operator=(Hdf5File&&) = delete;
  Hdf5File(const Hdf5File&) = delete;

  /// True when every component of `path` ("layers/dense/vars/0") exists.
  bool exists(const std::string& path) const;
  /// The number of links in group `path` (0 when it is not a group).
  int64_t count(const std::string& path) const;
  /// The float dataset at `path`, which must have exactly `shape` (checked before reading); any
  /// floating-point type in the file is converted to float32. Throws IOError naming the file.
  Tensor read(const std::string& path, const Shape& shape) const;
  /// A string attribute (fixed or variable length), or nullopt when absent.
  std::optional<std::string> string_attribute(const std::string& path, const std::string& name) const;
  /// A 1-D attribute of strings (Keras 2's layer_names, weight_names); empty when absent.
  std::vector<std::string> string_list_attribute(const std::string& path, const std::string& name) const;

  /// Creates group `path` and any missing parents.
  void make_group(const std::string& path);
  /// Writes a float32 dataset, creating missing parent groups.
  void write(const std::string& path, const Tensor& t);
  void set_string_attribute(const std::string& path, const std::string& name, const std::string& value);
  /// The file's bytes; the file stays usable.
  std::string image();

 private:
  Hdf5File(long long id, std::string where, std::string bytes);
  long long id_;  // hid_t
  std::string where_;
  std::string bytes_;  // an opened image stays alive while HDF5 reads it
};

}  // namespace myelin::io
