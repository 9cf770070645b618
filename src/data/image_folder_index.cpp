#include "image_folder_index.hpp"

#include <algorithm>
#include <filesystem>
#include <random>
#include <set>
#include <system_error>

#include "myelin/error.hpp"

namespace myelin::data {
namespace fs = std::filesystem;
namespace {

bool has_image_extension(const std::string& name) {
  std::string lower = name;
  for (char& c : lower) c = char(std::tolower(static_cast<unsigned char>(c)));
  for (const char* ext : {".bmp", ".gif", ".jpeg", ".jpg", ".png"})
    if (lower.size() >= std::char_traits<char>::length(ext) && lower.ends_with(ext)) return true;
  return false;
}

// Image files below `top`, by sorted folder path then sorted name (Keras sorts os.walk's folders
// and each folder's files the same way), as paths relative to `top`.
std::vector<std::string> list_images(const fs::path& top, bool follow_links) {
  std::vector<std::pair<std::string, std::string>> found;  // (folder relative to top, file name)
  std::error_code ec;
  auto options = fs::directory_options::skip_permission_denied;
  if (follow_links) options |= fs::directory_options::follow_directory_symlink;
  fs::recursive_directory_iterator it(top, options, ec), end;
  if (ec) throw IOError("image_dataset_from_directory: cannot list '" + top.string() + "': " + ec.message());
  for (; it != end; it.increment(ec)) {
    if (ec) throw IOError("image_dataset_from_directory: cannot list '" + top.string() + "': " + ec.message());
    const fs::directory_entry& e = *it;
    // os.walk lists a link to a folder among the folders; without follow_links it is not entered.
    if (e.is_directory(ec)) continue;
    const std::string name = e.path().filename().string();
    if (!has_image_extension(name)) continue;
    std::string folder = e.path().parent_path().lexically_relative(top).string();
    if (folder == ".") folder.clear();  // the top folder sorts first, as its path is a prefix of the others'
    found.emplace_back(std::move(folder), name);
  }
  std::sort(found.begin(), found.end());
  std::vector<std::string> files;
  files.reserve(found.size());
  for (auto& [folder, name] : found) files.push_back(folder.empty() ? name : folder + "/" + name);
  return files;
}

std::string join(const std::vector<std::string>& names) {
  std::string s;
  for (const auto& n : names) s += (s.empty() ? "'" : ", '") + n + "'";
  return "[" + s + "]";
}

}  // namespace

std::vector<int64_t> numpy_legacy_permutation(int64_t n, uint32_t seed) {
  std::vector<int64_t> order(size_t(std::max<int64_t>(n, 0)));
  for (int64_t i = 0; i < n; ++i) order[size_t(i)] = i;
  std::mt19937 mt(seed);  // numpy's legacy seeding of MT19937 from a 32-bit integer is init_genrand
  for (int64_t i = n - 1; i >= 1; --i) {
    // numpy's random_interval(i): the smallest all-ones mask covering i, rejecting draws above i.
    uint64_t mask = uint64_t(i);
    for (int s = 1; s <= 32; s *= 2) mask |= mask >> s;
    uint64_t j;
    do j = uint64_t(mt()) & mask;
    while (j > uint64_t(i));
    std::swap(order[size_t(i)], order[size_t(j)]);
  }
  return order;
}

ImageFolderIndex index_image_folder(const std::string& directory, const ImageFolderOptions& o, uint32_t seed) {
  const std::string where = "image_dataset_from_directory('" + directory + "')";
  std::error_code ec;
  if (!fs::is_directory(directory, ec)) throw IOError(where + ": no such folder");
  const fs::path top(directory);
  ImageFolderIndex index;
  if (o.unlabeled) {
    if (!o.labels.empty() || !o.class_names.empty())
      throw ValueError(where + ": an unlabeled dataset takes neither labels nor class_names");
    for (const auto& f : list_images(top, o.follow_links)) index.paths.push_back((top / f).string());
    index.labels.assign(index.paths.size(), 0);
  } else if (o.labels.empty()) {
    std::vector<std::string> subdirs;
    for (const fs::directory_entry& e : fs::directory_iterator(top, ec)) {
      const std::string name = e.path().filename().string();
      if (!name.starts_with(".") && e.is_directory(ec)) subdirs.push_back(name);
    }
    if (ec) throw IOError(where + ": cannot list the folder: " + ec.message());
    std::sort(subdirs.begin(), subdirs.end());
    if (!o.class_names.empty()) {
      std::set<std::string> seen;
      for (const auto& c : o.class_names) {
        if (std::find(subdirs.begin(), subdirs.end(), c) == subdirs.end())
          throw ValueError(where + ": class_names " + join(o.class_names) +
                           " must name subfolders of the folder; it has " + join(subdirs));
        if (!seen.insert(c).second) throw ValueError(where + ": class_names names '" + c + "' twice");
      }
      subdirs = o.class_names;
    }
    if (subdirs.empty()) throw IOError(where + ": the folder has no class subfolders (labels are inferred from them)");
    index.class_names = subdirs;
    for (size_t c = 0; c < subdirs.size(); ++c) {
      const std::vector<std::string> files = list_images(top / subdirs[c], o.follow_links);
      if (files.empty())
        throw IOError(where + ": class folder '" + (top / subdirs[c]).string() +
                      "' holds no image files (.bmp, .gif, .jpeg, .jpg, .png)");
      for (const auto& f : files) {
        index.paths.push_back((top / subdirs[c] / f).string());
        index.labels.push_back(int(c));
      }
    }
  } else {
    if (!o.class_names.empty())
      throw ValueError(where + ": class_names cannot be given with explicit labels (the classes are the sorted labels)");
    for (const auto& f : list_images(top, o.follow_links)) index.paths.push_back((top / f).string());
    if (o.labels.size() != index.paths.size())
      throw ValueError(where + ": " + std::to_string(o.labels.size()) + " labels given for " +
                       std::to_string(index.paths.size()) + " image files (one label per file, in sorted path order)");
    std::set<int> distinct;
    for (size_t i = 0; i < o.labels.size(); ++i) {
      if (o.labels[i] < 0)
        throw ValueError(where + ": label " + std::to_string(o.labels[i]) + " of '" + index.paths[i] + "' is negative");
      distinct.insert(o.labels[i]);
    }
    for (int l : distinct) index.class_names.push_back(std::to_string(l));
    index.labels = o.labels;
  }
  if (index.paths.empty()) throw IOError(where + ": no image files (.bmp, .gif, .jpeg, .jpg, .png) in the folder");
  if (o.shuffle) {
    const std::vector<int64_t> perm = numpy_legacy_permutation(int64_t(index.paths.size()), seed);
    ImageFolderIndex shuffled{{}, {}, index.class_names};
    for (int64_t p : perm) {
      shuffled.paths.push_back(index.paths[size_t(p)]);
      shuffled.labels.push_back(index.labels[size_t(p)]);
    }
    index = std::move(shuffled);
  }
  return index;
}

ImageFolderIndex split_part(const ImageFolderIndex& all, double validation_split, bool validation) {
  const int64_t n = int64_t(all.paths.size());
  const int64_t n_val = int64_t(validation_split * double(n));
  if (n_val < 1 || n_val >= n)
    throw ValueError("image_dataset_from_directory: validation_split " + std::to_string(validation_split) +
                     " of " + std::to_string(n) + " files leaves " + (n_val < 1 ? "no validation" : "no training") +
                     " file");
  const int64_t lo = validation ? n - n_val : 0, hi = validation ? n : n - n_val;
  ImageFolderIndex part{{}, {}, all.class_names};
  part.paths.assign(all.paths.begin() + lo, all.paths.begin() + hi);
  part.labels.assign(all.labels.begin() + lo, all.labels.begin() + hi);
  return part;
}

}  // namespace myelin::data
