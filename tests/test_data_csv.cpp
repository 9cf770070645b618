// Tests of the CSV reader: layouts, options, and errors that point at the bad cell.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "data/file_reader.hpp"
#include "expect_error.hpp"
#include "myelin/data/csv.hpp"
#include "myelin/error.hpp"

namespace fs = std::filesystem;
using myelin::IOError;
using myelin::ValueError;
using myelin::data::CsvData;
using myelin::data::CsvOptions;
using myelin::data::read_csv;
using myelin::test::expect_error;

namespace {

class CsvTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static int counter = 0;
    dir_ = fs::temp_directory_path() /
           ("myelin_test_csv_" + std::to_string(::getpid()) + "_" + std::to_string(counter++));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }

  fs::path dir_;
};

using Names = std::vector<std::string>;
using Values = std::vector<float>;

TEST_F(CsvTest, DefaultsReadHeaderAndTakeLastColumnAsTarget) {
  const CsvData d = read_csv(write("a.csv", "a,b,target\n1,2,3\n4,5.5,-6e2\n"));
  EXPECT_EQ(d.x.shape(), (myelin::Shape{2, 2}));
  EXPECT_EQ(d.y.shape(), (myelin::Shape{2, 1}));
  EXPECT_EQ(d.x.to_vector(), (Values{1, 2, 4, 5.5f}));
  EXPECT_EQ(d.y.to_vector(), (Values{3, -600}));
  EXPECT_EQ(d.feature_names, (Names{"a", "b"}));
  EXPECT_EQ(d.target_name, "target");
}

TEST_F(CsvTest, TargetByNameByIndexAndNone) {
  const std::string path = write("t.csv", "a,b,c\n1,2,3\n4,5,6\n");
  CsvOptions by_name;
  by_name.target_column = "b";
  CsvData d = read_csv(path, by_name);
  EXPECT_EQ(d.x.to_vector(), (Values{1, 3, 4, 6}));
  EXPECT_EQ(d.y.to_vector(), (Values{2, 5}));
  EXPECT_EQ(d.feature_names, (Names{"a", "c"}));
  EXPECT_EQ(d.target_name, "b");

  CsvOptions first;
  first.target_index = 0;
  d = read_csv(path, first);
  EXPECT_EQ(d.y.to_vector(), (Values{1, 4}));
  EXPECT_EQ(d.x.to_vector(), (Values{2, 3, 5, 6}));

  CsvOptions from_end;
  from_end.target_index = -2;
  EXPECT_EQ(read_csv(path, from_end).y.to_vector(), (Values{2, 5}));

  CsvOptions none;
  none.no_target = true;
  d = read_csv(path, none);
  EXPECT_EQ(d.x.shape(), (myelin::Shape{2, 3}));
  EXPECT_EQ(d.y.shape(), (myelin::Shape{2, 0}));
  EXPECT_EQ(d.feature_names, (Names{"a", "b", "c"}));
  EXPECT_EQ(d.target_name, "");
}

TEST_F(CsvTest, CrlfQuotesWhitespaceBlankLinesAndBom) {
  const std::string text =
      "\xEF\xBB\xBF\"x one\", \"x,two\" ,y\r\n"
      " 1 , \"2.5\" ,\t3\r\n"
      "\r\n"
      "\"+4\",5,\"6\"\r\n"
      "   \r\n";
  const CsvData d = read_csv(write("crlf.csv", text));
  EXPECT_EQ(d.feature_names, (Names{"x one", "x,two"}));
  EXPECT_EQ(d.target_name, "y");
  EXPECT_EQ(d.x.to_vector(), (Values{1, 2.5f, 4, 5}));
  EXPECT_EQ(d.y.to_vector(), (Values{3, 6}));
}

TEST_F(CsvTest, LastLineWithoutNewline) {
  const CsvData d = read_csv(write("nonl.csv", "a,b\n1,2\n3,4"));
  EXPECT_EQ(d.y.to_vector(), (Values{2, 4}));
}

TEST_F(CsvTest, ReadsGzippedFile) {
  const std::string path = (dir_ / "g.csv.gz").string();
  myelin::data::detail::write_gzip(path, "p,q\n1,2\n3,4\n5,6\n");
  const CsvData d = read_csv(path);
  EXPECT_EQ(d.x.to_vector(), (Values{1, 3, 5}));
  EXPECT_EQ(d.y.to_vector(), (Values{2, 4, 6}));
}

TEST_F(CsvTest, SkipRowsAndNoHeader) {
  CsvOptions opt;
  opt.skip_rows = 2;
  opt.header = false;
  const CsvData d = read_csv(write("skip.csv", "3,2,meta\nnot,numbers\n1,2,0\n3,4,1\n5,6,2\n"), opt);
  EXPECT_EQ(d.x.shape(), (myelin::Shape{3, 2}));
  EXPECT_EQ(d.y.to_vector(), (Values{0, 1, 2}));
  EXPECT_EQ(d.feature_names, (Names{"0", "1"}));
  EXPECT_EQ(d.target_name, "2");
}

TEST_F(CsvTest, TabAndSpaceDelimiters) {
  CsvOptions tab;
  tab.delimiter = '\t';
  CsvData d = read_csv(write("t.tsv", "a\tb\n 1\t2 \n3\t4\n"), tab);
  EXPECT_EQ(d.x.to_vector(), (Values{1, 3}));
  EXPECT_EQ(d.y.to_vector(), (Values{2, 4}));

  CsvOptions space;
  space.delimiter = ' ';
  space.header = false;
  d = read_csv(write("s.txt", "  1   2 3\n4 5\t 6  \n"), space);
  EXPECT_EQ(d.x.to_vector(), (Values{1, 2, 4, 5}));
  EXPECT_EQ(d.y.to_vector(), (Values{3, 6}));
}

TEST_F(CsvTest, LongLinesAndManyRowsCrossReadBuffers) {
  // 30,000 columns make a line far longer than the reader's 64 KiB block.
  std::string text;
  const int cols = 30000;
  for (int c = 0; c < cols; ++c) text += (c ? ",c" : "c") + std::to_string(c);
  text += "\n";
  for (int r = 0; r < 3; ++r) {
    for (int c = 0; c < cols; ++c) text += (c ? "," : "") + std::to_string(r * 10 + c % 7);
    text += "\r\n";
  }
  CsvOptions opt;
  opt.no_target = true;
  CsvData d = read_csv(write("wide.csv", text), opt);
  ASSERT_EQ(d.x.shape(), (myelin::Shape{3, cols}));
  EXPECT_EQ(d.x.at(2, cols - 1), 20 + (cols - 1) % 7);
  EXPECT_EQ(d.feature_names.back(), "c29999");

  std::string tall = "v,w\n";
  double sum = 0;
  for (int r = 0; r < 20000; ++r) {
    tall += std::to_string(r) + "," + std::to_string(r % 3) + "\n";
    sum += r;
  }
  d = read_csv(write("tall.csv", tall));
  ASSERT_EQ(d.x.rows(), 20000);
  double got = 0;
  for (int64_t r = 0; r < 20000; ++r) got += d.x[r];
  EXPECT_EQ(got, sum);
  EXPECT_EQ(d.y[19999], 19999 % 3);
}

TEST_F(CsvTest, MissingCellNamesFileLineAndColumn) {
  const std::string path = write("missing.csv", "a,b,c\n1,2,3\n4,,6\n");
  expect_error<IOError>([&] { read_csv(path); }, {path, "line 3", "column 2", "\"b\"", "missing"});
  const std::string na = write("na.csv", "a,b,c\n1,2,3\n4,5,NA\n");
  expect_error<IOError>([&] { read_csv(na); }, {na, "line 3", "column 3", "\"c\"", "missing"});
  const std::string nan = write("nan.csv", "a,b\nnan,2\n");
  expect_error<IOError>([&] { read_csv(nan); }, {nan, "line 2", "column 1", "missing"});
}

TEST_F(CsvTest, NonNumericCellNamesFileLineAndColumn) {
  const std::string path = write("text.csv", "a,b,c\n1,2,3\n\n4,5,6\n7,x1,9\n");
  // Line numbers count physical lines, blank ones included.
  expect_error<IOError>([&] { read_csv(path); }, {path, "line 5", "column 2", "\"b\"", "not a number", "x1"});
  const std::string partial = write("partial.csv", "a,b\n1.5.2,2\n");
  expect_error<IOError>([&] { read_csv(partial); }, {partial, "line 2", "column 1", "not a number"});
  CsvOptions no_header;
  no_header.header = false;
  const std::string hex = write("hex.csv", "1,2\n0x10,3\n");
  expect_error<IOError>([&] { read_csv(hex, no_header); }, {hex, "line 2", "column 1", "0x10"});
}

TEST_F(CsvTest, InfiniteAndOutOfRangeValuesAreRefused) {
  const std::string inf = write("inf.csv", "a,b\n1,inf\n");
  expect_error<IOError>([&] { read_csv(inf); }, {inf, "line 2", "column 2", "infinite"});
  const std::string big = write("big.csv", "a,b\n1e39,1\n");
  expect_error<IOError>([&] { read_csv(big); }, {big, "line 2", "column 1", "float32 range"});
  const std::string huge = write("huge.csv", "a,b\n1,1e999\n");
  expect_error<IOError>([&] { read_csv(huge); }, {huge, "line 2", "column 2", "out of range"});
}

TEST_F(CsvTest, WrongColumnCountNamesFileAndLine) {
  const std::string path = write("short.csv", "a,b,c\n1,2,3\n4,5\n");
  expect_error<IOError>([&] { read_csv(path); }, {path, "line 3", "expected 3 cells", "found 2"});
  const std::string longer = write("long.csv", "a,b\n1,2,3\n");
  expect_error<IOError>([&] { read_csv(longer); }, {longer, "line 2", "expected 2 cells", "found 3"});
}

TEST_F(CsvTest, BadQuotingNamesTheCell) {
  const std::string open = write("open.csv", "a,b\n1,\"2\n");
  expect_error<IOError>([&] { read_csv(open); }, {open, "line 2", "column 2", "unterminated quote"});
  const std::string stray = write("stray.csv", "a,b\n\"1\"x,2\n");
  expect_error<IOError>([&] { read_csv(stray); }, {stray, "line 2", "column 1", "after the closing quote"});
}

TEST_F(CsvTest, LineLongerThanTheLimitIsRefusedNamingFileAndLine) {
  CsvOptions opt;
  opt.max_line_bytes = 100;
  const std::string at_limit = std::string(48, '0') + "1," + std::string(49, '0') + "2";  // exactly 100 bytes
  const CsvData d = read_csv(write("limit.csv", "a,b\n" + at_limit + "\r\n"), opt);
  EXPECT_EQ(d.x[0], 1.0f);
  EXPECT_EQ(d.y[0], 2.0f);
  const std::string path = write("long.csv", "a,b\n1,2\n" + std::string(150, '7') + ",1\n3,4\n");
  expect_error<IOError>([&] { read_csv(path, opt); }, {path, "line 3", "longer than 100 bytes", "max_line_bytes"});
  // The last line, without a line end, too.
  const std::string last = write("last.csv", "a,b\n1,2\n" + std::string(150, '7') + ",1");
  expect_error<IOError>([&] { read_csv(last, opt); }, {last, "line 3", "longer than 100 bytes"});
}

TEST_F(CsvTest, FileWithoutLineEndsIsRefusedBeforeItIsBuffered) {
  // 3 MiB with no line end, gzip-compressed to a few KiB: the default 1 MiB limit stops it.
  const std::string path = (dir_ / "one_line.csv.gz").string();
  myelin::data::detail::write_gzip(path, "a,b\n" + std::string(3u << 20, '5'));
  expect_error<IOError>([&] { read_csv(path); }, {path, "line 2", "longer than 1048576 bytes"});
}

TEST_F(CsvTest, EmptyFilesAndBadOptions) {
  const std::string empty = write("empty.csv", "");
  expect_error<IOError>([&] { read_csv(empty); }, {empty, "no header"});
  const std::string header_only = write("header.csv", "a,b\n\n");
  expect_error<IOError>([&] { read_csv(header_only); }, {header_only, "no data lines"});
  const std::string missing = (dir_ / "absent.csv").string();
  expect_error<IOError>([&] { read_csv(missing); }, {missing, "No such file"});

  const std::string path = write("ok.csv", "a,b\n1,2\n");
  CsvOptions unknown;
  unknown.target_column = "zzz";
  expect_error<ValueError>([&] { read_csv(path, unknown); }, {path, "zzz", "a, b"});
  CsvOptions out_of_range;
  out_of_range.target_index = 2;
  expect_error<ValueError>([&] { read_csv(path, out_of_range); }, {path, "target_index 2", "2 columns"});
  CsvOptions both;
  both.target_column = "a";
  both.target_index = 0;
  EXPECT_THROW(read_csv(path, both), ValueError);
  CsvOptions contradictory;
  contradictory.no_target = true;
  contradictory.target_column = "a";
  EXPECT_THROW(read_csv(path, contradictory), ValueError);
  CsvOptions nameless;
  nameless.header = false;
  nameless.target_column = "a";
  EXPECT_THROW(read_csv(path, nameless), ValueError);
  CsvOptions no_room;
  no_room.max_line_bytes = 0;
  expect_error<ValueError>([&] { read_csv(path, no_room); }, {path, "max_line_bytes"});
}

}  // namespace
