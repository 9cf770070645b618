// Writing a file so that a crash or a full disk never leaves it half-written: the content goes to
// a temporary file beside the target, is flushed to disk, and only then renamed over the target.
#pragma once
#include <functional>
#include <ostream>
#include <string>

namespace myelin::io {

/// Calls `write` with a stream on a temporary file in `path`'s directory, then fsyncs it and renames
/// it to `path` (atomic on POSIX file systems). On any failure (the writer throws, the stream fails,
/// the disk is full, the directory is not writable) the temporary is removed, an IOError naming
/// `path` is thrown, and whatever was at `path` before is left untouched.
void write_file_atomically(const std::string& path, const std::function<void(std::ostream&)>& write);

/// The same for a string's bytes.
void write_file_atomically(const std::string& path, const std::string& content);

}  // namespace myelin::io
