// Tests of the IDX reader: element types, gzip and raw files, and refusal of damaged files.
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <new>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "data/file_reader.hpp"
#include "myelin/data/idx.hpp"
#include "myelin/error.hpp"

// The largest single operator new request while tracking is on: the test of a lying gzip header
// checks that reading it never asks for more than its real contents need.
namespace {
std::atomic<bool> g_track_allocations{false};
std::atomic<size_t> g_largest_allocation{0};
}  // namespace

void* operator new(std::size_t n) {
  if (g_track_allocations.load(std::memory_order_relaxed)) {
    size_t prev = g_largest_allocation.load(std::memory_order_relaxed);
    while (n > prev && !g_largest_allocation.compare_exchange_weak(prev, n)) {
    }
  }
  if (void* p = std::malloc(n ? n : 1)) return p;
  throw std::bad_alloc();
}
// noinline: inlined into a caller, GCC would mistake these matching malloc/free pairs for new/free.
__attribute__((noinline)) void operator delete(void* p) noexcept { std::free(p); }
__attribute__((noinline)) void operator delete(void* p, std::size_t) noexcept { std::free(p); }

namespace fs = std::filesystem;
using myelin::IOError;
using myelin::Tensor;
using myelin::data::read_idx;

namespace {

class IdxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static int counter = 0;
    dir_ = fs::temp_directory_path() /
           ("myelin_test_idx_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& bytes) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return path;
  }
  std::string write_gz(const std::string& name, const std::string& bytes) {
    const std::string path = (dir_ / name).string();
    myelin::data::detail::write_gzip(path, bytes);
    return path;
  }

  fs::path dir_;
};

void put_be32(std::string& s, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) s += static_cast<char>((v >> shift) & 0xff);
}

// An IDX header for the given type code and dimensions.
std::string header(int type, const std::vector<uint32_t>& dims) {
  std::string s;
  s += '\0';
  s += '\0';
  s += static_cast<char>(type);
  s += static_cast<char>(dims.size());
  for (uint32_t d : dims) put_be32(s, d);
  return s;
}

std::string bytes(std::initializer_list<int> values) {
  std::string s;
  for (int v : values) s += static_cast<char>(v);
  return s;
}

// Runs f, expecting an IOError whose message contains every one of `parts`.
template <class F>
void expect_io_error(F f, std::initializer_list<std::string> parts) {
  try {
    f();
    FAIL() << "expected IOError";
  } catch (const IOError& e) {
    const std::string msg = e.what();
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "message: " << msg << "\nmissing: " << p;
  }
}

const std::string kUbytePayload = bytes({0, 1, 2, 253, 254, 255});

TEST_F(IdxTest, ReadsRawUnsignedBytes) {
  const std::string path = write("raw.idx", header(0x08, {2, 3}) + kUbytePayload);
  const Tensor t = read_idx(path);
  EXPECT_EQ(t.shape(), (myelin::Shape{2, 3}));
  EXPECT_EQ(t.to_vector(), (std::vector<float>{0, 1, 2, 253, 254, 255}));
}

TEST_F(IdxTest, ReadsGzippedUnsignedBytes) {
  const std::string path = write_gz("img.idx.gz", header(0x08, {3, 1, 2}) + kUbytePayload);
  ASSERT_TRUE(myelin::data::detail::is_gzip(path));
  const Tensor t = read_idx(path);
  EXPECT_EQ(t.shape(), (myelin::Shape{3, 1, 2}));
  EXPECT_EQ(t.to_vector(), (std::vector<float>{0, 1, 2, 253, 254, 255}));
}

TEST_F(IdxTest, ReadsOneDimensionalLabels) {
  const Tensor t = read_idx(write("labels.idx", header(0x08, {4}) + bytes({9, 0, 0, 3})));
  EXPECT_EQ(t.shape(), (myelin::Shape{4}));
  EXPECT_EQ(t.to_vector(), (std::vector<float>{9, 0, 0, 3}));
}

TEST_F(IdxTest, ReadsSignedByteInt16Int32BigEndian) {
  EXPECT_EQ(read_idx(write("i8", header(0x09, {3}) + bytes({0xff, 0x80, 0x7f}))).to_vector(),
            (std::vector<float>{-1, -128, 127}));
  EXPECT_EQ(read_idx(write("i16", header(0x0B, {2}) + bytes({0x01, 0x02, 0xff, 0xfe}))).to_vector(),
            (std::vector<float>{258, -2}));
  EXPECT_EQ(read_idx(write("i32", header(0x0C, {2}) + bytes({0x00, 0x01, 0x02, 0x03, 0xff, 0xff, 0xff, 0xf6})))
                .to_vector(),
            (std::vector<float>{66051, -10}));
}

TEST_F(IdxTest, ReadsFloat32AndFloat64BigEndian) {
  // 1.5f = 0x3FC00000; -2.25 = 0xC002000000000000.
  EXPECT_EQ(read_idx(write("f32", header(0x0D, {1}) + bytes({0x3f, 0xc0, 0, 0}))).to_vector(),
            (std::vector<float>{1.5f}));
  EXPECT_EQ(read_idx(write("f64", header(0x0E, {1, 1}) + bytes({0xc0, 0x02, 0, 0, 0, 0, 0, 0}))).to_vector(),
            (std::vector<float>{-2.25f}));
}

TEST_F(IdxTest, ZeroSizedDimensionGivesEmptyTensor) {
  const Tensor t = read_idx(write("empty.idx", header(0x08, {0, 28, 28})));
  EXPECT_EQ(t.shape(), (myelin::Shape{0, 28, 28}));
  EXPECT_EQ(t.size(), 0);
}

TEST_F(IdxTest, TruncatedRawFileIsRefused) {
  const std::string path = write("short.idx", header(0x08, {10}) + bytes({1, 2, 3, 4, 5}));
  // The message says where the data starts and where the file ends.
  expect_io_error([&] { read_idx(path); },
                  {path, "truncated", "10 bytes", "only 5", "starting at byte 8", "ends at byte 13"});
}

TEST_F(IdxTest, TruncatedGzipFileIsRefused) {
  const std::string path = write_gz("short.idx.gz", header(0x08, {10}) + bytes({1, 2, 3, 4, 5}));
  expect_io_error([&] { read_idx(path); }, {path, "truncated", "only 5"});
}

TEST_F(IdxTest, GzipStreamCutShortIsRefused) {
  std::string payload(5000, '\0');
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>((i * 7919) % 251);
  const std::string full = write_gz("full.gz", header(0x08, {5000}) + payload);
  std::ifstream in(full, std::ios::binary);
  const std::string gz((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(gz.size(), 100u);
  const std::string path = write("cut.idx.gz", gz.substr(0, gz.size() / 2));
  expect_io_error([&] { read_idx(path); }, {path});
}

TEST_F(IdxTest, CorruptGzipDataIsRefused) {
  const std::string path = write("corrupt.gz", bytes({0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3}) + std::string(64, '\xff'));
  expect_io_error([&] { read_idx(path); }, {path});
}

TEST_F(IdxTest, TrailingBytesAreRefused) {
  const std::string raw = write("long.idx", header(0x08, {2}) + bytes({1, 2, 3}));
  expect_io_error([&] { read_idx(raw); }, {raw, "1 byte after the data", "from byte 10"});
  const std::string gz = write_gz("long.idx.gz", header(0x08, {2}) + bytes({1, 2, 3}));
  expect_io_error([&] { read_idx(gz); }, {gz, "after the data", "from byte 10"});
}

TEST_F(IdxTest, HeaderClaimingTwoToTheFortyElementsIsRefused) {
  // 2^20 x 2^20 = 2^40 elements: refused from the header alone, before any allocation.
  const std::string raw = write("huge.idx", header(0x08, {1u << 20, 1u << 20}) + bytes({1, 2, 3}));
  expect_io_error([&] { read_idx(raw); }, {raw, "(1048576, 1048576)", "bytes 4 to 11", "2^31"});
  const std::string gz = write_gz("huge.idx.gz", header(0x08, {1u << 20, 1u << 20}) + bytes({1, 2, 3}));
  expect_io_error([&] { read_idx(gz); }, {gz, "2^31"});
  // Eight dimensions of 2^32-1 would overflow a 64-bit product.
  const std::vector<uint32_t> max_dims(8, 0xffffffffu);
  const std::string over = write("overflow.idx", header(0x0E, max_dims));
  expect_io_error([&] { read_idx(over); }, {over, "2^31"});
}

TEST_F(IdxTest, GzipHeaderClaimingGigabytesOfMissingDataIsRefused) {
  // 2^30 doubles (8 GiB) claimed, 16 bytes present: within the element cap, so the reader must
  // notice the data ending early rather than trusting the header's size.
  const std::string gz = write_gz("lie.idx.gz", header(0x0E, {1u << 15, 1u << 15}) + std::string(16, '\0'));
  expect_io_error([&] { read_idx(gz); }, {gz, "truncated", "8589934592 bytes", "only 16"});
}

TEST_F(IdxTest, GzipHeaderLieCostsNoMoreMemoryThanTheRealContents) {
  // A .gz of a few dozen bytes cannot hold more than about a thousand times its size, so nothing
  // near the 8 GiB its header announces (nor a blanket 64 MiB reservation) may be allocated.
  const std::string gz = write_gz("lie2.idx.gz", header(0x0E, {1u << 15, 1u << 15}) + std::string(4096, '\0'));
  g_largest_allocation = 0;
  g_track_allocations = true;
  EXPECT_THROW(read_idx(gz), IOError);
  g_track_allocations = false;
  EXPECT_LE(g_largest_allocation.load(), size_t{2} << 20);
  EXPECT_GT(g_largest_allocation.load(), 0u);  // the tracking itself works
}

TEST_F(IdxTest, HighlyCompressedGzipFileReadsWhole) {
  // Nearly all zeros: about a thousandfold compression, the most deflate achieves, so the content
  // reaches the reservation the compressed size allows and the buffer grows as data arrives.
  std::string payload(8u << 20, '\0');
  for (size_t i = 0; i < payload.size(); i += 65537) payload[i] = static_cast<char>(1 + i % 250);
  const std::string gz = write_gz("dense.idx.gz", header(0x08, {8u << 10, 1u << 10}) + payload);
  const Tensor t = read_idx(gz);
  ASSERT_EQ(t.shape(), (myelin::Shape{8 << 10, 1 << 10}));
  for (size_t i = 0; i < payload.size(); i += 65537) ASSERT_EQ(t[static_cast<int64_t>(i)], 1 + i % 250) << i;
  EXPECT_EQ(t[1], 0.0f);
  EXPECT_EQ(t[t.size() - 1], static_cast<float>(static_cast<unsigned char>(payload.back())));
}

TEST_F(IdxTest, BadMagicTypeAndDimensionCountAreRefused) {
  const std::string zip = write("not.idx", "PK\x03\x04 something else");
  expect_io_error([&] { read_idx(zip); }, {zip, "not an IDX file", "bytes 0 to 3"});
  const std::string type = write("type.idx", header(0x0A, {1}) + bytes({0}));
  expect_io_error([&] { read_idx(type); }, {type, "type code 0x0A at byte 2"});
  const std::string zero = write("zero.idx", header(0x08, {}));
  expect_io_error([&] { read_idx(zero); }, {zero, "0 dimensions at byte 3"});
  const std::string nine = write("nine.idx", header(0x08, std::vector<uint32_t>(9, 1)) + bytes({7}));
  expect_io_error([&] { read_idx(nine); }, {nine, "9 dimensions at byte 3"});
  const std::string cut_header = write("cuthead.idx", header(0x08, {5, 5}).substr(0, 9));
  expect_io_error([&] { read_idx(cut_header); },
                  {cut_header, "truncated", "ends at byte 9", "dimension sizes needs 8 bytes from byte 4", "only 5"});
  const std::string empty = write("empty_file.idx", "");
  expect_io_error([&] { read_idx(empty); }, {empty, "truncated", "ends at byte 0", "magic"});
}

TEST_F(IdxTest, MissingFileAndDirectoryAreRefused) {
  const std::string missing = (dir_ / "nope.idx").string();
  expect_io_error([&] { read_idx(missing); }, {missing, "No such file"});
  expect_io_error([&] { read_idx(dir_.string()); }, {dir_.string(), "directory"});
}

}  // namespace
