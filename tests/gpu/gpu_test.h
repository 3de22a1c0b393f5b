// GPU tests skip, with the reason shown, on machines without a usable device.
#pragma once

#include <gtest/gtest.h>

#include "harness/device_info.h"

#define DSCONV_REQUIRE_GPU()                                                   \
  do {                                                                         \
    if (::dsconv::device_count() == 0)                                         \
      GTEST_SKIP() << "no CUDA device: " << ::dsconv::no_device_reason();      \
  } while (0)
