// dsconv info: the GPU, driver, CUDA runtime and cuDNN this binary runs on.
#include <fmt/format.h>

#include <iostream>

#include "harness/cli/commands.h"
#include "harness/device_info.h"
#include "harness/errors.h"

namespace dsconv::cli {

void add_info_command(CLI::App& app, Action& action) {
  CLI::App* cmd = app.add_subcommand("info", "Show the GPU, driver, CUDA runtime and cuDNN versions");
  cmd->callback([&action] {
    action = [] {
      if (device_count() == 0) {
        std::cerr << fmt::format("dsconv: error: no CUDA device: {}\n", no_device_reason());
        std::cout << fmt::format("CUDA runtime {}, cuDNN {}\n", cuda_runtime_version_string(), cudnn_version_string());
        return int(kExitNoDevice);
      }
      const DeviceInfo d = query_device();
      std::cout << fmt::format(
          "GPU           {} (device {}, compute capability {}, {} SMs, {:.1f} GiB, L2 {:.0f} MiB)\n"
          "driver        {}\nCUDA runtime  {}\ncuDNN         {}\nresults under results/{}/\n",
          d.gpu, d.ordinal, d.compute_capability, d.multiprocessors, double(d.memory_bytes) / (1 << 30),
          double(d.l2_bytes) / (1 << 20), d.driver, d.cuda_runtime, d.cudnn, d.slug);
      return 0;
    };
  });
}

}  // namespace dsconv::cli
