// An owned block of device memory (cudaMalloc; never managed memory).
#pragma once

#include <cstddef>
#include <string>

namespace dsconv {

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  // Throws DeviceError ("out of device memory: ... for <what>") when the allocation fails.
  DeviceBuffer(size_t bytes, const std::string& what);
  DeviceBuffer(DeviceBuffer&& other) noexcept;
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer();

  void* get() const { return ptr_; }
  template <class T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }
  size_t bytes() const { return bytes_; }

 private:
  void* ptr_ = nullptr;
  size_t bytes_ = 0;
};

}  // namespace dsconv
