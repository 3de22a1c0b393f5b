// The dsconv command line end to end, on the CPU: what it prints and the exit codes.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>

#include "harness/device_info.h"
#include "harness/npy.h"
#include "test_helpers.h"

namespace dsconv {
namespace {

namespace fs = std::filesystem;

using Result = testing::CliResult;
Result dsconv(const std::string& args) { return testing::run_dsconv(args); }

std::string case_dir(const char* name) { return std::string(DSCONV_TEST_DATA) + "/cases/" + name; }

TEST(Cli, ListShowsEveryImplementation) {
  const Result r = dsconv("list");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  for (const char* name : {"naive", "cudnn", "cudnn_tf32"}) EXPECT_NE(r.output.find(name), std::string::npos);
}

TEST(Cli, CheckReferencePassesEveryCommittedCase) {
  std::string args = "check --impl reference";
  for (const auto& entry : fs::directory_iterator(std::string(DSCONV_TEST_DATA) + "/cases"))
    args += " --case " + entry.path().string();
  const Result r = dsconv(args);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("check: 16 of 16 passed"), std::string::npos) << r.output;
}

TEST(Cli, CheckFailsOnAnAlteredCase) {
  testing::TempDir dir;
  const fs::path c = dir.path() / "altered";
  fs::copy(case_dir("wide_channels"), c, fs::copy_options::recursive);
  Tensor<double> y = read_npy_as_double((c / "y.npy").string());
  y[100] += 1e-6 * std::abs(y[100]) + 1e-9;
  write_npy((c / "y.npy").string(), y);
  const Result r = dsconv("check --case " + c.string());
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("FAIL"), std::string::npos) << r.output;
}

TEST(Cli, UnknownImplementationIsBadInput) {
  const Result r = dsconv("verify --impl warp_speed");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("unknown implementation 'warp_speed'"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("naive"), std::string::npos) << r.output;  // lists the known ones
}

TEST(Cli, ImpossibleProblemIsBadInput) {
  const Result r = dsconv("verify --problem h=2,w=2,k=7,padding=0");
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("kh = 7"), std::string::npos) << r.output;
}

TEST(Cli, MalformedNpyIsBadInput) {
  testing::TempDir dir;
  const fs::path c = dir.path() / "broken";
  fs::copy(case_dir("basic_3x3"), c, fs::copy_options::recursive);
  testing::write_bytes((c / "x.npy").string(), "garbage");
  const Result r = dsconv("check --case " + c.string());
  EXPECT_EQ(r.exit_code, 2) << r.output;
  EXPECT_NE(r.output.find("x.npy"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("bad magic"), std::string::npos) << r.output;
}

TEST(Cli, BadArgumentsAreBadInput) {
  EXPECT_EQ(dsconv("").exit_code, 2);
  EXPECT_EQ(dsconv("verify --pass sideways").exit_code, 2);
  EXPECT_EQ(dsconv("verify --seed -1").exit_code, 2);  // not read as 2^64 - 1
  EXPECT_EQ(dsconv("check").exit_code, 2);  // --case is required
  EXPECT_EQ(dsconv("check --case /nonexistent/case").exit_code, 2);
  EXPECT_EQ(dsconv("--help").exit_code, 0);
  const Result unknown = dsconv("frobnicate --impl naive");
  EXPECT_EQ(unknown.exit_code, 2) << unknown.output;
  EXPECT_NE(unknown.output.find("unknown command 'frobnicate'"), std::string::npos) << unknown.output;
  EXPECT_NE(unknown.output.find("verify"), std::string::npos) << unknown.output;  // lists the commands
}

TEST(Cli, BadOutputPathsFailBeforeTheRun) {
  // Checked before the GPU is touched: these exit 2 on machines with and without one.
  testing::TempDir dir;
  testing::write_bytes(dir.file("plain.txt"), "a file, not a folder");
  const Result not_json = dsconv("bench --impl naive --problem n=1,h=8,w=8 --json " + dir.file("out.txt"));
  EXPECT_EQ(not_json.exit_code, 2) << not_json.output;
  EXPECT_NE(not_json.output.find("must end in .json"), std::string::npos) << not_json.output;
  const Result under_file = dsconv("bench --impl naive --problem n=1,h=8,w=8 --json " + dir.file("plain.txt/out.json"));
  EXPECT_EQ(under_file.exit_code, 2) << under_file.output;
  EXPECT_NE(under_file.output.find("is not a folder"), std::string::npos) << under_file.output;
  EXPECT_EQ(under_file.output.find("no CUDA device"), std::string::npos) << under_file.output;
}

TEST(Cli, NoGpuGivesExitThree) {
  if (device_count() > 0) GTEST_SKIP() << "a GPU is present; this test is for machines without one";
  const Result info = dsconv("info");
  EXPECT_EQ(info.exit_code, 3) << info.output;
  EXPECT_NE(info.output.find("no CUDA device"), std::string::npos) << info.output;
  const Result verify = dsconv("verify --impl naive");
  EXPECT_EQ(verify.exit_code, 3) << verify.output;
  EXPECT_NE(verify.output.find("no CUDA device"), std::string::npos) << verify.output;
  const Result check = dsconv("check --impl naive --case " + case_dir("basic_3x3"));
  EXPECT_EQ(check.exit_code, 3) << check.output;
}

}  // namespace
}  // namespace dsconv
