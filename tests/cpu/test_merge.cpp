// dsconv merge end to end on the CPU: damaged result files are bad input, every shard of a
// sweep must be there, and each shard's rows keep the ceilings that shard measured.
#include <gtest/gtest.h>

#include <functional>
#include <map>
#include <nlohmann/json.hpp>

#include "test_helpers.h"

namespace dsconv {
namespace {

using nlohmann::json;
using Result = testing::CliResult;

json fixture() {
  return json::parse(testing::read_bytes(std::string(DSCONV_TEST_DATA) + "/reports/sweep_fixture.json"));
}

// The fixture changed by `edit`, written to `name` in `dir`; returns its path.
std::string write_edited(const testing::TempDir& dir, const std::string& name, const std::function<void(json&)>& edit) {
  json doc = fixture();
  edit(doc);
  const std::string path = dir.file(name);
  testing::write_bytes(path, doc.dump());
  return path;
}

// The fixture's rows split by problem into shards 0 and 1 of 2; shard 1 measured ceilings
// 10% lower, and `edit_second` changes it further.
std::pair<std::string, std::string> two_shards(
    const testing::TempDir& dir, const std::function<void(json&)>& edit_second = [](json&) {}) {
  const std::string first_x = fixture()["dsconv"]["rows"][0]["x"].dump();
  auto keep = [first_x](json& doc, bool first) {
    json kept = json::array();
    for (const json& row : doc["dsconv"]["rows"])
      if ((row["x"].dump() == first_x) == first) kept.push_back(row);
    doc["dsconv"]["rows"] = kept;
    doc["dsconv"]["shard"] = {{"index", first ? 0 : 1}, {"count", 2}};
  };
  const std::string a = write_edited(dir, "a.json", [&](json& doc) { keep(doc, true); });
  const std::string b = write_edited(dir, "b.json", [&](json& doc) {
    keep(doc, false);
    for (auto& [key, value] : doc["dsconv"]["ceilings"].items()) value = value.get<double>() * 0.9;
    edit_second(doc);
  });
  return {a, b};
}

Result merge(const std::string& args) { return testing::run_dsconv("merge " + args); }

TEST(Merge, DamagedResultFilesAreBadInput) {
  testing::TempDir dir;
  const std::pair<const char*, std::function<void(json&)>> damages[] = {
      {"lacks \"samples_ms\"", [](json& d) { d["dsconv"]["rows"][0].erase("samples_ms"); }},
      {"expected positive times in ms, got \"a\"", [](json& d) { d["dsconv"]["rows"][0]["samples_ms"] = {"a"}; }},
      {"dsconv.device.gpu: expected a string, got 3", [](json& d) { d["dsconv"]["device"]["gpu"] = 3; }},
      {"dsconv.rows[0].pass: expected forward or backward", [](json& d) { d["dsconv"]["rows"][0]["pass"] = "up"; }},
      {"problem field 'bias' is not true or false", [](json& d) { d["dsconv"]["rows"][0]["problem"]["bias"] = 7; }},
      {"dsconv.sweep: expected a string", [](json& d) { d["dsconv"]["sweep"] = json::array(); }},
  };
  for (const auto& [message, damage] : damages) {
    const std::string path = write_edited(dir, "damaged.json", damage);
    const Result r = merge(path + " --out " + dir.file("out.json"));
    EXPECT_EQ(r.exit_code, 2) << message << "\n" << r.output;
    EXPECT_NE(r.output.find(message), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("damaged.json"), std::string::npos) << r.output;
    EXPECT_FALSE(std::filesystem::exists(dir.file("out.json"))) << "no partial result file";
  }
}

TEST(Merge, NullStringsCountAsAbsent) {
  // The baseline script writes Python's None for a field its input lacked.
  testing::TempDir dir;
  const std::string path = write_edited(dir, "nulls.json", [](json& d) {
    d["dsconv"]["x_label"] = nullptr;
    d["dsconv"]["rows"][0]["reason"] = nullptr;
  });
  const Result r = merge(path + " --out " + dir.file("out.json"));
  EXPECT_EQ(r.exit_code, 0) << r.output;
  const std::string missing_gpu =
      write_edited(dir, "no-gpu.json", [](json& d) { d["dsconv"]["device"]["gpu"] = nullptr; });
  const Result refused = merge(missing_gpu + " --out " + dir.file("out2.json"));
  EXPECT_EQ(refused.exit_code, 2) << refused.output;
  EXPECT_NE(refused.output.find("missing field \"gpu\""), std::string::npos) << refused.output;
}

TEST(Merge, EveryShardMustBeThere) {
  testing::TempDir dir;
  const auto [a, b] = two_shards(dir);
  const Result alone = merge(a + " --out " + dir.file("out.json"));
  EXPECT_EQ(alone.exit_code, 2) << alone.output;
  EXPECT_NE(alone.output.find("shard 1 of 2 is missing"), std::string::npos) << alone.output;
  const Result twice = merge(a + " " + a + " " + b + " --out " + dir.file("out.json"));
  EXPECT_EQ(twice.exit_code, 2) << twice.output;
  EXPECT_NE(twice.output.find("shard 0 of 2 is given twice"), std::string::npos) << twice.output;
  EXPECT_FALSE(std::filesystem::exists(dir.file("out.json")));
}

TEST(Merge, EachShardKeepsItsOwnCeilings) {
  testing::TempDir dir;
  const std::string whole = write_edited(dir, "whole.json", [](json&) {});
  ASSERT_EQ(merge(whole + " --out " + dir.file("whole-out.json")).exit_code, 0);
  std::map<std::string, double> roof_of_whole;
  const json whole_merged = json::parse(testing::read_bytes(dir.file("whole-out.json")));
  for (const json& row : whole_merged["dsconv"]["rows"])
    if (row["status"] == "ok") roof_of_whole[row["benchmark"].get<std::string>()] = row["roof_pct"].get<double>();

  const auto [a, b] = two_shards(dir);
  const Result r = merge(a + " " + b + " --out " + dir.file("out.json"));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  int with_own = 0, ok_rows = 0;
  const json merged = json::parse(testing::read_bytes(dir.file("out.json")));
  for (const json& row : merged["dsconv"]["rows"]) {
    if (row["status"] != "ok") continue;
    ++ok_rows;
    const bool own = row.contains("ceilings");
    with_own += own;
    // Ceilings 10% lower make every floor 1 / 0.9 times longer, and roof% with it.
    EXPECT_NEAR(row["roof_pct"].get<double>(), roof_of_whole.at(row["benchmark"]) / (own ? 0.9 : 1.0), 1e-9)
        << row["benchmark"];
  }
  EXPECT_GT(with_own, 0);
  EXPECT_LT(with_own, ok_rows);
  EXPECT_NE(testing::read_bytes(dir.file("out.md")).find("measured other ceilings"), std::string::npos);
}

TEST(Merge, DifferentSoftwareNeedsTheFlag) {
  testing::TempDir dir;
  const auto [a, b] = two_shards(dir, [](json& doc) { doc["dsconv"]["device"]["cudnn"] = "8.0.0"; });
  const Result refused = merge(a + " " + b + " --out " + dir.file("out.json"));
  EXPECT_EQ(refused.exit_code, 2) << refused.output;
  EXPECT_NE(refused.output.find("cudnn 8.0.0"), std::string::npos) << refused.output;
  EXPECT_FALSE(std::filesystem::exists(dir.file("out.json")));
  const Result allowed = merge(a + " " + b + " --out " + dir.file("out.json") + " --allow-software-mismatch");
  EXPECT_EQ(allowed.exit_code, 0) << allowed.output;
}

}  // namespace
}  // namespace dsconv
