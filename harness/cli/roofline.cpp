// dsconv roofline: the measured ceilings of this GPU.
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <iostream>

#include "harness/atomic_file.h"
#include "harness/cli/commands.h"
#include "harness/cuda_stream.h"
#include "harness/device_info.h"
#include "harness/roofline.h"

namespace dsconv::cli {

void add_roofline_command(CLI::App& app, Action& action) {
  auto json_out = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("roofline", "Measure this GPU's copy bandwidth, FFMA peak, SGEMM and TF32 rates");
  cmd->add_option("--json", *json_out, "Also write the numbers to this JSON file");
  cmd->callback([&action, json_out] {
    action = [json_out] {
      const DeviceInfo d = query_device();
      CudaStream stream;
      const Ceilings c = measure_ceilings(stream);
      std::cout << fmt::format(
          "{}\ncopy bandwidth   {:8.0f} GB/s   (device-to-device copy, bytes read + written)\n"
          "FFMA peak        {:8.1f} TFLOP/s (independent fp32 FMA chains)\n"
          "SGEMM            {:8.1f} TFLOP/s (cuBLAS 8192^3, FMA math only)\n"
          "TF32 GEMM        {:8.1f} TFLOP/s (cuBLAS 8192^3, TF32 tensor cores)\n",
          d.gpu, c.copy_gbps, c.ffma_tflops, c.sgemm_tflops, c.tf32_tflops);
      if (!json_out->empty())
        write_file_atomically(*json_out, nlohmann::json({{"gpu", d.gpu},
                                                         {"copy_gbps", c.copy_gbps},
                                                         {"ffma_tflops", c.ffma_tflops},
                                                         {"sgemm_tflops", c.sgemm_tflops},
                                                         {"tf32_tflops", c.tf32_tflops}})
                                             .dump(1) + "\n");
      return 0;
    };
  });
}

}  // namespace dsconv::cli
