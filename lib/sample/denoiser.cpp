// Host defaults of the Denoiser's rounding and decode over its embedding table:
// the CPU backend's round_nearest / round_argmax (lib/cpu/rounding.cpp), the
// one implementation of rounding on the host.
#include "sample/denoiser.h"

#include "runtime/factory.h"

namespace mds {
namespace {

// ids[i] = the backend's rounding (argmax = false) or decode (argmax = true) of x[i, :d].
void round_on_cpu(const Denoiser& m, const float* x, size_t n, int32_t* ids, bool argmax) {
  if (n == 0) return;
  const std::shared_ptr<Backend> be = make_backend("cpu", 1);
  const int64_t V = m.info().vocab_size, d = m.info().embed_dim;
  Tensor E = be->alloc({V, d}), xt = be->alloc({static_cast<int64_t>(n), d}), bias;
  be->upload(E, m.embedding().data());
  be->upload(xt, x);
  Tensor out = be->alloc({static_cast<int64_t>(n)}, ElemType::i32);
  if (!argmax) {
    be->round_nearest(xt, E, out);
  } else {
    if (!m.head_bias().empty()) {
      bias = be->alloc({V});
      be->upload(bias, m.head_bias().data());
    }
    be->round_argmax(xt, E, bias, out);
  }
  be->download(out, ids);
}

}  // namespace

void Denoiser::nearest_ids(const float* x, size_t n, int32_t* ids) const { round_on_cpu(*this, x, n, ids, false); }

void Denoiser::argmax_ids(const float* x, size_t n, int32_t* ids) const { round_on_cpu(*this, x, n, ids, true); }

}  // namespace mds
