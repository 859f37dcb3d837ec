// MobileclfDenseGradAdam: the backward pass of z = x @ W fused with Adam's update of W.
//
// Why: in model1 almost every parameter sits in the first Dense kernel W [N, M] (2.4 M at
// 50 px, 9.8 M at 100 px, 91 M at 300 px). TensorFlow's backward pass reads W for dX,
// writes dW = x^T dz as a new tensor, and ResourceApplyAdam then reads dW, W, m and v and
// writes W, m and v: four passes over memory as large as W. With a batch of B rows, dW's
// row i is B multiply-adds of dz's rows, so it never needs to be stored: one pass per row
// of W computes dX's column i from the old row, the gradient row in registers, and Adam's
// update of W, m and v in place (24 bytes per parameter, the floor of any Adam step).
//
// Maths: ResourceApplyAdam's (non-Nesterov) formulas, term for term, on the gradient
// sum_b x[b, i] * dz[b, j] taken in order b = 0..B-1; dX uses W before the update, as
// autodiff's MatMul gradient does. Every row is computed by one thread in a fixed order,
// so the result does not depend on the thread count (bit for bit).
//
// Built by `make install` against the installed TensorFlow's headers
// (tf.sysconfig.get_compile_flags); mobileclf/train/fused_dense.py loads it and falls back
// to TensorFlow's own kernels when it is absent or does not load.
#include <cmath>
#include <cstring>
#include <vector>

#include "absl/strings/str_cat.h"

#include "tensorflow/core/framework/op.h"
#include "tensorflow/core/framework/op_kernel.h"
#include "tensorflow/core/framework/resource_mgr.h"
#include "tensorflow/core/framework/resource_var.h"
#include "tensorflow/core/framework/shape_inference.h"
#include "tensorflow/core/util/work_sharder.h"

using namespace tensorflow;  // NOLINT(build/namespaces)

REGISTER_OP("MobileclfDenseGradAdam")
    .Input("x: float")
    .Input("dz: float")
    .Input("var: resource")
    .Input("m: resource")
    .Input("v: resource")
    .Input("beta1_power: float")
    .Input("beta2_power: float")
    .Input("lr: float")
    .Input("beta1: float")
    .Input("beta2: float")
    .Input("epsilon: float")
    .Output("dx: float")
    .SetIsStateful()
    .SetShapeFn([](shape_inference::InferenceContext* c) {
      c->set_output(0, c->input(0));
      return absl::OkStatus();
    })
    .Doc("dX = dz @ W^T with W before the update; W, m, v updated by Adam on x^T @ dz.");

namespace {


// TensorFlow's PrepareToUpdateVariable: a buffer that a read still holds is copied
// before it is written, so no reader ever sees a half-updated tensor.
absl::Status PrepareToUpdate(OpKernelContext* ctx, Var* var) {
  Tensor* t = var->tensor();
  if (!var->copy_on_read_mode.load() && t->RefCountIsOne()) return absl::OkStatus();
  Tensor copy;
  TF_RETURN_IF_ERROR(ctx->allocate_temp(t->dtype(), t->shape(), &copy));
  std::memcpy(copy.flat<float>().data(), t->flat<float>().data(),
              sizeof(float) * t->NumElements());
  *t = copy;
  return absl::OkStatus();
}

struct Adam {
  float lr_t, one_minus_beta1, one_minus_beta2, epsilon;
};

// GCC/Clang vector extensions, as wide as the target's registers (a wider type would live
// on the stack): 16 lanes with AVX-512, 8 with AVX/AVX2, else 4. The lane count fixes the
// order of dX's sums, so builds for different CPUs may differ in the last bits.
#if defined(__AVX512F__)
constexpr int kLanes = 16;
#elif defined(__AVX__)
constexpr int kLanes = 8;
#else
constexpr int kLanes = 4;
#endif
typedef float Vec __attribute__((vector_size(kLanes * sizeof(float))));
typedef float Quad __attribute__((vector_size(4 * sizeof(float))));

__attribute__((always_inline)) inline Vec Load(const float* p) {
  Vec out;
  std::memcpy(&out, p, sizeof(Vec));
  return out;
}

// the lanes' sum as a fixed pairwise tree, in registers
__attribute__((always_inline)) inline float Sum(Vec a) {
#if defined(__AVX512F__)
  typedef float Oct __attribute__((vector_size(8 * sizeof(float))));
  const Oct o = __builtin_shufflevector(a, a, 0, 1, 2, 3, 4, 5, 6, 7) +
                __builtin_shufflevector(a, a, 8, 9, 10, 11, 12, 13, 14, 15);
  const Quad q = __builtin_shufflevector(o, o, 0, 1, 2, 3) + __builtin_shufflevector(o, o, 4, 5, 6, 7);
#elif defined(__AVX__)
  const Quad q = __builtin_shufflevector(a, a, 0, 1, 2, 3) + __builtin_shufflevector(a, a, 4, 5, 6, 7);
#else
  const Quad q = a;
#endif
  return (q[0] + q[2]) + (q[1] + q[3]);
}

// One row i of the kernel: dX[:, i] from the old row, the gradient row, Adam in place.
// x and dx are read and written at stride n (column i of [B, n] matrices).
__attribute__((always_inline)) inline void Row(const float* __restrict x, int64_t n, const float* __restrict dz,
                int64_t batch, int64_t units, float* __restrict w, float* __restrict m,
                float* __restrict v, float* __restrict grad, float* __restrict dx,
                const Adam& adam) {
  const int64_t full = units - units % kLanes;
  // dX[b, i] = dz[b, :] . W[i, :] (old W): kLanes partial sums, then the tail
  for (int64_t b = 0; b < batch; ++b) {
    const float* __restrict dz_row = dz + b * units;
    Vec acc = {};
    for (int64_t j = 0; j < full; j += kLanes) acc += Load(dz_row + j) * Load(w + j);
    float sum = Sum(acc);
    for (int64_t j = full; j < units; ++j) sum += dz_row[j] * w[j];
    dx[b * n] = sum;
  }
  // dW[i, :] = sum_b x[b, i] * dz[b, :], in b order
  for (int64_t j = 0; j < units; ++j) grad[j] = 0.0f;
  for (int64_t b = 0; b < batch; ++b) {
    const float xb = x[b * n];
    const float* __restrict dz_row = dz + b * units;
    for (int64_t j = 0; j < units; ++j) grad[j] += xb * dz_row[j];
  }
  // Adam, as TensorFlow's ApplyAdam functor
  for (int64_t j = 0; j < units; ++j) {
    const float g = grad[j];
    const float mj = m[j] + (g - m[j]) * adam.one_minus_beta1;
    const float vj = v[j] + (g * g - v[j]) * adam.one_minus_beta2;
    m[j] = mj;
    v[j] = vj;
    w[j] -= (mj * adam.lr_t) / (std::sqrt(vj) + adam.epsilon);
  }
}

float Scalar(OpKernelContext* ctx, int index) { return ctx->input(index).scalar<float>()(); }

class DenseGradAdamOp : public OpKernel {
 public:
  explicit DenseGradAdamOp(OpKernelConstruction* ctx) : OpKernel(ctx) {}

  void Compute(OpKernelContext* ctx) override {
    const Tensor& x = ctx->input(0);
    const Tensor& dz = ctx->input(1);
    core::RefCountPtr<Var> var, m, v;
    OP_REQUIRES_OK(ctx, LookupResource(ctx, HandleFromInput(ctx, 2), &var));
    OP_REQUIRES_OK(ctx, LookupResource(ctx, HandleFromInput(ctx, 3), &m));
    OP_REQUIRES_OK(ctx, LookupResource(ctx, HandleFromInput(ctx, 4), &v));
    for (int i = 5; i < 11; ++i) {
      OP_REQUIRES(ctx, TensorShapeUtils::IsScalar(ctx->input(i).shape()),
                  absl::InvalidArgumentError(absl::StrCat("input ", i, " must be a scalar")));
    }
    mutex_lock lock_var(*var->mu());
    mutex_lock lock_m(*m->mu());
    mutex_lock lock_v(*v->mu());
    const Tensor& w = *var->tensor();
    OP_REQUIRES(ctx, x.dims() == 2 && dz.dims() == 2 && w.dims() == 2,
                absl::InvalidArgumentError("x, dz and the kernel must be matrices"));
    const int64_t batch = x.dim_size(0), n = x.dim_size(1), units = dz.dim_size(1);
    OP_REQUIRES(ctx, dz.dim_size(0) == batch && w.dim_size(0) == n && w.dim_size(1) == units,
                absl::InvalidArgumentError(absl::StrCat(
                    "shapes do not match: x ", x.shape().DebugString(), ", dz ",
                    dz.shape().DebugString(), ", kernel ", w.shape().DebugString())));
    OP_REQUIRES(ctx, m->tensor()->shape() == w.shape() && v->tensor()->shape() == w.shape(),
                absl::InvalidArgumentError("Adam's slots must have the kernel's shape"));
    OP_REQUIRES_OK(ctx, PrepareToUpdate(ctx, var.get()));
    OP_REQUIRES_OK(ctx, PrepareToUpdate(ctx, m.get()));
    OP_REQUIRES_OK(ctx, PrepareToUpdate(ctx, v.get()));
    Tensor* dx = nullptr;
    OP_REQUIRES_OK(ctx, ctx->allocate_output(0, x.shape(), &dx));

    const float beta1_power = Scalar(ctx, 5), beta2_power = Scalar(ctx, 6);
    const float lr = Scalar(ctx, 7), beta1 = Scalar(ctx, 8), beta2 = Scalar(ctx, 9);
    const float epsilon = Scalar(ctx, 10);
    // as ResourceApplyAdam: lr * sqrt(1 - beta2^t) / (1 - beta1^t), 1 - beta in float32
    const Adam adam{lr * std::sqrt(1.0f - beta2_power) / (1.0f - beta1_power), 1.0f - beta1,
                    1.0f - beta2, epsilon};

    const float* xs = x.flat<float>().data();
    const float* dzs = dz.flat<float>().data();
    float* ws = var->tensor()->flat<float>().data();
    float* ms = m->tensor()->flat<float>().data();
    float* vs = v->tensor()->flat<float>().data();
    float* dxs = dx->flat<float>().data();

    auto rows = [&](int64_t begin, int64_t end) {
      std::vector<float> grad(units);
      for (int64_t i = begin; i < end; ++i) {
        Row(xs + i, n, dzs, batch, units, ws + i * units, ms + i * units, vs + i * units,
            grad.data(), dxs + i, adam);
      }
    };
    auto* threads = ctx->device()->tensorflow_cpu_worker_threads();
    const int64_t cost_per_row = units * (4 * batch + 20);
    Shard(threads->num_threads, threads->workers, n, cost_per_row, rows);
  }
};

REGISTER_KERNEL_BUILDER(Name("MobileclfDenseGradAdam").Device(DEVICE_CPU), DenseGradAdamOp);

}  // namespace
