// naive: the readable baseline. One thread per output element and one thread per gradient
// element, each looping over its whole reduction in fp32, 64-bit indices everywhere. Any
// valid shape. It exists to be obviously right, not fast: every other implementation must
// match it and beat it.
//
// The depthwise output t (forward and backward) and dt = W_pw^T dy (backward) go through
// device memory, in scratch buffers that prepare() allocates.
//
// The long reductions (a weight gradient sums over every pixel of every image: 4M terms
// at the KernelBench shape) accumulate in levels: blocks of at most kBlockSum terms (or one
// output row), then per image, then over images. One running fp32 sum of millions of
// same-signed terms stagnates - each new term is rounded against a huge partial sum - and
// lands far outside the verification bound; the levels keep every rounding against a
// partial of a few thousand terms. It is still one thread per gradient element.
#include "kernels/cuda_check.h"
#include "kernels/kernel.h"

namespace dsconv {
namespace {

// The shape, in a form that crosses to the device by value.
struct Shape {
  int64_t n, c_in, c_out, h, w, ho, wo;
  int kh, kw, sh, sw, ph, pw, dh, dw;
};

Shape device_shape(const Problem& p) {
  const Conv2dParams& c = p.conv;
  return {p.n, p.c_in, p.c_out, p.h, p.w, p.out_h(), p.out_w(), c.kh, c.kw, c.stride_h, c.stride_w,
          c.pad_h, c.pad_w, c.dil_h, c.dil_w};
}

constexpr int kThreads = 256;
constexpr int64_t kBlockSum = 2048;

// Sums term(i) for i in [0, count): blocks of kBlockSum terms, then the blocks.
template <class Term>
__device__ float blocked_sum(int64_t count, Term term) {
  float total = 0.0f;
  for (int64_t start = 0; start < count; start += kBlockSum) {
    const int64_t end = start + kBlockSum < count ? start + kBlockSum : count;
    float block = 0.0f;
    for (int64_t i = start; i < end; ++i) block += term(i);
    total += block;
  }
  return total;
}

unsigned blocks_for(int64_t threads) {
  // Grid-stride loops cover anything past this many blocks.
  const int64_t blocks = (threads + kThreads - 1) / kThreads;
  return unsigned(blocks < (1 << 20) ? (blocks > 0 ? blocks : 1) : (1 << 20));
}

#define GRID_STRIDE_LOOP(i, count) \
  for (int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x; i < (count); i += int64_t(gridDim.x) * blockDim.x)

// t[n,c,oh,ow] = b_dw[c] + sum over taps of w_dw[c,i,j] * x[n,c,ih,iw]
__global__ void depthwise_forward(Shape s, const float* x, const float* w_dw, const float* b_dw, float* t) {
  GRID_STRIDE_LOOP(idx, s.n * s.c_in * s.ho * s.wo) {
    const int64_t ow = idx % s.wo, oh = (idx / s.wo) % s.ho, plane = idx / (s.wo * s.ho);
    const int64_t c = plane % s.c_in;
    float acc = b_dw ? b_dw[c] : 0.0f;
    for (int i = 0; i < s.kh; ++i) {
      const int64_t ih = oh * s.sh - s.ph + int64_t(i) * s.dh;
      if (ih < 0 || ih >= s.h) continue;
      for (int j = 0; j < s.kw; ++j) {
        const int64_t iw = ow * s.sw - s.pw + int64_t(j) * s.dw;
        if (iw < 0 || iw >= s.w) continue;
        acc += w_dw[(c * s.kh + i) * s.kw + j] * x[(plane * s.h + ih) * s.w + iw];
      }
    }
    t[idx] = acc;
  }
}

// y[n,co,p] = b_pw[co] + sum over ci of w_pw[co,ci] * t[n,ci,p]
__global__ void pointwise_forward(Shape s, const float* t, const float* w_pw, const float* b_pw, float* y) {
  const int64_t pixels = s.ho * s.wo;
  GRID_STRIDE_LOOP(idx, s.n * s.c_out * pixels) {
    const int64_t p = idx % pixels, co = (idx / pixels) % s.c_out, n = idx / (pixels * s.c_out);
    float acc = b_pw ? b_pw[co] : 0.0f;
    for (int64_t ci = 0; ci < s.c_in; ++ci) acc += w_pw[co * s.c_in + ci] * t[(n * s.c_in + ci) * pixels + p];
    y[idx] = acc;
  }
}

// dt[n,ci,p] = sum over co of w_pw[co,ci] * dy[n,co,p]
__global__ void pointwise_backward_data(Shape s, const float* dy, const float* w_pw, float* dt) {
  const int64_t pixels = s.ho * s.wo;
  GRID_STRIDE_LOOP(idx, s.n * s.c_in * pixels) {
    const int64_t p = idx % pixels, ci = (idx / pixels) % s.c_in, n = idx / (pixels * s.c_in);
    float acc = 0.0f;
    for (int64_t co = 0; co < s.c_out; ++co) acc += w_pw[co * s.c_in + ci] * dy[(n * s.c_out + co) * pixels + p];
    dt[idx] = acc;
  }
}

// dw_pw[co,ci] = sum over n,p of dy[n,co,p] * t[n,ci,p]
__global__ void pointwise_backward_weight(Shape s, const float* dy, const float* t, float* dw_pw) {
  const int64_t pixels = s.ho * s.wo;
  GRID_STRIDE_LOOP(idx, s.c_out * s.c_in) {
    const int64_t ci = idx % s.c_in, co = idx / s.c_in;
    float total = 0.0f;
    for (int64_t n = 0; n < s.n; ++n) {
      const float* dy_plane = dy + (n * s.c_out + co) * pixels;
      const float* t_plane = t + (n * s.c_in + ci) * pixels;
      total += blocked_sum(pixels, [&](int64_t p) { return dy_plane[p] * t_plane[p]; });
    }
    dw_pw[idx] = total;
  }
}

// db[c] = sum over n,p of g[n,c,p], for g with `channels` channels
__global__ void bias_backward(int64_t n_images, int64_t channels, int64_t pixels, const float* g, float* db) {
  GRID_STRIDE_LOOP(c, channels) {
    float total = 0.0f;
    for (int64_t n = 0; n < n_images; ++n) {
      const float* plane = g + (n * channels + c) * pixels;
      total += blocked_sum(pixels, [&](int64_t p) { return plane[p]; });
    }
    db[c] = total;
  }
}

// dx[n,c,ih,iw] = sum over the taps (i,j) and output pixels (oh,ow) that read x[n,c,ih,iw]
// of w_dw[c,i,j] * dt[n,c,oh,ow]: oh*sh - ph + i*dh = ih must hold exactly.
__global__ void depthwise_backward_data(Shape s, const float* dt, const float* w_dw, float* dx) {
  GRID_STRIDE_LOOP(idx, s.n * s.c_in * s.h * s.w) {
    const int64_t iw = idx % s.w, ih = (idx / s.w) % s.h, plane = idx / (s.w * s.h);
    const int64_t c = plane % s.c_in;
    float acc = 0.0f;
    for (int i = 0; i < s.kh; ++i) {
      const int64_t oh_scaled = ih + s.ph - int64_t(i) * s.dh;
      if (oh_scaled < 0 || oh_scaled % s.sh != 0 || oh_scaled / s.sh >= s.ho) continue;
      for (int j = 0; j < s.kw; ++j) {
        const int64_t ow_scaled = iw + s.pw - int64_t(j) * s.dw;
        if (ow_scaled < 0 || ow_scaled % s.sw != 0 || ow_scaled / s.sw >= s.wo) continue;
        acc += w_dw[(c * s.kh + i) * s.kw + j] * dt[(plane * s.ho + oh_scaled / s.sh) * s.wo + ow_scaled / s.sw];
      }
    }
    dx[idx] = acc;
  }
}

// dw_dw[c,i,j] = sum over n,oh,ow of x[n,c,ih,iw] * dt[n,c,oh,ow]
__global__ void depthwise_backward_weight(Shape s, const float* x, const float* dt, float* dw_dw) {
  GRID_STRIDE_LOOP(idx, s.c_in * s.kh * s.kw) {
    const int j = int(idx % s.kw), i = int((idx / s.kw) % s.kh);
    const int64_t c = idx / (int64_t(s.kw) * s.kh);
    float total = 0.0f;
    for (int64_t n = 0; n < s.n; ++n) {
      const int64_t plane = n * s.c_in + c;
      float image = 0.0f;
      for (int64_t oh = 0; oh < s.ho; ++oh) {
        const int64_t ih = oh * s.sh - s.ph + int64_t(i) * s.dh;
        if (ih < 0 || ih >= s.h) continue;
        float row = 0.0f;
        for (int64_t ow = 0; ow < s.wo; ++ow) {
          const int64_t iw = ow * s.sw - s.pw + int64_t(j) * s.dw;
          if (iw < 0 || iw >= s.w) continue;
          row += x[(plane * s.h + ih) * s.w + iw] * dt[(plane * s.ho + oh) * s.wo + ow];
        }
        image += row;
      }
      total += image;
    }
    dw_dw[idx] = total;
  }
}

struct Scratch {
  float* t;
  float* dt;
};

class Naive final : public Kernel {
 public:
  std::string_view name() const override { return "naive"; }
  std::string_view summary() const override {
    return "one thread per output and per gradient element, fp32, t and dt through device memory; deterministic";
  }
  void prepare(const Problem& p, Workspace& ws) const override {
    ws.plan = Scratch{ws.allocate_array<float>(size_t(p.t_elems())), ws.allocate_array<float>(size_t(p.t_elems()))};
  }
  void forward(const Problem& p, const DeviceTensors& d, Workspace& ws, cudaStream_t stream) const override {
    const Shape s = device_shape(p);
    const auto scratch = std::any_cast<Scratch>(ws.plan);
    depthwise_forward<<<blocks_for(p.t_elems()), kThreads, 0, stream>>>(s, d.x, d.w_dw, d.b_dw, scratch.t);
    DSCONV_LAUNCH_CHECK();
    pointwise_forward<<<blocks_for(p.y_elems()), kThreads, 0, stream>>>(s, scratch.t, d.w_pw, d.b_pw, d.y);
    DSCONV_LAUNCH_CHECK();
  }
  void backward(const Problem& p, const DeviceTensors& d, Workspace& ws, cudaStream_t stream) const override {
    const Shape s = device_shape(p);
    const auto scratch = std::any_cast<Scratch>(ws.plan);
    const int64_t pixels = p.out_h() * p.out_w();
    depthwise_forward<<<blocks_for(p.t_elems()), kThreads, 0, stream>>>(s, d.x, d.w_dw, d.b_dw, scratch.t);
    DSCONV_LAUNCH_CHECK();
    pointwise_backward_data<<<blocks_for(p.t_elems()), kThreads, 0, stream>>>(s, d.dy, d.w_pw, scratch.dt);
    DSCONV_LAUNCH_CHECK();
    pointwise_backward_weight<<<blocks_for(p.w_pw_elems()), kThreads, 0, stream>>>(s, d.dy, scratch.t, d.dw_pw);
    DSCONV_LAUNCH_CHECK();
    depthwise_backward_data<<<blocks_for(p.x_elems()), kThreads, 0, stream>>>(s, scratch.dt, d.w_dw, d.dx);
    DSCONV_LAUNCH_CHECK();
    depthwise_backward_weight<<<blocks_for(p.w_dw_elems()), kThreads, 0, stream>>>(s, d.x, scratch.dt, d.dw_dw);
    DSCONV_LAUNCH_CHECK();
    if (p.bias) {
      bias_backward<<<blocks_for(p.c_out), kThreads, 0, stream>>>(p.n, p.c_out, pixels, d.dy, d.db_pw);
      DSCONV_LAUNCH_CHECK();
      bias_backward<<<blocks_for(p.c_in), kThreads, 0, stream>>>(p.n, p.c_in, pixels, scratch.dt, d.db_dw);
      DSCONV_LAUNCH_CHECK();
    }
  }
};

}  // namespace

const Kernel& naive_kernel() {
  static const Naive kernel;
  return kernel;
}

}  // namespace dsconv
