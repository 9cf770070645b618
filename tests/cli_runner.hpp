// Runs the built `myelin` program as a user would, for the command-line tests.
#pragma once
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <sstream>
#include <string>

namespace myelin::test {
namespace fs = std::filesystem;

inline std::string cli() { return (fs::read_symlink("/proc/self/exe").parent_path().parent_path() / "tools" / "myelin").string(); }

struct CliResult {
  int status;
  std::string output;  // stdout and stderr together
};

// `shell_prefix` runs first in the same shell ("ulimit -v ...; ").
inline CliResult run(const std::string& args, const std::string& shell_prefix = "") {
  const std::string cmd = shell_prefix + cli() + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  std::array<char, 4096> buf;
  while (size_t n = fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
  const int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

struct TempDir {
  fs::path path = fs::temp_directory_path() / ("myelin_cli_" + std::to_string(::getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
  std::string file(const std::string& n) const { return (path / n).string(); }
};

inline double value_of(const std::string& output, const std::string& key) {
  std::istringstream in(output);
  for (std::string line; std::getline(in, line);)
    if (line.rfind(key + "=", 0) == 0) return std::stod(line.substr(key.size() + 1));
  ADD_FAILURE() << "no " << key << "= in:\n" << output;
  return NAN;
}

}  // namespace myelin::test
