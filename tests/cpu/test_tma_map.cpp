// TMA tensor maps: shapes the TMA unit cannot take are refused on the host, with a message
// that names the tensor and the rule, before the driver is asked (so this runs without a GPU).
#include <gtest/gtest.h>

#include <string>

#include "harness/errors.h"
#include "kernels/tma_map.h"

namespace dsconv {
namespace {

alignas(16) float storage[64];

std::string refusal(const float* base, std::initializer_list<uint64_t> dims, std::initializer_list<uint32_t> box) {
  try {
    tma::make_box_map(base, dims, box);
  } catch (const DeviceError& e) {
    return e.what();
  }
  return "accepted";
}

TEST(TmaMap, RefusesRowsThatAreNotWhole16Bytes) {
  const std::string message = refusal(storage, {6, 2}, {4, 2});
  EXPECT_NE(message.find("no TMA map for a 6 x 2 tensor"), std::string::npos) << message;
  EXPECT_NE(message.find("multiple of 4 floats"), std::string::npos) << message;
}

TEST(TmaMap, RefusesAnUnalignedBase) {
  const std::string message = refusal(storage + 1, {8, 2}, {8, 2});
  EXPECT_NE(message.find("16-byte aligned base"), std::string::npos) << message;
}

TEST(TmaMap, RefusesBoxSidesOutsideOneTo256) {
  EXPECT_NE(refusal(storage, {512, 2}, {257, 1}).find("box sides of 1 to 256"), std::string::npos);
  EXPECT_NE(refusal(storage, {8, 2}, {8, 0}).find("box sides of 1 to 256"), std::string::npos);
}

TEST(TmaMap, RefusesMismatchedOrUnsupportedRanks) {
  EXPECT_NE(refusal(storage, {8, 2, 2}, {8, 2}).find("rank 1 to 5"), std::string::npos);
  EXPECT_NE(refusal(storage, {4, 1, 1, 1, 1, 1}, {4, 1, 1, 1, 1, 1}).find("rank 1 to 5"), std::string::npos);
  EXPECT_NE(refusal(storage, {}, {}).find("rank 1 to 5"), std::string::npos);
}

}  // namespace
}  // namespace dsconv
