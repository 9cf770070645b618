// The safetensors reader and writer: round trip, and every kind of damaged or hostile file gives an
// IOError naming the problem (never a crash, never an allocation of what the header claims).
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "myelin/error.hpp"
#include "myelin/io/safetensors.hpp"

using namespace myelin;
namespace fs = std::filesystem;

namespace {
struct TempDir {
  fs::path path = fs::temp_directory_path() / ("myelin_st_" + std::to_string(::getpid()));
  TempDir() { fs::create_directories(path); }
  ~TempDir() { fs::remove_all(path); }
  std::string file(const std::string& name) const { return (path / name).string(); }
};

// A file from a header text and raw data bytes, with the header length written as given.
void write_raw(const std::string& path, const std::string& header, const std::string& data, uint64_t claimed_len) {
  std::ofstream out(path, std::ios::binary);
  for (int i = 0; i < 8; ++i) out.put(char((claimed_len >> (8 * i)) & 0xff));
  out << header << data;
}
void write_raw(const std::string& path, const std::string& header, const std::string& data) {
  write_raw(path, header, data, header.size());
}

std::string floats(std::initializer_list<float> v) {
  std::string s(v.size() * 4, '\0');
  std::memcpy(s.data(), v.begin(), s.size());
  return s;
}

void expect_io_error(const std::string& path, const std::string& fragment) {
  try {
    io::read_safetensors(path);
    FAIL() << "expected an IOError containing '" << fragment << "'";
  } catch (const IOError& e) {
    EXPECT_NE(std::string(e.what()).find(fragment), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << "must name the file: " << e.what();
  }
}
}  // namespace

TEST(Safetensors, RoundTripWithMetadata) {
  TempDir d;
  Tensor a({2, 3}, {1, 2, 3, 4, 5, 6}), b({4}, {-1, 0.5f, 1e-30f, 3e30f}), empty({0, 5});
  io::write_safetensors(d.file("m.safetensors"), {{"dense/kernel", &a}, {"dense/bias", &b}, {"e", &empty}},
                        {{"format", "myelin"}, {"note", "{\"json\": 1}"}});
  auto f = io::read_safetensors(d.file("m.safetensors"));
  ASSERT_EQ(f.tensors.size(), 3u);
  EXPECT_EQ(f.tensors[0].first, "dense/kernel");  // file order kept
  EXPECT_EQ(f.at("dense/kernel").to_vector(), a.to_vector());
  EXPECT_EQ(f.at("dense/bias").to_vector(), b.to_vector());
  EXPECT_EQ(f.at("e").shape(), (Shape{0, 5}));
  EXPECT_EQ(f.metadata.at("note"), "{\"json\": 1}");
  EXPECT_THROW(f.at("nope"), IOError);
  // The header is padded to a multiple of 8 bytes.
  std::ifstream in(d.file("m.safetensors"), std::ios::binary);
  uint64_t n = 0;
  in.read(reinterpret_cast<char*>(&n), 8);
  EXPECT_EQ(n % 8, 0u);
}

TEST(Safetensors, HostileAndDamagedFiles) {
  TempDir d;
  const std::string ok_header = R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  auto p = d.file("bad.safetensors");

  write_raw(p, "", "");  // 8 bytes of zero length and nothing else: not JSON
  expect_io_error(p, "not JSON");
  { std::ofstream(p, std::ios::binary) << "abc"; }
  expect_io_error(p, "fewer than the 8-byte header length");
  write_raw(p, ok_header, floats({1, 2}), 1ull << 40);  // header length larger than the file
  expect_io_error(p, "exceeds the limit");
  write_raw(p, ok_header, floats({1, 2}), ok_header.size() + 100);
  expect_io_error(p, "runs past the end");
  write_raw(p, "{not json", "");
  expect_io_error(p, "not JSON");
  write_raw(p, R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", floats({1}));  // data cut short
  expect_io_error(p, "larger than the file");
  write_raw(p, R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,8]}})", floats({1, 2}));  // shape vs bytes
  expect_io_error(p, "bytes of data");
  write_raw(p, R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[4,12]}})", floats({1, 2}));  // range past the end
  expect_io_error(p, "outside the data");
  write_raw(p, R"({"w":{"dtype":"F64","shape":[1],"data_offsets":[0,8]}})", floats({1, 2}));
  expect_io_error(p, "dtype F64");
  write_raw(p, R"({"w":{"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,8]}})", floats({1, 2}));
  expect_io_error(p, "larger than the file");  // refused before allocating 2^64 floats
  write_raw(p, R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", floats({1, 2}));
  expect_io_error(p, "non-negative integer");
  write_raw(p, R"({"w":{"dtype":"F32","shape":[1,1,1,1,1,1,1,1,1],"data_offsets":[0,4]}})", floats({1}));
  expect_io_error(p, "at most 8");
  write_raw(p, R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})",
            floats({1, 2}));
  expect_io_error(p, "overlap");
  write_raw(p, R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[8,4]}})", floats({1, 2}));
  expect_io_error(p, "outside the data");
  write_raw(p, R"({"w":{"shape":[1],"data_offsets":[0,4]}})", floats({1}));
  expect_io_error(p, "lacks dtype");
  write_raw(p, R"({"__metadata__":{"k":5}})", "");
  expect_io_error(p, "not a string");
  write_raw(p, R"([1,2])", "");
  expect_io_error(p, "not a JSON object");
  EXPECT_THROW(io::read_safetensors(d.file("missing.safetensors")), IOError);
}

TEST(Safetensors, EveryTruncationIsAnError) {
  TempDir d;
  Tensor a({3, 2}, {1, 2, 3, 4, 5, 6});
  io::write_safetensors(d.file("whole"), {{"a", &a}}, {{"k", "v"}});
  std::ifstream in(d.file("whole"), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  for (size_t cut = 0; cut < bytes.size(); ++cut) {
    std::ofstream(d.file("cut"), std::ios::binary) << bytes.substr(0, cut);
    EXPECT_THROW(io::read_safetensors(d.file("cut")), IOError) << "truncated at byte " << cut;
  }
  EXPECT_NO_THROW(io::read_safetensors(d.file("whole")));
}

TEST(Safetensors, EmptyTensorAtTheOffsetOfTheNextOneIsNoOverlap) {
  // A zero-size tensor placed where the next tensor begins, listed after it in the header (as other
  // writers may order keys): it holds no bytes, so the file is valid.
  TempDir d;
  const auto p = d.file("empty.safetensors");
  write_raw(p, R"({"b":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"a":{"dtype":"F32","shape":[0,3],"data_offsets":[0,0]}})",
            floats({1, 2}));
  const auto f = io::read_safetensors(p);
  EXPECT_EQ(f.at("b").to_vector(), (std::vector<float>{1, 2}));
  EXPECT_EQ(f.at("a").shape(), (Shape{0, 3}));
}

TEST(Safetensors, ZeroSizedShapeWithAnOverflowingSizeIsAnIOError) {
  // The element count is 0, but 2^64-1 does not fit a tensor's int64 sizes.
  TempDir d;
  const auto p = d.file("zero.safetensors");
  write_raw(p, R"({"w":{"dtype":"F32","shape":[0,18446744073709551615],"data_offsets":[0,0]}})", "");
  expect_io_error(p, "overflow");
}

TEST(Safetensors, ManyTensorsClaimingTheSameBytesAllocateNothing) {
  // 1024 tensors each claiming the same 8 MiB: reading them before checking for overlaps would
  // allocate 8 GiB. A child process limited to 1 GiB more address space than it has must get the
  // overlap IOError rather than running out of memory.
  TempDir d;
  const auto p = d.file("amplify.safetensors");
  std::string header = "{";
  for (int i = 0; i < 1024; ++i)
    header += std::string(i ? "," : "") + "\"t" + std::to_string(i) +
              R"(":{"dtype":"F32","shape":[2097152],"data_offsets":[0,8388608]})";
  header += "}";
  write_raw(p, header, std::string(8388608, '\0'));
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    uint64_t vm_kib = 0;
    std::ifstream status("/proc/self/status");
    for (std::string line; std::getline(status, line);)
      if (line.rfind("VmSize:", 0) == 0) vm_kib = std::stoull(line.substr(7));
    const rlim_t limit = rlim_t((vm_kib << 10) + (1ull << 30));
    const rlimit lim{limit, limit};
    setrlimit(RLIMIT_AS, &lim);
    try {
      io::read_safetensors(p);
    } catch (const IOError& e) {
      _exit(std::string(e.what()).find("overlap") != std::string::npos ? 0 : 2);
    } catch (...) {
      _exit(3);  // bad_alloc: the reader allocated what the header claimed
    }
    _exit(4);
  }
  int status = 0;
  waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status)) << "the reader crashed";
  EXPECT_EQ(WEXITSTATUS(status), 0) << "2: wrong error, 3: out of memory, 4: no error";
}
