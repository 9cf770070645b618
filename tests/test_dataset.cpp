// Tests of the Dataset sources: what they read equals read_idx / read_csv of the same files, shuffles
// are permutations drawn from the seed, and bad files or batches are refused with clear errors.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <numeric>
#include <string>
#include <vector>

#include "data/file_reader.hpp"
#include "myelin/data/csv.hpp"
#include "myelin/data/dataset.hpp"
#include "myelin/data/idx.hpp"
#include "myelin/error.hpp"
#include "myelin/random.hpp"

namespace fs = std::filesystem;
using myelin::IOError;
using myelin::Rng;
using myelin::Shape;
using myelin::ShapeError;
using myelin::Tensor;
using myelin::ValueError;
using namespace myelin::data;

namespace {

class DatasetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static int counter = 0;
    dir_ = fs::temp_directory_path() /
           ("myelin_test_dataset_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& bytes) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    return path;
  }

  fs::path dir_;
};

template <class E, class F>
std::string expect_error(F f, std::initializer_list<std::string> parts) {
  try {
    f();
    ADD_FAILURE() << "expected an exception";
  } catch (const E& e) {
    const std::string msg = e.what();
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << "message: " << msg << "\nmissing: " << p;
    return msg;
  }
  return {};
}

// Everything one epoch yields, read in pieces of odd, changing sizes.
struct Epoch {
  std::vector<float> x, y;
  int64_t rows = 0;
};

Epoch read_epoch(Dataset& d, uint64_t seed, bool shuffle, std::vector<int64_t> pieces = {1, 3, 7, 2, 5}) {
  d.start_epoch(seed, shuffle);
  Epoch e;
  Tensor x, y;
  for (size_t i = 0;; ++i) {
    const int64_t want = pieces[i % pieces.size()];
    const int64_t got = d.read(want, x, y);
    EXPECT_LE(got, want);
    EXPECT_EQ(x.rows(), got);
    EXPECT_EQ(y.rows(), got);
    if (got == 0) break;
    Shape xs = x.shape(), ys = y.shape();
    xs.erase(xs.begin());
    ys.erase(ys.begin());
    EXPECT_EQ(xs, d.x_shape());
    EXPECT_EQ(ys, d.y_shape());
    e.x.insert(e.x.end(), x.data(), x.data() + x.size());
    e.y.insert(e.y.end(), y.data(), y.data() + y.size());
    e.rows += got;
  }
  EXPECT_EQ(d.read(4, x, y), 0) << "an epoch that is over stays over";
  return e;
}

// The order fit(x, y) uses for `n` rows and `seed`.
std::vector<float> rng_order(int64_t n, uint64_t seed) {
  std::vector<int64_t> o(static_cast<size_t>(n));
  std::iota(o.begin(), o.end(), int64_t{0});
  Rng rng(seed);
  rng.shuffle(o);
  return std::vector<float>(o.begin(), o.end());
}

std::vector<float> iota_values(int64_t n) {
  std::vector<float> v(static_cast<size_t>(n));
  std::iota(v.begin(), v.end(), 0.0f);
  return v;
}

bool is_permutation_of_rows(std::vector<float> ids, int64_t n) {
  std::sort(ids.begin(), ids.end());
  return ids == iota_values(n);
}

// ---------------------------------------------------------------------------------------------
// InMemoryDataset

// Row i of x is (i, 100 + i); y is i.
InMemoryDataset numbered_rows(int64_t n) {
  std::vector<float> xs, ys;
  for (int64_t i = 0; i < n; ++i) {
    xs.push_back(static_cast<float>(i));
    xs.push_back(static_cast<float>(100 + i));
    ys.push_back(static_cast<float>(i));
  }
  return InMemoryDataset(Tensor({n, 2}, xs), Tensor({n, 1}, ys));
}

TEST(InMemoryDataset, ShuffleIsTheRngPermutationOfFit) {
  InMemoryDataset d = numbered_rows(37);
  EXPECT_EQ(d.size(), 37);
  EXPECT_EQ(d.x_shape(), (Shape{2}));
  EXPECT_EQ(d.y_shape(), (Shape{1}));
  const Epoch e = read_epoch(d, 42, true);
  EXPECT_EQ(e.y, rng_order(37, 42));
  for (int64_t i = 0; i < e.rows; ++i) EXPECT_EQ(e.x[2 * i + 1], 100 + e.y[i]) << "x and y rows stay together";
  EXPECT_EQ(read_epoch(d, 42, true).y, e.y) << "same seed, same order";
  EXPECT_NE(read_epoch(d, 43, true).y, e.y) << "another seed, another order";
  EXPECT_EQ(read_epoch(d, 42, false).y, iota_values(37)) << "no shuffle: row order";
}

TEST(InMemoryDataset, RowCountMismatchAndBadReadsAreRefused) {
  expect_error<ShapeError>([] { InMemoryDataset(Tensor({3, 2}), Tensor({4, 1})); }, {"3 rows", "4"});
  InMemoryDataset d = numbered_rows(3);
  Tensor x, y;
  EXPECT_THROW(d.read(0, x, y), ValueError);
  EXPECT_EQ(d.read(10, x, y), 3) << "read before start_epoch reads the rows in order";
}

// ---------------------------------------------------------------------------------------------
// IdxDataset

void put_be32(std::string& s, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) s += static_cast<char>((v >> shift) & 0xff);
}

std::string idx_header(int type, const std::vector<uint32_t>& dims) {
  std::string s{'\0', '\0', static_cast<char>(type), static_cast<char>(dims.size())};
  for (uint32_t d : dims) put_be32(s, d);
  return s;
}

// `n` 3x2 images whose bytes are (7 * row + pixel) % 256, and labels that are the row number.
struct IdxFiles {
  std::string images, labels;
};

class IdxDatasetTest : public DatasetTest {
 protected:
  IdxFiles write_idx(int64_t n, const std::string& stem = "set") {
    std::string img = idx_header(0x08, {static_cast<uint32_t>(n), 3, 2});
    std::string lab = idx_header(0x08, {static_cast<uint32_t>(n)});
    for (int64_t r = 0; r < n; ++r) {
      for (int p = 0; p < 6; ++p) img += static_cast<char>((7 * r + p) % 256);
      lab += static_cast<char>(r);
    }
    return {write(stem + "-images-idx3-ubyte", img), write(stem + "-labels-idx1-ubyte", lab)};
  }
};

TEST_F(IdxDatasetTest, ReadsWhatReadIdxReadsScaled) {
  const IdxFiles f = write_idx(23);
  IdxDataset d(f.images, f.labels);
  EXPECT_EQ(d.size(), 23);
  EXPECT_EQ(d.x_shape(), (Shape{3, 2}));
  EXPECT_EQ(d.y_shape(), (Shape{1}));
  const Epoch e = read_epoch(d, 0, false);
  const Tensor images = read_idx(f.images), labels = read_idx(f.labels);
  ASSERT_EQ(e.rows, 23);
  ASSERT_EQ(e.x.size(), static_cast<size_t>(images.size()));
  for (int64_t i = 0; i < images.size(); ++i) EXPECT_FLOAT_EQ(e.x[i], images[i] / 255.0f) << i;
  EXPECT_EQ(e.y, labels.to_vector());

  IdxDatasetOptions raw;
  raw.scale = 1.0f;
  raw.add_channel = true;
  IdxDataset d2(f.images, f.labels, raw);
  EXPECT_EQ(d2.x_shape(), (Shape{3, 2, 1}));
  EXPECT_EQ(read_epoch(d2, 0, false).x, images.to_vector());
}

TEST_F(IdxDatasetTest, GunzippedFilesMapLikeTheOriginals) {
  const IdxFiles f = write_idx(9);
  std::ifstream in(f.images, std::ios::binary);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string gz = f.images + ".gz", back = f.images + ".raw";
  detail::write_gzip(gz, bytes);
  gunzip_file(gz, back);
  IdxDataset d(back, f.labels);
  EXPECT_EQ(read_epoch(d, 0, false).x, read_epoch(*std::make_unique<IdxDataset>(f.images, f.labels), 0, false).x);
  // Not gzip, and gzip cut short: errors naming the file; nothing is left at the destination.
  EXPECT_THROW(gunzip_file(f.images, f.images + ".x"), IOError);
  EXPECT_FALSE(std::filesystem::exists(f.images + ".x"));
  const std::string cut = write("cut.gz", std::string("\x1f\x8b") + "\x08\x00" + std::string(6, '\0') + "\x03\x00");
  try {
    gunzip_file(cut, f.images + ".y");
    FAIL() << "a truncated gzip file was accepted";
  } catch (const IOError& e) {
    EXPECT_NE(std::string(e.what()).find("cut.gz"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(std::filesystem::exists(f.images + ".y"));
}

TEST_F(IdxDatasetTest, ShuffleIsAPermutationFromTheSeed) {
  const IdxFiles f = write_idx(50);
  IdxDataset d(f.images, f.labels, {.scale = 1.0f});
  const Epoch e = read_epoch(d, 7, true);
  EXPECT_EQ(e.y, rng_order(50, 7)) << "the same order fit(x, y) and InMemoryDataset use";
  for (int64_t i = 0; i < e.rows; ++i)
    EXPECT_EQ(e.x[6 * i + 5], static_cast<float>((7 * static_cast<int64_t>(e.y[i]) + 5) % 256)) << "rows stay paired";
  EXPECT_EQ(read_epoch(d, 7, true).y, e.y);
  EXPECT_NE(read_epoch(d, 8, true).y, e.y);
  EXPECT_TRUE(is_permutation_of_rows(read_epoch(d, 8, true).y, 50));
}

TEST_F(IdxDatasetTest, OtherElementTypesAreConverted) {
  // Two int16 "images" of one pixel each: 258 and -2.
  const std::string img = write("i16", idx_header(0x0B, {2, 1}) + std::string("\x01\x02\xff\xfe", 4));
  const std::string lab = write("lab", idx_header(0x08, {2}) + std::string("\x03\x04", 2));
  IdxDataset d(img, lab, {.scale = 1.0f});
  const Epoch e = read_epoch(d, 0, false);
  EXPECT_EQ(e.x, (std::vector<float>{258, -2}));
  EXPECT_EQ(e.y, (std::vector<float>{3, 4}));
}

TEST_F(IdxDatasetTest, GzipTruncatedAndMismatchedFilesAreRefused) {
  const IdxFiles f = write_idx(10);
  std::ifstream in(f.images, std::ios::binary);
  const std::string img((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());

  const std::string gz = (dir_ / "images.gz").string();
  detail::write_gzip(gz, img);
  expect_error<IOError>([&] { IdxDataset(gz, f.labels); }, {gz, "gzip", "decompress"});

  const std::string cut = write("cut", img.substr(0, img.size() - 4));
  expect_error<IOError>([&] { IdxDataset(cut, f.labels); }, {cut, "truncated", "ends at byte 72", "starting at byte 16"});
  const std::string tiny = write("tiny", img.substr(0, 6));
  expect_error<IOError>([&] { IdxDataset(tiny, f.labels); }, {tiny, "truncated", "ends at byte 6"});
  const std::string empty = write("empty", "");
  expect_error<IOError>([&] { IdxDataset(empty, f.labels); }, {empty, "truncated", "ends at byte 0"});
  const std::string type = write("type", idx_header(0x07, {1}) + "x");
  expect_error<IOError>([&] { IdxDataset(type, f.labels); }, {type, "0x07 at byte 2"});

  const IdxFiles other = write_idx(9, "other");
  expect_error<IOError>([&] { IdxDataset(f.images, other.labels); }, {f.images, other.labels, "10 images", "9 labels"});
  expect_error<IOError>([&] { IdxDataset(f.images, f.images); }, {f.images, "one label per row"});
  expect_error<IOError>([&] { IdxDataset((dir_ / "absent").string(), f.labels); }, {"absent", "No such file"});
}

// ---------------------------------------------------------------------------------------------
// CsvDataset

class CsvDatasetTest : public DatasetTest {
 protected:
  // A header "f0,f1,id" and `n` rows "r*0.5, -r, r": the target column is the row number.
  std::string write_rows(int64_t n, const std::string& name = "rows.csv") {
    std::string text = "f0,f1,id\n";
    for (int64_t r = 0; r < n; ++r)
      text += std::to_string(r * 0.5) + "," + std::to_string(-r) + "," + std::to_string(r) + (r % 3 ? "\n" : "\r\n");
    return write(name, text);
  }
};

TEST_F(CsvDatasetTest, TargetOnlyFileGivesEmptyRows) {
  // Found by fuzz_csv_dataset: with no feature column the rows were copied from a null buffer.
  const std::string path = write("target_only.csv", "y\n1\n2\n");
  CsvDataset d(path, {.shuffle_buffer = 1});
  EXPECT_EQ(d.x_shape(), (Shape{0}));
  const Epoch e = read_epoch(d, 0, false);
  EXPECT_EQ(e.rows, 2);
  EXPECT_TRUE(e.x.empty());
  EXPECT_EQ(e.y, (std::vector<float>{1, 2}));
}

TEST_F(CsvDatasetTest, ReadsWhatReadCsvReads) {
  const std::string path = write("mixed.csv", "\xEF\xBB\xBF" "a, b ,\"c\",t\n1,2,3,4\n\n 5 ,+6,\"7\",8\r\n-1e3,0.25,9,10");
  const CsvData whole = read_csv(path);
  for (int64_t chunk : {int64_t{1} << 20, int64_t{5}}) {
    CsvDataset d(path, {.chunk_bytes = chunk});
    EXPECT_EQ(d.feature_names(), whole.feature_names);
    EXPECT_EQ(d.target_name(), whole.target_name);
    EXPECT_EQ(d.x_shape(), (Shape{3}));
    EXPECT_EQ(d.y_shape(), (Shape{1}));
    EXPECT_EQ(d.size(), -1) << "unknown before a full pass";
    const Epoch e = read_epoch(d, 0, false);
    EXPECT_EQ(e.x, whole.x.to_vector());
    EXPECT_EQ(e.y, whole.y.to_vector());
    EXPECT_EQ(d.size(), 3);
  }
  CsvDataset by_name(path, {.target_column = "a"});
  const CsvData whole_a = read_csv(path, {.target_column = "a"});
  EXPECT_EQ(by_name.feature_names(), whole_a.feature_names);
  EXPECT_EQ(read_epoch(by_name, 0, false).y, whole_a.y.to_vector());
  CsvDataset headless(path, {.header = false, .target_index = 0});
  EXPECT_EQ(headless.feature_names(), (std::vector<std::string>{"1", "2", "3"}));
  EXPECT_THROW(read_epoch(headless, 0, false), IOError) << "the header line then is a row of text";
}

TEST_F(CsvDatasetTest, LargeFileInSmallChunksReadsEveryRow) {
  const std::string path = write_rows(3000);
  const CsvData whole = read_csv(path);
  CsvDataset d(path, {.chunk_bytes = 333});
  const Epoch e = read_epoch(d, 0, false, {64, 101});
  EXPECT_EQ(e.x, whole.x.to_vector());
  EXPECT_EQ(e.y, whole.y.to_vector());
  EXPECT_EQ(d.size(), 3000);
}

TEST_F(CsvDatasetTest, ShuffleBufferOfOneKeepsFileOrder) {
  const std::string path = write_rows(40);
  CsvDataset d(path, {.shuffle_buffer = 1});
  EXPECT_EQ(read_epoch(d, 5, true).y, iota_values(40));
  CsvDataset big(path, {.shuffle_buffer = 100});
  EXPECT_EQ(read_epoch(big, 5, false).y, iota_values(40)) << "shuffle off: file order whatever the buffer";
}

TEST_F(CsvDatasetTest, ShuffleIsAPermutationFromTheSeedForAnyBuffer) {
  const std::string path = write_rows(200);
  for (int64_t buffer : {2, 16, 199, 200, 1000}) {
    CsvDataset d(path, {.shuffle_buffer = buffer, .chunk_bytes = 100});
    const Epoch e = read_epoch(d, 11, true);
    ASSERT_EQ(e.rows, 200) << "buffer " << buffer;
    EXPECT_TRUE(is_permutation_of_rows(e.y, 200)) << "every row exactly once, buffer " << buffer;
    EXPECT_NE(e.y, iota_values(200)) << "buffer " << buffer;
    for (int64_t i = 0; i < e.rows; ++i) ASSERT_EQ(e.x[2 * i + 1], -e.y[i]) << "features stay with their target";
    EXPECT_EQ(read_epoch(d, 11, true).y, e.y) << "same seed, same order; buffer " << buffer;
    EXPECT_NE(read_epoch(d, 12, true).y, e.y) << "another seed, another order; buffer " << buffer;
    EXPECT_EQ(d.size(), 200);
  }
  // A row can move at most `buffer` places earlier: the buffer bounds how far shuffling reaches.
  CsvDataset small(path, {.shuffle_buffer = 8});
  const Epoch e = read_epoch(small, 3, true);
  for (int64_t i = 0; i < e.rows; ++i) EXPECT_LE(e.y[i], i + 7) << "position " << i;
}

TEST_F(CsvDatasetTest, BadCellIsReportedAsReadCsvReportsIt) {
  const std::string path = write("bad.csv", "a,b,c\n1,2,3\n\n4,x1,6\n");
  const std::string expected = expect_error<IOError>([&] { read_csv(path); }, {path, "line 4", "column 2", "\"b\""});
  CsvDataset d(path);
  const std::string got = expect_error<IOError>([&] { read_epoch(d, 0, false); }, {path, "line 4", "column 2"});
  EXPECT_EQ(got, expected);
  CsvDataset shuffled(path, {.shuffle_buffer = 4});
  expect_error<IOError>([&] { read_epoch(shuffled, 0, true); }, {path, "line 4", "column 2", "x1"});

  const std::string ragged = write("ragged.csv", "a,b\n1,2\n3\n");
  CsvDataset r(ragged);
  expect_error<IOError>([&] { read_epoch(r, 0, false); }, {ragged, "line 3", "expected 2 cells", "found 1"});
}

TEST_F(CsvDatasetTest, GzipLongLinesEmptyFilesAndBadOptionsAreRefused) {
  const std::string gz = (dir_ / "rows.csv.gz").string();
  detail::write_gzip(gz, "a,b\n1,2\n");
  expect_error<IOError>([&] { CsvDataset d(gz); }, {gz, "gzip", "decompress"});

  const std::string longer = write("long.csv", "a,b\n1,2\n" + std::string(200, '3') + ",4\n");
  CsvDataset d(longer, {.chunk_bytes = 16, .max_line_bytes = 64});
  expect_error<IOError>([&] { read_epoch(d, 0, false); }, {longer, "line 3", "longer than 64 bytes"});

  const std::string empty = write("empty.csv", "");
  expect_error<IOError>([&] { CsvDataset e(empty); }, {empty, "no header"});
  const std::string header_only = write("header.csv", "a,b\n");
  expect_error<IOError>([&] { CsvDataset e(header_only); }, {header_only, "no data lines"});

  const std::string ok = write("ok.csv", "a,b\n1,2\n");
  expect_error<ValueError>([&] { CsvDataset e(ok, {.target_column = "zzz"}); }, {ok, "zzz", "a, b"});
  expect_error<ValueError>([&] { CsvDataset e(ok, {.shuffle_buffer = 0}); }, {ok, "shuffle_buffer"});
  expect_error<ValueError>([&] { CsvDataset e(ok, {.chunk_bytes = 0}); }, {ok, "chunk_bytes"});
}

// ---------------------------------------------------------------------------------------------
// GeneratorDataset

// Batches of 5, 3 and 7 rows of shape {2} (values: a running row number and its negative).
GeneratorDataset::Next numbered_batches(std::vector<int>* epochs_seen) {
  return [epochs_seen, i = 0, row = 0](int epoch) mutable -> std::optional<Batch> {
    static const int sizes[] = {5, 3, 0, 7};
    if (epochs_seen) epochs_seen->push_back(epoch);
    if (i == 4) {
      i = 0;
      row = 0;
      return std::nullopt;
    }
    const int n = sizes[i++];
    std::vector<float> xs, ys;
    for (int r = 0; r < n; ++r, ++row) {
      xs.push_back(static_cast<float>(row));
      xs.push_back(static_cast<float>(-row));
      ys.push_back(static_cast<float>(row));
    }
    return Batch{Tensor({n, 2}, xs), Tensor({n, 1}, ys)};
  };
}

TEST(GeneratorDataset, RecutsTheUsersBatches) {
  std::vector<int> epochs;
  GeneratorDataset d(numbered_batches(&epochs), {2}, {1});
  EXPECT_EQ(d.size(), -1);
  for (int epoch = 0; epoch < 2; ++epoch) {
    epochs.clear();
    const Epoch e = read_epoch(d, 0, true, {4, 1, 6});
    EXPECT_EQ(e.y, iota_values(15));
    for (int64_t i = 0; i < e.rows; ++i) EXPECT_EQ(e.x[2 * i + 1], -e.y[i]);
    EXPECT_EQ(epochs, std::vector<int>(5, epoch)) << "next(epoch) gets the epoch counted from 0";
  }
}

TEST(GeneratorDataset, WrongShapesNameTheEpochAndBatch) {
  // Epoch 1's batch 2 has rows of 3 values where 2 are expected.
  auto next = [calls = 0](int epoch) mutable -> std::optional<Batch> {
    const int batch = calls++;
    if (epoch == 0 && batch == 2) {
      calls = 0;
      return std::nullopt;
    }
    const int64_t width = (epoch == 1 && batch == 2) ? 3 : 2;
    return Batch{Tensor({4, width}), Tensor({4, 1})};
  };
  GeneratorDataset d(next, {2}, {1});
  Tensor x, y;
  read_epoch(d, 0, false);
  d.start_epoch(0, false);
  EXPECT_EQ(d.read(8, x, y), 8);
  expect_error<ShapeError>([&] { d.read(8, x, y); }, {"epoch 1", "batch 2", "(4, 3)", "expected (2,)"});

  GeneratorDataset rows([](int) -> std::optional<Batch> { return Batch{Tensor({4, 2}), Tensor({3, 1})}; }, {2}, {1});
  rows.start_epoch(0, false);
  expect_error<ShapeError>([&] { rows.read(8, x, y); }, {"epoch 0", "batch 0", "4 rows", "3"});
  GeneratorDataset targets([](int) -> std::optional<Batch> { return Batch{Tensor({4, 2}), Tensor({4, 2})}; }, {2}, {1});
  targets.start_epoch(0, false);
  expect_error<ShapeError>([&] { targets.read(8, x, y); }, {"epoch 0", "batch 0", "y has shape (4, 2)"});
}

}  // namespace
