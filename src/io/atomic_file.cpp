#include "myelin/io/atomic_file.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "myelin/error.hpp"

namespace myelin::io {

namespace {
std::string errno_text() { return std::strerror(errno); }

// fsync by path: the data must be on disk before the rename makes it visible.
bool sync_file(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) return false;
  const bool ok = ::fsync(fd) == 0;
  ::close(fd);
  return ok;
}
}  // namespace

void write_file_atomically(const std::string& path, const std::function<void(std::ostream&)>& write) {
  namespace fs = std::filesystem;
  const fs::path target(path);
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  // mkstemp gives a unique name, so concurrent writers never share a temporary.
  std::string tmpl = (dir / ("." + target.filename().string() + ".tmp-XXXXXX")).string();
  const int fd = ::mkstemp(tmpl.data());
  if (fd < 0) throw IOError("cannot write '" + path + "': cannot create a temporary file in '" + dir.string() + "': " + errno_text());
  // mkstemp creates the file 0600; a saved model should get the usual 0666 less the umask.
  const mode_t mask = ::umask(0);
  ::umask(mask);
  ::fchmod(fd, 0666 & ~mask);
  ::close(fd);
  const std::string tmp = tmpl;
  auto fail = [&](const std::string& why) {
    std::remove(tmp.c_str());
    throw IOError("cannot write '" + path + "': " + why + " (the previous file, if any, is unchanged)");
  };
  try {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) fail("cannot open a temporary file");
    write(out);
    out.flush();
    if (!out) fail("writing failed (disk full?)");
    out.close();
    if (!out) fail("closing failed (disk full?)");
  } catch (const IOError&) {
    std::remove(tmp.c_str());  // fail() removed it already; a writer's own IOError did not
    throw;
  } catch (const std::exception& e) {
    fail(e.what());
  }
  if (!sync_file(tmp)) fail("flushing to disk failed: " + errno_text());
  if (std::rename(tmp.c_str(), path.c_str()) != 0) fail("renaming the temporary file failed: " + errno_text());
}

void write_file_atomically(const std::string& path, const std::string& content) {
  write_file_atomically(path, [&](std::ostream& out) { out.write(content.data(), std::streamsize(content.size())); });
}

}  // namespace myelin::io
