#include "myelin/io/hdf5_file.hpp"

#include <hdf5.h>

#include <memory>

#include "myelin/error.hpp"

namespace myelin::io {

namespace {
// HDF5 prints its own error stack to stderr by default; myelin reports through exceptions instead.
void quiet() {
  static const bool once = [] {
    H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr);
    return true;
  }();
  (void)once;
}

// Closes an HDF5 handle when it goes out of scope.
struct Id {
  hid_t id;
  herr_t (*close)(hid_t);
  Id(hid_t i, herr_t (*c)(hid_t)) : id(i), close(c) {}
  ~Id() {
    if (id >= 0) close(id);
  }
  Id(const Id&) = delete;
  operator hid_t() const { return id; }
};

std::vector<std::string> components(const std::string& path) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    if (end > start) out.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

// Keras 2 stores attributes as fixed-length or variable-length strings; both are read into strings.
std::vector<std::string> read_strings(hid_t attr, const std::string& where) {
  Id type(H5Aget_type(attr), H5Tclose);
  Id space(H5Aget_space(attr), H5Sclose);
  if (type < 0 || space < 0) throw IOError(where + " cannot be read");
  const hssize_t n = H5Sget_simple_extent_npoints(space);
  if (n == 0) return {};  // h5py writes an empty list as an empty float array
  if (H5Tget_class(type) != H5T_STRING) throw IOError(where + " is not a string");
  if (n < 0 || n > (1 << 20)) throw IOError(where + " holds too many strings");
  std::vector<std::string> out;
  if (H5Tis_variable_str(type) > 0) {
    Id mem(H5Tcopy(H5T_C_S1), H5Tclose);
    H5Tset_size(mem, H5T_VARIABLE);
    H5Tset_cset(mem, H5Tget_cset(type));
    std::vector<char*> ptrs(size_t(n), nullptr);
    if (H5Aread(attr, mem, ptrs.data()) < 0) throw IOError(where + " cannot be read");
    for (char* p : ptrs) out.emplace_back(p ? p : "");
    H5Dvlen_reclaim(mem, space, H5P_DEFAULT, ptrs.data());
  } else {
    const size_t size = H5Tget_size(type);
    if (size == 0 || size > (size_t(1) << 30) / size_t(std::max<hssize_t>(n, 1))) throw IOError(where + " is too large");
    std::string buf(size * size_t(n), '\0');
    if (H5Aread(attr, type, buf.data()) < 0) throw IOError(where + " cannot be read");
    for (hssize_t i = 0; i < n; ++i) {
      std::string s = buf.substr(size_t(i) * size, size);
      s.resize(std::min(s.find('\0'), s.size()));
      out.push_back(s);
    }
  }
  return out;
}
}  // namespace

Hdf5File::Hdf5File(long long id, std::string where, std::string bytes)
    : id_(id), where_(std::move(where)), bytes_(std::move(bytes)) {}

Hdf5File::Hdf5File(Hdf5File&& o) noexcept : id_(o.id_), where_(std::move(o.where_)), bytes_(std::move(o.bytes_)) { o.id_ = -1; }

Hdf5File::~Hdf5File() {
  if (id_ >= 0) H5Fclose(hid_t(id_));
}

Hdf5File Hdf5File::open_image(std::string bytes, const std::string& where) {
  quiet();
  // HDF5 checks the signature itself, but an empty buffer is refused before it sees it.
  if (bytes.size() < 8) throw IOError(where + " is not an HDF5 file (too short)");
  Id fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  // The core driver reads from the buffer; without a backing store nothing touches the disk.
  H5Pset_fapl_core(fapl, 1 << 20, 0);
  if (H5Pset_file_image(fapl, bytes.data(), bytes.size()) < 0) throw IOError(where + ": cannot hand the image to HDF5");
  const hid_t f = H5Fopen("myelin-image.h5", H5F_ACC_RDONLY, fapl);
  if (f < 0) throw IOError(where + " is not a readable HDF5 file (damaged or truncated)");
  // H5Pset_file_image copied the buffer; it need not be kept.
  return Hdf5File(f, where, {});
}

Hdf5File Hdf5File::create(const std::string& where) {
  quiet();
  Id fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  H5Pset_fapl_core(fapl, 1 << 20, 0);
  const hid_t f = H5Fcreate("myelin-new.h5", H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  if (f < 0) throw IOError(where + ": HDF5 cannot create a file in memory");
  return Hdf5File(f, where, {});
}

bool Hdf5File::exists(const std::string& path) const {
  std::string at;
  for (const auto& c : components(path)) {
    at += (at.empty() ? "" : "/") + c;
    if (H5Lexists(hid_t(id_), at.c_str(), H5P_DEFAULT) <= 0) return false;
  }
  return true;
}

int64_t Hdf5File::count(const std::string& path) const {
  if (!exists(path)) return 0;
  H5G_info_t g;
  if (H5Gget_info_by_name(hid_t(id_), path.c_str(), &g, H5P_DEFAULT) < 0) return 0;
  return int64_t(g.nlinks);
}

Tensor Hdf5File::read(const std::string& path, const Shape& shape) const {
  const std::string what = where_ + ": dataset '" + path + "'";
  if (!exists(path)) throw IOError(what + " is missing");
  Id d(H5Dopen2(hid_t(id_), path.c_str(), H5P_DEFAULT), H5Dclose);
  if (d < 0) throw IOError(what + " is not a dataset");
  Id type(H5Dget_type(d), H5Tclose);
  if (H5Tget_class(type) != H5T_FLOAT) throw IOError(what + " does not hold floating-point numbers");
  Id space(H5Dget_space(d), H5Sclose);
  const int rank = H5Sget_simple_extent_ndims(space);
  if (rank < 0 || rank > 16) throw IOError(what + " has an unreadable shape");
  std::vector<hsize_t> dims(static_cast<size_t>(rank));
  H5Sget_simple_extent_dims(space, dims.data(), nullptr);
  Shape got(dims.begin(), dims.end());
  if (got != shape)
    throw IOError(what + " has shape " + shape_to_string(got) + " but the model's weight is " + shape_to_string(shape));
  Tensor t(shape);
  if (t.size() > 0 && H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t.data()) < 0)
    throw IOError(what + " cannot be read (damaged or truncated)");
  return t;
}

std::optional<std::string> Hdf5File::string_attribute(const std::string& path, const std::string& name) const {
  auto v = string_list_attribute(path, name);
  if (v.empty()) return std::nullopt;
  if (v.size() != 1) throw IOError(where_ + ": attribute '" + name + "' of '" + path + "' is a list, not one string");
  return v[0];
}

std::vector<std::string> Hdf5File::string_list_attribute(const std::string& path, const std::string& name) const {
  if (path != "/" && !exists(path)) return {};
  if (H5Aexists_by_name(hid_t(id_), path.c_str(), name.c_str(), H5P_DEFAULT) <= 0) return {};
  Id a(H5Aopen_by_name(hid_t(id_), path.c_str(), name.c_str(), H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  if (a < 0) throw IOError(where_ + ": attribute '" + name + "' of '" + path + "' cannot be opened");
  return read_strings(a, where_ + ": attribute '" + name + "' of '" + path + "'");
}

void Hdf5File::make_group(const std::string& path) {
  std::string at;
  for (const auto& c : components(path)) {
    at += (at.empty() ? "" : "/") + c;
    if (H5Lexists(hid_t(id_), at.c_str(), H5P_DEFAULT) > 0) continue;
    Id g(H5Gcreate2(hid_t(id_), at.c_str(), H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Gclose);
    if (g < 0) throw IOError(where_ + ": cannot create group '" + at + "'");
  }
}

void Hdf5File::write(const std::string& path, const Tensor& t) {
  const auto slash = path.rfind('/');
  if (slash != std::string::npos) make_group(path.substr(0, slash));
  std::vector<hsize_t> dims(t.shape().begin(), t.shape().end());
  Id space(H5Screate_simple(int(dims.size()), dims.data(), nullptr), H5Sclose);
  Id d(H5Dcreate2(hid_t(id_), path.c_str(), H5T_IEEE_F32LE, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Dclose);
  if (d < 0 || (t.size() > 0 && H5Dwrite(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, t.data()) < 0))
    throw IOError(where_ + ": cannot write dataset '" + path + "'");
}

void Hdf5File::set_string_attribute(const std::string& path, const std::string& name, const std::string& value) {
  Id type(H5Tcopy(H5T_C_S1), H5Tclose);
  H5Tset_size(type, H5T_VARIABLE);
  H5Tset_cset(type, H5T_CSET_UTF8);
  Id space(H5Screate(H5S_SCALAR), H5Sclose);
  Id a(H5Acreate_by_name(hid_t(id_), path.c_str(), name.c_str(), type, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT), H5Aclose);
  const char* p = value.c_str();
  if (a < 0 || H5Awrite(a, type, &p) < 0) throw IOError(where_ + ": cannot write attribute '" + name + "' of '" + path + "'");
}

std::string Hdf5File::image() {
  H5Fflush(hid_t(id_), H5F_SCOPE_GLOBAL);
  const ssize_t size = H5Fget_file_image(hid_t(id_), nullptr, 0);
  if (size <= 0) throw IOError(where_ + ": cannot take the HDF5 image");
  std::string out(size_t(size), '\0');
  if (H5Fget_file_image(hid_t(id_), out.data(), out.size()) != size) throw IOError(where_ + ": cannot take the HDF5 image");
  return out;
}

}  // namespace myelin::io
