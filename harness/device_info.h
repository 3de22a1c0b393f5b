// What the harness runs on: the GPU, driver, CUDA runtime and cuDNN. Every report carries
// this fingerprint, and the gate refuses to compare runs whose fingerprints differ.
#pragma once

#include <string>

namespace dsconv {

struct DeviceInfo {
  int ordinal = 0;
  std::string gpu;           // "NVIDIA H100 80GB HBM3"
  std::string slug;          // "h100": the results/<gpu>/ folder name
  std::string compute_capability;
  int multiprocessors = 0;
  long long memory_bytes = 0;
  int l2_bytes = 0;
  std::string driver;        // "580.159.04"
  std::string cuda_runtime;  // "13.0"
  std::string cudnn;         // "9.14.0"
};

// Number of usable CUDA devices; 0 (never an exception) when there is no GPU or driver.
int device_count();
// Why there is no usable device, for messages: the CUDA error, in words.
std::string no_device_reason();
// The current device. Throws DeviceError ("no CUDA device: ...") when there is none.
DeviceInfo query_device();
// "h100" from "NVIDIA H100 80GB HBM3", "h200" from "NVIDIA H200".
std::string gpu_slug(const std::string& gpu_name);
// Versions that need no GPU: the cuDNN and CUDA runtime this binary loaded.
std::string cudnn_version_string();
std::string cuda_runtime_version_string();

}  // namespace dsconv
