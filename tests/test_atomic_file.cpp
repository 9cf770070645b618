// write_file_atomically: the new content replaces the old only when fully written; a failing
// writer or an unwritable place leaves the old file intact and says which file.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "myelin/error.hpp"
#include "myelin/io/atomic_file.hpp"

namespace fs = std::filesystem;

namespace {
std::string read_all(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("myelin_atomic_" + std::to_string(::getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() {
    fs::permissions(path, fs::perms::owner_all, fs::perm_options::add);
    fs::remove_all(path);
  }
};
}  // namespace

TEST(AtomicFile, WritesAndReplaces) {
  TempDir d;
  const auto file = (d.path / "model.bin").string();
  myelin::io::write_file_atomically(file, std::string("first"));
  EXPECT_EQ(read_all(file), "first");
  myelin::io::write_file_atomically(file, std::string("second, longer"));
  EXPECT_EQ(read_all(file), "second, longer");
  // No temporary is left behind.
  int entries = 0;
  for (const auto& e : fs::directory_iterator(d.path)) entries += e.is_regular_file();
  EXPECT_EQ(entries, 1);
}

TEST(AtomicFile, FailingWriterKeepsTheOldFile) {
  TempDir d;
  const auto file = (d.path / "model.bin").string();
  myelin::io::write_file_atomically(file, std::string("precious"));
  try {
    myelin::io::write_file_atomically(file, [](std::ostream& out) {
      out << "half of it";
      throw std::runtime_error("simulated crash while writing");
    });
    FAIL() << "expected an IOError";
  } catch (const myelin::IOError& e) {
    EXPECT_NE(std::string(e.what()).find("model.bin"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("simulated crash"), std::string::npos) << e.what();
  }
  EXPECT_EQ(read_all(file), "precious");
  int entries = 0;
  for (const auto& e : fs::directory_iterator(d.path)) entries += e.is_regular_file();
  EXPECT_EQ(entries, 1) << "the temporary file must be removed";
}

TEST(AtomicFile, FullDiskKeepsTheOldFile) {
  // /dev/full accepts the open but fails every write with ENOSPC: the stand-in for a full disk.
  if (!fs::exists("/dev/full")) GTEST_SKIP() << "/dev/full is absent";
  TempDir d;
  const auto file = (d.path / "model.bin").string();
  myelin::io::write_file_atomically(file, std::string("precious"));
  EXPECT_THROW(myelin::io::write_file_atomically(file,
                                                 [](std::ostream& out) {
                                                   std::ofstream full("/dev/full");
                                                   full << std::string(1 << 16, 'x');
                                                   full.flush();
                                                   out.setstate(full.rdstate());  // report the failure
                                                 }),
               myelin::IOError);
  EXPECT_EQ(read_all(file), "precious");
}

TEST(AtomicFile, UnwritableDirectoryIsAClearError) {
  if (::geteuid() == 0) GTEST_SKIP() << "root ignores directory permissions";
  TempDir d;
  fs::permissions(d.path, fs::perms::owner_read | fs::perms::owner_exec);
  EXPECT_THROW(myelin::io::write_file_atomically((d.path / "x").string(), std::string("data")), myelin::IOError);
}

TEST(AtomicFile, MissingDirectoryNamesThePath) {
  try {
    myelin::io::write_file_atomically("/nonexistent-dir-for-test/model.bin", std::string("data"));
    FAIL() << "expected an IOError";
  } catch (const myelin::IOError& e) {
    EXPECT_NE(std::string(e.what()).find("/nonexistent-dir-for-test/model.bin"), std::string::npos) << e.what();
  }
}
