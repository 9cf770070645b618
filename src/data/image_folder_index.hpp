// Listing a folder of images as Keras's image_dataset_from_directory does: which files, which
// classes and labels, the seeded file-list shuffle and the training/validation split.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "myelin/data/image_folder.hpp"

namespace myelin::data {

struct ImageFolderIndex {
  std::vector<std::string> paths;
  std::vector<int> labels;
  std::vector<std::string> class_names;
};

/// The folder's image files and labels, in Keras's order: classes as ordered by options, each
/// class's files by sorted folder then sorted name; shuffled with the seed when options.shuffle.
/// Throws IOError naming the folder when it is missing or holds no image files, or naming an empty
/// class folder; ValueError for labels or class_names that do not fit the folder.
ImageFolderIndex index_image_folder(const std::string& directory, const ImageFolderOptions& options,
                                    uint32_t seed);

/// Keras's split: the last int(fraction * n) entries are the validation part, the rest training.
ImageFolderIndex split_part(const ImageFolderIndex& all, double validation_split, bool validation);

/// Shuffles `n` positions as numpy's legacy RandomState(seed).shuffle does (MT19937 and its
/// masked-rejection bounded integers), returning the permutation: entry i is the original
/// position now at i.
std::vector<int64_t> numpy_legacy_permutation(int64_t n, uint32_t seed);

}  // namespace myelin::data
