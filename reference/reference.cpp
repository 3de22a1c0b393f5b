#include "reference/reference.h"

#include <Eigen/Dense>

namespace dsconv::reference {

namespace {

using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using FloatRowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Strided = Eigen::Stride<Eigen::Dynamic, Eigen::Dynamic>;

// One image plane, zero-padded, and the strided, dilated view of it that tap (i, j) of the
// kernel sees: view(oh, ow) = padded(oh*stride_h + i*dil_h, ow*stride_w + j*dil_w).
class PaddedPlane {
 public:
  explicit PaddedPlane(const Problem& p)
      : p_(p), plane_(RowMatrix::Zero(p.h + 2 * p.conv.pad_h, p.w + 2 * p.conv.pad_w)) {}

  void load(const float* image) {
    plane_.block(p_.conv.pad_h, p_.conv.pad_w, p_.h, p_.w) =
        Eigen::Map<const FloatRowMatrix>(image, p_.h, p_.w).cast<double>();
  }
  void clear() { plane_.setZero(); }
  // The interior, without the padding.
  auto interior() const { return plane_.block(p_.conv.pad_h, p_.conv.pad_w, p_.h, p_.w); }

  Eigen::Map<const RowMatrix, 0, Strided> tap(int i, int j) const {
    return {plane_.data() + offset(i, j), p_.out_h(), p_.out_w(), stride()};
  }
  Eigen::Map<RowMatrix, 0, Strided> tap(int i, int j) { return {plane_.data() + offset(i, j), p_.out_h(), p_.out_w(), stride()}; }

 private:
  Eigen::Index offset(int i, int j) const {
    return Eigen::Index(i) * p_.conv.dil_h * plane_.cols() + Eigen::Index(j) * p_.conv.dil_w;
  }
  Strided stride() const { return Strided(p_.conv.stride_h * plane_.cols(), p_.conv.stride_w); }

  const Problem& p_;
  RowMatrix plane_;
};

double weight(const Inputs& in, const Problem& p, int64_t c, int i, int j) {
  return in.w_dw[(c * p.conv.kh + i) * p.conv.kw + j];
}

// dt = W_pw^T dy per image, and the pointwise weight and bias gradients.
void pointwise_backward(const Problem& p, const Inputs& in, const Tensor<double>& t, Tensor<double>& dt,
                        Outputs<double>& out) {
  const int64_t pixels = p.out_h() * p.out_w();
  const Eigen::Map<const FloatRowMatrix> w_pw(in.w_pw.ptr(), p.c_out, p.c_in);
  const RowMatrix w = w_pw.cast<double>();
  RowMatrix dw = RowMatrix::Zero(p.c_out, p.c_in);
  Eigen::VectorXd db = Eigen::VectorXd::Zero(p.c_out);
  dt = Tensor<double>({p.n, p.c_in, p.out_h(), p.out_w()});
  for (int64_t n = 0; n < p.n; ++n) {
    const RowMatrix dy = Eigen::Map<const FloatRowMatrix>(in.dy.ptr() + n * p.c_out * pixels, p.c_out, pixels).cast<double>();
    const Eigen::Map<const RowMatrix> t_n(t.ptr() + n * p.c_in * pixels, p.c_in, pixels);
    Eigen::Map<RowMatrix>(dt.ptr() + n * p.c_in * pixels, p.c_in, pixels).noalias() = w.transpose() * dy;
    dw.noalias() += dy * t_n.transpose();
    db += dy.rowwise().sum();
  }
  out.dw_pw = Tensor<double>({p.c_out, p.c_in, 1, 1});
  Eigen::Map<RowMatrix>(out.dw_pw.ptr(), p.c_out, p.c_in) = dw;
  if (p.bias) {
    out.db_pw = Tensor<double>({p.c_out});
    Eigen::Map<Eigen::VectorXd>(out.db_pw.ptr(), p.c_out) = db;
  }
}

// dx (the transposed depthwise convolution of dt), dW_dw (x correlated with dt), db_dw.
void depthwise_backward(const Problem& p, const Inputs& in, const Tensor<double>& dt, Outputs<double>& out) {
  const int64_t pixels = p.out_h() * p.out_w();
  const int kh = p.conv.kh, kw = p.conv.kw;
  out.dx = Tensor<double>({p.n, p.c_in, p.h, p.w});
  out.dw_dw = Tensor<double>({p.c_in, 1, kh, kw});
  if (p.bias) out.db_dw = Tensor<double>({p.c_in});

#pragma omp parallel for schedule(dynamic)
  for (int64_t c = 0; c < p.c_in; ++c) {
    PaddedPlane x_plane(p), dx_plane(p);
    Eigen::VectorXd dw = Eigen::VectorXd::Zero(kh * kw);
    double db = 0.0;
    for (int64_t n = 0; n < p.n; ++n) {
      const int64_t plane = n * p.c_in + c;
      const Eigen::Map<const RowMatrix> dt_plane(dt.ptr() + plane * pixels, p.out_h(), p.out_w());
      x_plane.load(in.x.ptr() + plane * p.h * p.w);
      dx_plane.clear();
      for (int i = 0; i < kh; ++i)
        for (int j = 0; j < kw; ++j) {
          dx_plane.tap(i, j) += weight(in, p, c, i, j) * dt_plane;
          dw[i * kw + j] += x_plane.tap(i, j).cwiseProduct(dt_plane).sum();
        }
      db += dt_plane.sum();
      Eigen::Map<RowMatrix>(out.dx.ptr() + plane * p.h * p.w, p.h, p.w) = dx_plane.interior();
    }
    Eigen::Map<Eigen::VectorXd>(out.dw_dw.ptr() + c * kh * kw, kh * kw) = dw;
    if (p.bias) out.db_dw[c] = db;
  }
}

}  // namespace

Tensor<double> depthwise_forward(const Problem& p, const Inputs& in) {
  Tensor<double> t({p.n, p.c_in, p.out_h(), p.out_w()});
  const int64_t pixels = p.out_h() * p.out_w();
#pragma omp parallel for schedule(dynamic)
  for (int64_t plane = 0; plane < p.n * p.c_in; ++plane) {
    const int64_t c = plane % p.c_in;
    PaddedPlane x_plane(p);
    x_plane.load(in.x.ptr() + plane * p.h * p.w);
    Eigen::Map<RowMatrix> t_plane(t.ptr() + plane * pixels, p.out_h(), p.out_w());
    t_plane.setConstant(p.bias ? double(in.b_dw[c]) : 0.0);
    for (int i = 0; i < p.conv.kh; ++i)
      for (int j = 0; j < p.conv.kw; ++j) t_plane += weight(in, p, c, i, j) * x_plane.tap(i, j);
  }
  return t;
}

Outputs<double> run(const Problem& p, const Inputs& in, Pass pass) {
  Outputs<double> out;
  const Tensor<double> t = depthwise_forward(p, in);
  const int64_t pixels = p.out_h() * p.out_w();
  if (pass == Pass::forward) {
    const RowMatrix w = Eigen::Map<const FloatRowMatrix>(in.w_pw.ptr(), p.c_out, p.c_in).cast<double>();
    out.y = Tensor<double>({p.n, p.c_out, p.out_h(), p.out_w()});
    for (int64_t n = 0; n < p.n; ++n) {
      Eigen::Map<RowMatrix> y(out.y.ptr() + n * p.c_out * pixels, p.c_out, pixels);
      y.noalias() = w * Eigen::Map<const RowMatrix>(t.ptr() + n * p.c_in * pixels, p.c_in, pixels);
      if (p.bias)
        y.colwise() += Eigen::Map<const Eigen::VectorXf>(in.b_pw.ptr(), p.c_out).cast<double>();
    }
    return out;
  }
  Tensor<double> dt;
  pointwise_backward(p, in, t, dt, out);
  depthwise_backward(p, in, dt, out);
  return out;
}

Result run_with_magnitude(const Problem& p, const Inputs& in, Pass pass) {
  return Result{run(p, in, pass), run(p, absolute(in), pass)};
}

}  // namespace dsconv::reference
