// NumPy .npy files: read and write float32 and float64 arrays, C order, little-endian
// (format versions 1.0, 2.0 and 3.0). Anything else is rejected with an InputError that
// names the file and what is wrong with it.
#pragma once

#include <string>

#include "harness/tensor.h"

namespace dsconv {

enum class NpyDtype { float32, float64 };

struct NpyArray {
  Shape shape;
  NpyDtype dtype = NpyDtype::float32;
  std::vector<double> values;  // float32 values widen exactly
};

NpyArray read_npy(const std::string& path);

// Reads a file that must hold float32 (inputs are float32 by the case format).
Tensor<float> read_npy_float32(const std::string& path);
// Reads float32 or float64, widened to double.
Tensor<double> read_npy_as_double(const std::string& path);

// Writes atomically: to a temporary name, then renamed over the target.
void write_npy(const std::string& path, const Tensor<float>& tensor);
void write_npy(const std::string& path, const Tensor<double>& tensor);

}  // namespace dsconv
