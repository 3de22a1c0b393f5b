// A host tensor: a shape and contiguous C-order data. The reference, the .npy reader and
// writer, the golden cases and the verifier all speak this type.
#pragma once

#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

namespace dsconv {

using Shape = std::vector<int64_t>;

inline int64_t element_count(const Shape& shape) {
  return std::accumulate(shape.begin(), shape.end(), int64_t{1}, [](int64_t a, int64_t b) { return a * b; });
}
std::string shape_string(const Shape& shape);  // "(16, 64, 512, 512)"

template <class T>
struct Tensor {
  Shape shape;
  std::vector<T> data;

  Tensor() = default;
  explicit Tensor(Shape s, T fill = T{}) : shape(std::move(s)), data(size_t(element_count(shape)), fill) {}

  int64_t numel() const { return int64_t(data.size()); }
  bool empty() const { return data.empty(); }
  T* ptr() { return data.data(); }
  const T* ptr() const { return data.data(); }
  T& operator[](int64_t i) { return data[size_t(i)]; }
  const T& operator[](int64_t i) const { return data[size_t(i)]; }
};

template <class To, class From>
Tensor<To> tensor_cast(const Tensor<From>& in) {
  Tensor<To> out;
  out.shape = in.shape;
  out.data.assign(in.data.begin(), in.data.end());
  return out;
}

}  // namespace dsconv
