// Runs a test's body in a forked child whose address space is limited to what it has mapped plus
// a margin: a regression that allocates what it should have refused then fails the test (with
// std::bad_alloc, or the child killed) instead of exhausting the machine.
#pragma once
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <exception>
#include <fstream>
#include <functional>
#include <new>
#include <string>

#include "myelin/threading.hpp"

namespace myelin_test {

struct ChildResult {
  int status;           ///< the child's exit code: 0 the body returned, 2 it threw, 3 std::bad_alloc; -1 killed
  std::string message;  ///< what the body returned, or the exception's message
};

/// The address space this process has mapped, in bytes.
inline uint64_t mapped_bytes() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.rfind("VmSize:", 0) == 0) return std::stoull(line.substr(7)) << 10;
  return 0;
}

/// Forks; the child limits RLIMIT_AS to its mapped size plus `margin` bytes, sets `env` (name=value,
/// or nothing when empty) and runs `body` with one thread, reporting what it returned or threw.
inline ChildResult run_limited(uint64_t margin, const std::string& env, const std::function<std::string()>& body) {
  int fds[2];
  if (pipe(fds) != 0) return {-2, "pipe failed"};
  const pid_t pid = fork();
  if (pid < 0) return {-2, "fork failed"};
  if (pid == 0) {
    close(fds[0]);
    const rlim_t limit = rlim_t(mapped_bytes() + margin);
    const rlimit lim{limit, limit};
    setrlimit(RLIMIT_AS, &lim);
    if (!env.empty()) putenv(const_cast<char*>((new std::string(env))->c_str()));
    myelin::set_num_threads(1);  // the parent's OpenMP threads do not exist in the child
    int code = 0;
    std::string message;
    try {
      message = body();
    } catch (const std::bad_alloc& e) {
      code = 3, message = std::string("std::bad_alloc: ") + e.what();
    } catch (const std::exception& e) {
      code = 2, message = e.what();
    }
    (void)!write(fds[1], message.data(), message.size());
    close(fds[1]);
    _exit(code);
  }
  close(fds[1]);
  std::string out;
  char buf[4096];
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, size_t(n));
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

}  // namespace myelin_test
