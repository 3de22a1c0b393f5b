# Every external dependency, found once, as imported targets.
find_package(CUDAToolkit 12.0 REQUIRED)
find_package(CUDNN 9 REQUIRED)
find_package(OpenMP REQUIRED COMPONENTS CXX)
find_package(Eigen3 3.4 REQUIRED NO_MODULE)
find_package(benchmark REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(fmt REQUIRED)
find_package(Threads REQUIRED)
if(DSCONV_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()

# yaml-cpp 0.8 exports yaml-cpp::yaml-cpp; 0.7 (Debian 12) exports plain yaml-cpp.
if(TARGET yaml-cpp::yaml-cpp)
  set(DSCONV_YAML_TARGET yaml-cpp::yaml-cpp)
else()
  set(DSCONV_YAML_TARGET yaml-cpp)
endif()

# CLI11 and nlohmann-json are header-only; some distributions ship them without a CMake
# package, so fall back to the header alone.
include(HeaderOnlyPackage)
header_only_package(CLI11 CLI11::CLI11 CLI/CLI.hpp)
header_only_package(nlohmann_json nlohmann_json::nlohmann_json nlohmann/json.hpp)
