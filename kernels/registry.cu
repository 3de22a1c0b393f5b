// The one list of implementations. Each file in this folder defines its factory; the
// order here is the order of `dsconv list`, the reports and the plots.
#include <fmt/format.h>

#include "harness/errors.h"
#include "kernels/kernel.h"

namespace dsconv {

const Kernel& cudnn_kernel();
const Kernel& cudnn_tf32_kernel();
const Kernel& naive_kernel();
const Kernel& tiled_kernel();
const Kernel& fused_kernel();

const std::vector<const Kernel*>& all_kernels() {
  static const std::vector<const Kernel*> kernels = {
      &cudnn_kernel(),
      &cudnn_tf32_kernel(),
      &naive_kernel(),
      &tiled_kernel(),
      &fused_kernel(),
  };
  return kernels;
}

const Kernel* find_kernel(std::string_view name) {
  for (const Kernel* k : all_kernels())
    if (k->name() == name) return k;
  return nullptr;
}

std::string kernel_names() {
  std::string names;
  for (const Kernel* k : all_kernels()) names += (names.empty() ? "" : ", ") + std::string(k->name());
  return names;
}

std::vector<const Kernel*> select_kernels(std::string_view names) {
  if (names == "all") return all_kernels();
  std::vector<const Kernel*> selected;
  size_t pos = 0;
  while (pos <= names.size()) {
    const size_t end = std::min(names.find(',', pos), names.size());
    const std::string_view name = names.substr(pos, end - pos);
    pos = end + 1;
    if (name.empty()) continue;
    const Kernel* k = find_kernel(name);
    if (!k) throw InputError(fmt::format("unknown implementation '{}': known are {} (or all)", name, kernel_names()));
    selected.push_back(k);
  }
  if (selected.empty()) throw InputError("no implementation named: expected a name, a list or all");
  return selected;
}

}  // namespace dsconv
