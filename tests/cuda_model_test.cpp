// The CUDA Backend against the CPU backend: op by op on random inputs (fp32
// products, "cuda-f32", at fp32 tolerances; the bf16 tensor-core products of
// "cuda" at bf16 tolerances), the whole model's loss and every parameter
// gradient for small configs (head widths the attention kernel has and ones
// it pads), and a 50-step AdamW run whose loss curve must track the CPU's, in
// both precisions. Skips without a GPU.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <cstring>
#include <functional>
#include <random>
#include <cstdlib>

#include <fmt/format.h>

#include "runtime/factory.h"
#include "backend/rng.h"
#include "core/error.h"
#include "model/model.h"

#ifdef MDS_HAVE_CUDA
#include "kernels/context.h"
#include "kernels/op_profiler.h"
#endif

namespace mds {
namespace {

bool have_gpu() {
#ifdef MDS_HAVE_CUDA
  return cuda::device_available();
#else
  return false;
#endif
}

#define REQUIRE_GPU()                                                   \
  do {                                                                  \
    if (!have_gpu()) GTEST_SKIP() << "no CUDA device (or CPU-only build)"; \
  } while (0)

double rel_err(const std::vector<float>& a, const std::vector<float>& ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (double(a[i]) - ref[i]) * (double(a[i]) - ref[i]);
    den += double(ref[i]) * ref[i];
  }
  return std::sqrt(num) / std::max(std::sqrt(den), 1e-30);
}

std::vector<float> host(Backend& b, const Tensor& t) {
  std::vector<float> h(t.numel());
  b.download(t, h.data());
  return h;
}

// One tensor on both backends with the same contents.
struct Pair {
  Tensor c, g;
};

class OpTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!have_gpu()) GTEST_SKIP() << "no CUDA device (or CPU-only build)";
    cpu_ = make_backend("cpu", 2);
    gpu_ = make_backend("cuda-f32", 1);
  }
  Pair rnd(std::vector<int64_t> shape, double scale = 1.0) {
    Pair p{cpu_->alloc(shape), gpu_->alloc(shape)};
    std::normal_distribution<float> n(0.f, float(scale));
    std::vector<float> h(p.c.numel());
    for (auto& v : h) v = n(gen_);
    cpu_->upload(p.c, h.data());
    gpu_->upload(p.g, h.data());
    return p;
  }
  Pair zeros(std::vector<int64_t> shape, ElemType t = ElemType::real) { return {cpu_->alloc(shape, t), gpu_->alloc(shape, t)}; }
  Pair ints(std::vector<int64_t> shape, int lo, int hi) {
    Pair p = zeros(shape, ElemType::i32);
    std::uniform_int_distribution<int> u(lo, hi - 1);
    std::vector<int32_t> h(p.c.numel());
    for (auto& v : h) v = u(gen_);
    cpu_->upload(p.c, h.data());
    gpu_->upload(p.g, h.data());
    return p;
  }
  void expect_close(const Pair& p, double tol, const char* what) {
    const double e = rel_err(host(*gpu_, p.g), host(*cpu_, p.c));
    std::printf("[op] %-28s rel err %.2e\n", what, e);
    EXPECT_LE(e, tol) << what;  // tol 0: exact (gather)
  }
  std::shared_ptr<Backend> cpu_, gpu_;
  std::mt19937 gen_{1234};
};

TEST_F(OpTest, DenseAndNormalisation) {
  auto A = rnd({37, 24}), B = rnd({24, 19}), C = rnd({37, 19});
  cpu_->gemm(false, false, 0.7, A.c, B.c, 0.3, C.c);
  gpu_->gemm(false, false, 0.7, A.g, B.g, 0.3, C.g);
  expect_close(C, 1e-5, "gemm");
  auto At = rnd({24, 37}), Bt = rnd({19, 24}), Ct = zeros({37, 19});
  cpu_->gemm(true, true, 1.0, At.c, Bt.c, 0.0, Ct.c);
  gpu_->gemm(true, true, 1.0, At.g, Bt.g, 0.0, Ct.g);
  expect_close(Ct, 1e-5, "gemm tt");

  auto x = rnd({33, 40}), W = rnd({24, 40}), b = rnd({24}), y = zeros({33, 24});
  cpu_->linear_forward(x.c, W.c, b.c, y.c);
  gpu_->linear_forward(x.g, W.g, b.g, y.g);
  expect_close(y, 1e-5, "linear_forward");
  auto dy = rnd({33, 24}), dx = rnd({33, 40}), dW = rnd({24, 40}), db = rnd({24});
  cpu_->linear_backward(x.c, W.c, dy.c, dx.c, dW.c, db.c);
  gpu_->linear_backward(x.g, W.g, dy.g, dx.g, dW.g, db.g);
  expect_close(dx, 1e-5, "linear dx");
  expect_close(dW, 1e-5, "linear dW");
  expect_close(db, 1e-5, "linear db");

  auto Wg = rnd({3, 16, 40}), bg = rnd({3, 16}), yg = zeros({33, 16});
  const std::vector<int64_t> off = {0, 10, 10, 33};
  cpu_->grouped_linear_forward(x.c, Wg.c, bg.c, off, yg.c);
  gpu_->grouped_linear_forward(x.g, Wg.g, bg.g, off, yg.g);
  expect_close(yg, 1e-5, "grouped_linear_forward");
  auto dyg = rnd({33, 16}), dxg = zeros({33, 40}), dWg = zeros({3, 16, 40}), dbg = zeros({3, 16});
  cpu_->grouped_linear_backward(x.c, Wg.c, dyg.c, off, dxg.c, dWg.c, dbg.c, GradMode::add);
  gpu_->grouped_linear_backward(x.g, Wg.g, dyg.g, off, dxg.g, dWg.g, dbg.g, GradMode::add);
  expect_close(dxg, 1e-5, "grouped dx");
  expect_close(dWg, 1e-5, "grouped dW");
  expect_close(dbg, 1e-5, "grouped db");
  Pair dxo{cpu_->alloc_uninit({33, 40}), gpu_->alloc_uninit({33, 40})};
  cpu_->grouped_linear_backward(x.c, Wg.c, dyg.c, off, dxo.c, dWg.c, dbg.c, GradMode::overwrite);
  gpu_->grouped_linear_backward(x.g, Wg.g, dyg.g, off, dxo.g, dWg.g, dbg.g, GradMode::overwrite);
  expect_close(dxo, 1e-5, "grouped dx (overwrite)");
  expect_close(dWg, 1e-5, "grouped dW (added twice)");

  auto g = rnd({40}), be = rnd({40}), yl = zeros({33, 40}), mu = zeros({33}), rs = zeros({33});
  cpu_->layer_norm_forward(x.c, g.c, be.c, 1e-5, yl.c, mu.c, rs.c);
  gpu_->layer_norm_forward(x.g, g.g, be.g, 1e-5, yl.g, mu.g, rs.g);
  expect_close(yl, 1e-5, "layer_norm y");
  expect_close(rs, 1e-5, "layer_norm rstd");
  auto dyl = rnd({33, 40}), dxl = rnd({33, 40}), dgl = rnd({40}), dbl = rnd({40});
  cpu_->layer_norm_backward(x.c, g.c, mu.c, rs.c, dyl.c, dxl.c, dgl.c, dbl.c);
  gpu_->layer_norm_backward(x.g, g.g, mu.g, rs.g, dyl.g, dxl.g, dgl.g, dbl.g);
  expect_close(dxl, 1e-5, "layer_norm dx");
  expect_close(dgl, 1e-5, "layer_norm dgamma");
  expect_close(dbl, 1e-5, "layer_norm dbeta");

  auto ys = zeros({33, 40});
  cpu_->softmax_forward(x.c, ys.c);
  gpu_->softmax_forward(x.g, ys.g);
  expect_close(ys, 1e-5, "softmax");
  auto dxs = rnd({33, 40});
  cpu_->softmax_backward(ys.c, dyl.c, dxs.c);
  gpu_->softmax_backward(ys.g, dyl.g, dxs.g);
  expect_close(dxs, 1e-5, "softmax backward");

  for (Activation act : {Activation::tanh, Activation::silu, Activation::gelu}) {
    auto ya = zeros({33, 40}), dxa = rnd({33, 40});
    cpu_->activation_forward(act, x.c, ya.c);
    gpu_->activation_forward(act, x.g, ya.g);
    expect_close(ya, 1e-5, "activation");
    cpu_->activation_backward(act, x.c, ya.c, dyl.c, dxa.c, GradMode::add);
    gpu_->activation_backward(act, x.g, ya.g, dyl.g, dxa.g, GradMode::add);
    expect_close(dxa, 1e-5, "activation backward");
    Pair dxo{cpu_->alloc_uninit({33, 40}), gpu_->alloc_uninit({33, 40})};
    cpu_->activation_backward(act, x.c, ya.c, dyl.c, dxo.c, GradMode::overwrite);
    gpu_->activation_backward(act, x.g, ya.g, dyl.g, dxo.g, GradMode::overwrite);
    expect_close(dxo, 1e-5, "activation backward (overwrite)");
  }
  EXPECT_NEAR(gpu_->sum_squares(x.g), cpu_->sum_squares(x.c), 1e-6 * cpu_->sum_squares(x.c));
}

TEST_F(OpTest, RowsRandomAndLosses) {
  const int B = 3, L = 7, H = 16;
  auto x = rnd({B * L, H}), pos = rnd({10, H}), temb = rnd({B, H}), out = zeros({B * L, H});
  cpu_->add_position_time_forward(x.c, pos.c, temb.c, B, L, out.c);
  gpu_->add_position_time_forward(x.g, pos.g, temb.g, B, L, out.g);
  expect_close(out, 1e-6, "add_position_time");
  auto dpos = rnd({10, H}), dtemb = rnd({B, H});
  cpu_->add_position_time_backward(x.c, B, L, dpos.c, dtemb.c);
  gpu_->add_position_time_backward(x.g, B, L, dpos.g, dtemb.g);
  expect_close(dpos, 1e-6, "add_position_time dpos");
  expect_close(dtemb, 1e-6, "add_position_time dtemb");

  auto idx = ints({29}, 0, B * L), gat = zeros({29, H}), sc = rnd({B * L, H});
  cpu_->gather_rows(x.c, idx.c, gat.c);
  gpu_->gather_rows(x.g, idx.g, gat.g);
  expect_close(gat, 0, "gather_rows");
  cpu_->scatter_add_rows(gat.c, idx.c, sc.c);
  gpu_->scatter_add_rows(gat.g, idx.g, sc.g);
  expect_close(sc, 1e-6, "scatter_add_rows");

  // Counter-based randomness: same keys, same draws.
  Pair keys = zeros({B * L}, ElemType::u64);
  std::vector<uint64_t> hk(B * L);
  for (int i = 0; i < B * L; ++i) hk[i] = rng::row_key(42, i / L, i % L);
  cpu_->upload(keys.c, hk.data());
  gpu_->upload(keys.g, hk.data());
  auto gn = zeros({B * L, H});
  cpu_->gaussian_fill(keys.c, 7, gn.c);
  gpu_->gaussian_fill(keys.g, 7, gn.g);
  expect_close(gn, 1e-6, "gaussian_fill");
  auto yd = zeros({B * L, H});
  Pair mask = zeros({B * L, H}, ElemType::u8);
  cpu_->dropout_forward(x.c, 0.3, keys.c, 9, yd.c, mask.c);
  gpu_->dropout_forward(x.g, 0.3, keys.g, 9, yd.g, mask.g);
  expect_close(yd, 1e-7, "dropout_forward");
  auto dxd = rnd({B * L, H});
  cpu_->dropout_backward(x.c, mask.c, 0.3, dxd.c);
  gpu_->dropout_backward(x.g, mask.g, 0.3, dxd.g);
  expect_close(dxd, 1e-7, "dropout_backward");

  auto ax = rnd({B * L}), m = rnd({H}), am = rnd({B * L}), e = rnd({B * L, H}), ae = rnd({B * L});
  auto rc = zeros({B * L, H});
  cpu_->row_combine_forward(x.c, ax.c, m.c, am.c, e.c, ae.c, rc.c);
  gpu_->row_combine_forward(x.g, ax.g, m.g, am.g, e.g, ae.g, rc.g);
  expect_close(rc, 1e-6, "row_combine_forward");
  auto rdx = rnd({B * L, H}), rdm = rnd({H}), rde = rnd({B * L, H});
  cpu_->row_combine_backward(x.c, ax.c, am.c, ae.c, rdx.c, rdm.c, rde.c);
  gpu_->row_combine_backward(x.g, ax.g, am.g, ae.g, rdx.g, rdm.g, rde.g);
  expect_close(rdx, 1e-6, "row_combine dx");
  expect_close(rdm, 1e-5, "row_combine dm");
  expect_close(rde, 1e-6, "row_combine de");

  auto sq = zeros({B * L});
  cpu_->row_sq_diff_forward(x.c, e.c, sq.c);
  gpu_->row_sq_diff_forward(x.g, e.g, sq.g);
  expect_close(sq, 1e-6, "row_sq_diff");
  auto sda = rnd({B * L, H}), sdb = rnd({B * L, H});
  cpu_->row_sq_diff_backward(x.c, e.c, ax.c, sda.c, sdb.c);
  gpu_->row_sq_diff_backward(x.g, e.g, ax.g, sda.g, sdb.g);
  expect_close(sda, 1e-6, "row_sq_diff da");
  expect_close(sdb, 1e-6, "row_sq_diff db");

  const int V = 50;
  auto Em = rnd({V, H}), bias = rnd({V}), tg = ints({B * L}, 0, V), nll = zeros({B * L});
  std::vector<float> hw(B * L, 1.f);
  hw[3] = 0.f, hw[5] = 2.f;
  auto w = zeros({B * L});
  cpu_->upload(w.c, hw.data());
  gpu_->upload(w.g, hw.data());
  cpu_->tied_ce_forward(x.c, Em.c, bias.c, tg.c, w.c, nll.c);
  gpu_->tied_ce_forward(x.g, Em.g, bias.g, tg.g, w.g, nll.g);
  expect_close(nll, 1e-5, "tied_ce nll");
  auto cdx = rnd({B * L, H}), cdE = rnd({V, H}), cdb = rnd({V});
  cpu_->tied_ce_backward(x.c, Em.c, bias.c, tg.c, w.c, cdx.c, cdE.c, cdb.c);
  gpu_->tied_ce_backward(x.g, Em.g, bias.g, tg.g, w.g, cdx.g, cdE.g, cdb.g);
  expect_close(cdx, 1e-5, "tied_ce dx");
  expect_close(cdE, 1e-5, "tied_ce dE");
  expect_close(cdb, 1e-5, "tied_ce dbias");
  Pair ids = zeros({B * L}, ElemType::i32);
  for (int mode = 0; mode < 2; ++mode) {
    if (mode == 0) cpu_->round_nearest(x.c, Em.c, ids.c), gpu_->round_nearest(x.g, Em.g, ids.g);
    else cpu_->round_argmax(x.c, Em.c, bias.c, ids.c), gpu_->round_argmax(x.g, Em.g, bias.g, ids.g);
    std::vector<int32_t> ic(B * L), ig(B * L);
    cpu_->download(ids.c, ic.data());
    gpu_->download(ids.g, ig.data());
    EXPECT_EQ(ic, ig) << (mode == 0 ? "round_nearest" : "round_argmax");
  }

  auto p = rnd({40}), gr = rnd({40}), am_ = zeros({40}), av = zeros({40});
  AdamWParams hp;
  hp.lr = 1e-2, hp.weight_decay = 0.1;
  for (int s = 1; s <= 3; ++s) {
    hp.step = s;
    cpu_->adamw_step(p.c, gr.c, am_.c, av.c, hp);
    gpu_->adamw_step(p.g, gr.g, am_.g, av.g, hp);
  }
  expect_close(p, 1e-6, "adamw");
  auto ema = rnd({40});
  cpu_->ema_update(ema.c, p.c, 0.9);
  gpu_->ema_update(ema.g, p.g, 0.9);
  expect_close(ema, 1e-6, "ema");
}

TEST_F(OpTest, MixtureOfExperts) {
  const int N = 40, E = 4, k = 2, C = 16;
  auto logits = rnd({N, E}), probs = zeros({N, E});
  cpu_->softmax_forward(logits.c, probs.c);
  gpu_->softmax_forward(logits.g, probs.g);
  Pair idx = zeros({N, k}, ElemType::i32);
  auto gates = zeros({N, k});
  cpu_->topk_gates_forward(probs.c, k, true, idx.c, gates.c);
  gpu_->topk_gates_forward(probs.g, k, true, idx.g, gates.g);
  expect_close(gates, 1e-6, "topk gates");
  Pair valid = zeros({N}, ElemType::u8);
  std::vector<uint8_t> hv(N, 1);
  for (int i = 30; i < N; ++i) hv[i] = 0;
  cpu_->upload(valid.c, hv.data());
  gpu_->upload(valid.g, hv.data());
  for (int64_t cap : {int64_t(-1), int64_t(12)}) {
    MoeDispatch dc = cpu_->moe_dispatch(idx.c, valid.c, E, cap), dg = gpu_->moe_dispatch(idx.g, valid.g, E, cap);
    ASSERT_EQ(dc.offsets, dg.offsets);
    EXPECT_EQ(dc.dropped, dg.dropped);
    EXPECT_EQ(dc.assigned, dg.assigned);
    EXPECT_EQ(dc.top1_fraction, dg.top1_fraction);
    EXPECT_EQ(dc.routed_tokens, dg.routed_tokens);
    std::vector<int32_t> stc(dc.slots), stg(dc.slots), scc(dc.slots), scg(dc.slots);
    cpu_->download(dc.slot_token, stc.data());
    gpu_->download(dg.slot_token, stg.data());
    cpu_->download(dc.slot_choice, scc.data());
    gpu_->download(dg.slot_choice, scg.data());
    EXPECT_EQ(stc, stg);
    EXPECT_EQ(scc, scg);
    auto yp = rnd({dc.slots, C}), out = zeros({N, C});
    cpu_->moe_combine_forward(yp.c, gates.c, dc, out.c);
    gpu_->moe_combine_forward(yp.g, gates.g, dg, out.g);
    expect_close(out, 1e-6, "moe_combine_forward");
    auto dout = rnd({N, C}), dyp = zeros({dc.slots, C}), dgt = zeros({N, k});
    cpu_->moe_combine_backward(yp.c, gates.c, dc, dout.c, dyp.c, dgt.c);
    gpu_->moe_combine_backward(yp.g, gates.g, dg, dout.g, dyp.g, dgt.g);
    expect_close(dyp, 1e-6, "moe_combine dyp");
    expect_close(dgt, 1e-5, "moe_combine dgates");
    auto dprobs = rnd({N, E}), dlog = rnd({N, E});
    cpu_->topk_gates_backward(probs.c, idx.c, true, dgt.c, dprobs.c);
    gpu_->topk_gates_backward(probs.g, idx.g, true, dgt.g, dprobs.g);
    expect_close(dprobs, 1e-5, "topk backward");
    const auto ac = cpu_->router_aux_forward(logits.c, probs.c, valid.c, dc);
    const auto ag = gpu_->router_aux_forward(logits.g, probs.g, valid.g, dg);
    EXPECT_NEAR(ag.balance, ac.balance, 1e-5 * ac.balance);
    EXPECT_NEAR(ag.z, ac.z, 1e-5 * ac.z);
    cpu_->router_aux_backward(logits.c, probs.c, valid.c, dc, 0.01, 0.001, dlog.c, dprobs.c);
    gpu_->router_aux_backward(logits.g, probs.g, valid.g, dg, 0.01, 0.001, dlog.g, dprobs.g);
    expect_close(dlog, 1e-6, "router_aux dlogits");
    expect_close(dprobs, 1e-5, "router_aux dprobs");
  }
}

// The device dispatch against the CPU routine at sizes where each of the
// 1,024 threads owns many picks, with padding, capacities that drop picks and
// dropless routing, k = 1 and 2: the same slots in the same order.
TEST_F(OpTest, DeviceDispatchMatchesCpuExactly) {
  struct Case {
    int N, E, k;
  };
  for (const Case c : {Case{5000, 8, 2}, Case{3001, 3, 1}, Case{700, 16, 2}, Case{1, 4, 2}}) {
    Pair idx = zeros({c.N, c.k}, ElemType::i32);
    std::vector<int32_t> h(int64_t(c.N) * c.k);
    std::uniform_int_distribution<int> ue(0, c.E - 1);
    for (int n = 0; n < c.N; ++n) {
      // Distinct experts per token, skewed towards low ones so capacities bind.
      for (int j = 0; j < c.k; ++j) {
        int e;
        do e = std::min(ue(gen_), ue(gen_)); while (j == 1 && e == h[n * c.k]);
        h[int64_t(n) * c.k + j] = e;
      }
    }
    cpu_->upload(idx.c, h.data());
    gpu_->upload(idx.g, h.data());
    Pair valid = zeros({c.N}, ElemType::u8);
    std::vector<uint8_t> hv(c.N);
    for (int n = 0; n < c.N; ++n) hv[n] = (n % 7 != 3) ? 1 : 0;
    cpu_->upload(valid.c, hv.data());
    gpu_->upload(valid.g, hv.data());
    const int64_t even = int64_t(c.k) * c.N / c.E;
    for (int64_t cap : {int64_t(-1), int64_t(0), even / 2, even, 4 * even + 1}) {
      for (bool use_valid : {true, false}) {
        const Tensor vc = use_valid ? valid.c : Tensor(), vg = use_valid ? valid.g : Tensor();
        MoeDispatch dc = cpu_->moe_dispatch(idx.c, vc, c.E, cap), dg = gpu_->moe_dispatch(idx.g, vg, c.E, cap);
        const std::string what = fmt::format("N={} E={} k={} capacity={} valid={}", c.N, c.E, c.k, cap, use_valid);
        ASSERT_EQ(dc.offsets, dg.offsets) << what;
        EXPECT_EQ(dc.slots, dg.slots) << what;
        EXPECT_EQ(dc.dropped, dg.dropped) << what;
        EXPECT_EQ(dc.assigned, dg.assigned) << what;
        EXPECT_EQ(dc.top1_fraction, dg.top1_fraction) << what;
        EXPECT_EQ(dc.routed_tokens, dg.routed_tokens) << what;
        if (dc.slots == 0) continue;
        std::vector<int32_t> a(dc.slots), b(dc.slots);
        cpu_->download(dc.slot_token, a.data());
        gpu_->download(dg.slot_token, b.data());
        EXPECT_EQ(a, b) << what;
        cpu_->download(dc.slot_choice, a.data());
        gpu_->download(dg.slot_choice, b.data());
        EXPECT_EQ(a, b) << what;
      }
    }
  }
}

// Index and target checks run on the device: the error names the operation,
// position and value at the next synchronisation, and the backend stays usable.
TEST_F(OpTest, DeviceChecksReportAtTheNextSynchronisation) {
  auto x = rnd({6, 4});
  Pair index = zeros({3}, ElemType::i32);
  const std::vector<int32_t> bad = {0, 9, 2};
  gpu_->upload(index.g, bad.data());
  Tensor out = gpu_->alloc({3, 4});
  gpu_->gather_rows(x.g, index.g, out);
  try {
    gpu_->synchronize();
    ADD_FAILURE() << "no error for index 9 of 6 rows";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("gather_rows: index[1] = 9 is outside [0, 6)"), std::string::npos) << e.what();
  }
  const std::vector<int32_t> good = {0, 5, 2};
  gpu_->upload(index.g, good.data());
  gpu_->gather_rows(x.g, index.g, out);
  EXPECT_NO_THROW(gpu_->synchronize());
  std::vector<float> h(12);
  EXPECT_NO_THROW(gpu_->download(out, h.data()));

  Pair ids = zeros({4, 2}, ElemType::i32);
  const std::vector<int32_t> picks = {0, 1, 2, 7, 1, 0, 3, 2};
  gpu_->upload(ids.g, picks.data());
  EXPECT_THROW(gpu_->moe_dispatch(ids.g, Tensor(), 4, -1), Error);

  auto emb = rnd({10, 4}), hx = rnd({3, 4});
  Pair tgt = zeros({3}, ElemType::i32), w = zeros({3}), nll = zeros({3});
  const std::vector<int32_t> tv = {1, 12, -1};
  const std::vector<float> wv = {1.f, 1.f, 0.f};  // row 2 has no weight: its target is not checked
  gpu_->upload(tgt.g, tv.data());
  gpu_->upload(w.g, wv.data());
  try {
    gpu_->tied_ce_forward(hx.g, emb.g, Tensor(), tgt.g, w.g, nll.g);
    gpu_->synchronize();
    ADD_FAILURE() << "no error for target 12 of 10";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("target[1] = 12 outside the vocabulary [0, 10)"), std::string::npos)
        << e.what();
  }
}

// Column sums over more rows than one reduction chunk (128): bias, layer-norm
// and absorbing-state gradients reduce in several chunks, then in order.
TEST_F(OpTest, LongColumnReductions) {
  const int64_t R = 1000, C = 72;
  auto x = rnd({R, C}), W = rnd({24, C}), dy = rnd({R, 24}), dx = zeros({R, C}), dW = zeros({24, C}), db = rnd({24});
  cpu_->linear_backward(x.c, W.c, dy.c, dx.c, dW.c, db.c);
  gpu_->linear_backward(x.g, W.g, dy.g, dx.g, dW.g, db.g);
  expect_close(db, 1e-5, "linear db (1000 rows)");
  auto g = rnd({C}), be = rnd({C}), yl = zeros({R, C}), mu = zeros({R}), rs = zeros({R});
  cpu_->layer_norm_forward(x.c, g.c, be.c, 1e-5, yl.c, mu.c, rs.c);
  gpu_->layer_norm_forward(x.g, g.g, be.g, 1e-5, yl.g, mu.g, rs.g);
  auto dyl = rnd({R, C}), dxl = zeros({R, C}), dgl = rnd({C}), dbl = rnd({C});
  cpu_->layer_norm_backward(x.c, g.c, mu.c, rs.c, dyl.c, dxl.c, dgl.c, dbl.c);
  gpu_->layer_norm_backward(x.g, g.g, mu.g, rs.g, dyl.g, dxl.g, dgl.g, dbl.g);
  expect_close(dgl, 1e-5, "layer_norm dgamma (1000 rows)");
  expect_close(dbl, 1e-5, "layer_norm dbeta (1000 rows)");
  const int B = 2, L = 500;
  auto dout = rnd({int64_t(B) * L, C}), dpos = rnd({L, C}), dtemb = rnd({B, C});
  cpu_->add_position_time_backward(dout.c, B, L, dpos.c, dtemb.c);
  gpu_->add_position_time_backward(dout.g, B, L, dpos.g, dtemb.g);
  expect_close(dpos, 1e-5, "dpos (2 x 500)");
  expect_close(dtemb, 1e-5, "dtemb (2 x 500)");
  auto ax = rnd({R}), am = rnd({R}), m = rnd({C}), out = zeros({R, C});
  cpu_->row_combine_forward(x.c, ax.c, m.c, am.c, Tensor(), Tensor(), out.c);
  gpu_->row_combine_forward(x.g, ax.g, m.g, am.g, Tensor(), Tensor(), out.g);
  expect_close(out, 1e-6, "row_combine (1000 rows)");
  auto dm = rnd({C});
  Pair none;
  cpu_->row_combine_backward(dyl.c, ax.c, am.c, Tensor(), none.c, dm.c, none.c);
  gpu_->row_combine_backward(dyl.g, ax.g, am.g, Tensor(), none.g, dm.g, none.g);
  expect_close(dm, 1e-5, "row_combine dm (1000 rows)");
}

// The gradient norm's one-synchronisation sum: bit-identical to the loop of
// sum_squares on the same backend (same per-tensor partials, added in order),
// and the CPU's within float rounding of the partial sums.
TEST_F(OpTest, SumSquaresTotalEqualsTheLoop) {
  std::vector<Pair> xs;
  for (int64_t n : {1, 7, 4096, 100003, 262144}) xs.push_back(rnd({n}));
  std::vector<const Tensor*> cs, gs;
  double loop_c = 0, loop_g = 0;
  for (auto& p : xs) {
    cs.push_back(&p.c), gs.push_back(&p.g);
    loop_c += cpu_->sum_squares(p.c), loop_g += gpu_->sum_squares(p.g);
  }
  EXPECT_EQ(gpu_->sum_squares_total(gs), loop_g);
  EXPECT_EQ(cpu_->sum_squares_total(cs), loop_c);
  EXPECT_NEAR(gpu_->sum_squares_total(gs), loop_c, 1e-9 * loop_c);
  EXPECT_EQ(gpu_->sum_squares_total({}), 0.0);
}

// Head widths the kernel does not have (24, 48) are zero-padded to 32 / 64;
// the result must be the CPU's attention within bf16 rounding, globals and
// batch padding included.
TEST_F(OpTest, AttentionPaddedHeadWidths) {
  for (int head_dim : {24, 48, 64}) {
    AttentionShape s;
    s.batch = 2, s.seq_len = 150, s.heads = 3, s.head_dim = head_dim, s.window = 9;
    s.dilation = {1, 2, 1};
    const int64_t rows = int64_t(s.batch) * s.seq_len, H = int64_t(s.heads) * head_dim;
    std::vector<uint8_t> valid(rows, 1), glob(rows, 0);
    for (int i = 140; i < 150; ++i) valid[150 + i] = 0;  // example 1 has length 140
    const std::vector<int32_t> gpos = {0, 70, 0, 5}, gcount = {2, 2};
    glob[0] = glob[70] = glob[150] = glob[155] = 1;
    AttentionPattern pc, pg;
    for (auto [be, pat] : {std::pair<Backend*, AttentionPattern*>{cpu_.get(), &pc}, {gpu_.get(), &pg}}) {
      pat->valid = be->alloc({rows}, ElemType::u8);
      pat->is_global = be->alloc({rows}, ElemType::u8);
      pat->global_pos = be->alloc({4}, ElemType::i32);
      pat->global_count = be->alloc({2}, ElemType::i32);
      pat->max_globals = 2;
      be->upload(pat->valid, valid.data());
      be->upload(pat->is_global, glob.data());
      be->upload(pat->global_pos, gpos.data());
      be->upload(pat->global_count, gcount.data());
    }
    auto qkv = rnd({rows, 3 * H}), out = zeros({rows, H}), lse = zeros({int64_t(s.batch) * s.heads * s.seq_len});
    cpu_->attention_forward(s, pc, qkv.c, out.c, lse.c);
    gpu_->attention_forward(s, pg, qkv.g, out.g, lse.g);
    const std::string tag = " (head_dim " + std::to_string(head_dim) + ")";
    expect_close(out, 2e-2, ("attention out" + tag).c_str());
    expect_close(lse, 1e-2, ("attention lse" + tag).c_str());
    auto dout = rnd({rows, H}), dqkv = rnd({rows, 3 * H});
    cpu_->attention_backward(s, pc, qkv.c, out.c, lse.c, dout.c, dqkv.c);
    gpu_->attention_backward(s, pg, qkv.g, out.g, lse.g, dout.g, dqkv.g);
    expect_close(dqkv, 2e-2, ("attention dqkv" + tag).c_str());
  }
}

// The default "cuda" backend multiplies on bf16 tensor cores: products must
// match the CPU to bf16 precision (8 mantissa bits, fp32 accumulation).
class CudaBf16 : public ::testing::TestWithParam<const char*> {};

// Both bf16 product paths: cuBLAS rounding fp32 operands ("fast16bf", the
// default) and explicit bf16 copies ("cast", MDS_CUDA_GEMM=cast).
TEST_P(CudaBf16, ProductsMatchCpuToBf16Precision) {
  REQUIRE_GPU();
  setenv("MDS_CUDA_GEMM", GetParam(), 1);
  auto cpu = make_backend("cpu", 2);
  auto gpu = make_backend("cuda", 1);
  unsetenv("MDS_CUDA_GEMM");
  EXPECT_EQ(gpu->name(), "cuda");
  std::mt19937 gen(99);
  auto both = [&](std::vector<int64_t> shape) {
    Pair p{cpu->alloc(shape), gpu->alloc(shape)};
    std::normal_distribution<float> n(0.f, 1.f);
    std::vector<float> h(p.c.numel());
    for (auto& v : h) v = n(gen);
    cpu->upload(p.c, h.data());
    gpu->upload(p.g, h.data());
    return p;
  };
  auto close = [&](const Pair& p, const char* what) {
    const double e = rel_err(host(*gpu, p.g), host(*cpu, p.c));
    std::printf("[bf16] %-24s rel err %.2e\n", what, e);
    EXPECT_LT(e, 1e-2) << what;
    EXPECT_GT(e, 0.0) << what << ": identical to fp32, so the bf16 path did not run";
  };
  auto x = both({300, 256}), W = both({192, 256}), b = both({192}), y = both({300, 192});
  cpu->linear_forward(x.c, W.c, b.c, y.c);
  gpu->linear_forward(x.g, W.g, b.g, y.g);
  close(y, "linear_forward");
  auto dy = both({300, 192}), dx = both({300, 256}), dW = both({192, 256}), db = both({192});
  cpu->linear_backward(x.c, W.c, dy.c, dx.c, dW.c, db.c);
  gpu->linear_backward(x.g, W.g, dy.g, dx.g, dW.g, db.g);
  close(dx, "linear dx");
  close(dW, "linear dW");
  auto Wg = both({4, 128, 256}), bg = both({4, 128}), yg = both({300, 128});
  const std::vector<int64_t> off = {0, 90, 90, 250, 300};
  cpu->grouped_linear_forward(x.c, Wg.c, bg.c, off, yg.c);
  gpu->grouped_linear_forward(x.g, Wg.g, bg.g, off, yg.g);
  close(yg, "grouped_linear_forward");
  auto dyg = both({300, 128}), dxg = both({300, 256}), dWg = both({4, 128, 256}), dbg = both({4, 128});
  cpu->grouped_linear_backward(x.c, Wg.c, dyg.c, off, dxg.c, dWg.c, dbg.c, GradMode::add);
  gpu->grouped_linear_backward(x.g, Wg.g, dyg.g, off, dxg.g, dWg.g, dbg.g, GradMode::add);
  close(dxg, "grouped_linear dx");
  close(dWg, "grouped_linear dW");
}
INSTANTIATE_TEST_SUITE_P(GemmPaths, CudaBf16, ::testing::Values("fast16bf", "cast"));

// ---- whole model -------------------------------------------------------------

// One whole-model comparison: the GPU backend, the head width and the bounds.
struct ModelCase {
  const char* device;
  int hidden_dim;  // 4 heads: 128 -> 32 (a kernel width), 96 -> 24 (padded to 32)
  double loss_tol, grad_tol, track_tol;
};
std::ostream& operator<<(std::ostream& os, const ModelCase& m) { return os << m.device << "/H" << m.hidden_dim; }

ModelConfig gpu_config(int hidden_dim = 128) {
  ModelConfig c;
  c.vocab_size = 60;
  c.embed_dim = 32;
  c.hidden_dim = hidden_dim;
  c.layers = 2;
  c.heads = 4;
  c.ffn_dim = 128;
  c.time_embed_dim = 32;
  c.time_hidden_dim = 64;
  c.max_src_len = 24;
  c.max_trg_len = 16;
  c.attention_window = 4;
  c.moe_experts = 4;
  c.moe_top_k = 2;
  c.diffusion_steps = 100;
  return c;
}

std::vector<PairIds> model_records() {
  std::vector<PairIds> r;
  std::mt19937 g(5);
  std::uniform_int_distribution<int> tok(5, 59);
  for (int i = 0; i < 6; ++i) {
    PairIds p;
    for (int j = 0; j < 6 + 3 * i; ++j) p.src.push_back(tok(g));
    for (int j = 0; j < 3 + 2 * (i % 4); ++j) p.trg.push_back(tok(g));
    r.push_back(p);
  }
  return r;
}

class CudaModel : public ::testing::TestWithParam<ModelCase> {};

TEST_P(CudaModel, LossAndGradientsMatchCpu) {
  REQUIRE_GPU();
  // Tensors the model allocates without a fill start as NaN: a read before
  // the first write would show in the loss and the gradients.
  setenv("MDS_CUDA_POISON", "1", 1);
  const ModelCase mcase = GetParam();
  const ModelConfig c = gpu_config(mcase.hidden_dim);
  auto mc = make_model(c, make_backend("cpu", 2), 11);
  auto mg = make_model(c, make_backend(mcase.device, 1), 11);
  const Batch b = pack_batch(model_records(), c, {0, 1, 2, 3, 4, 5});
  const std::vector<int32_t> t = {3, 20, 45, 60, 80, 99};
  const std::vector<double> w(6, 1.0);
  mc->zero_grad();
  mg->zero_grad();
  const LossTerms lc = mc->forward_backward(b, t, w, 17, 1.0);
  const LossTerms lg = mg->forward_backward(b, t, w, 17, 1.0);
  std::printf("[model] loss cpu %.6f gpu %.6f (mse %.5f/%.5f nll %.5f/%.5f)\n", lc.total, lg.total, lc.mse, lg.mse,
              lc.rounding_nll, lg.rounding_nll);
  EXPECT_NEAR(lg.total, lc.total, mcase.loss_tol * std::abs(lc.total));
  EXPECT_NEAR(lg.mse, lc.mse, mcase.loss_tol * std::abs(lc.mse));
  EXPECT_NEAR(lg.rounding_nll, lc.rounding_nll, mcase.loss_tol * std::abs(lc.rounding_nll));
  double worst = 0;
  std::string worst_name;
  for (size_t i = 0; i < mc->params().size(); ++i) {
    const Param& pc = mc->params().at(int(i));
    const Param& pg = mg->params().at(int(i));
    const double e = rel_err(host(mg->backend(), pg.grad), host(mc->backend(), pc.grad));
    if (e > worst) worst = e, worst_name = pc.name;
    EXPECT_LT(e, mcase.grad_tol) << pc.name;
  }
  std::printf("[model] worst gradient rel err %.2e (%s) over %zu parameters\n", worst, worst_name.c_str(),
              mc->params().size());
  bool fc = false, fg = false;
  const double nc = mc->grad_norm(&fc), ng = mg->grad_norm(&fg);
  EXPECT_TRUE(fg);
  EXPECT_NEAR(ng, nc, mcase.loss_tol * nc);
}

TEST_P(CudaModel, FiftyStepsTrackCpuLoss) {
  REQUIRE_GPU();
  setenv("MDS_CUDA_POISON", "1", 1);
  const ModelCase mcase = GetParam();
  const ModelConfig c = gpu_config(mcase.hidden_dim);
  auto mc = make_model(c, make_backend("cpu", 2), 21);
  auto mg = make_model(c, make_backend(mcase.device, 1), 21);
  const Batch b = pack_batch(model_records(), c, {0, 1, 2, 3, 4, 5});
  OptimizerSettings opt;
  opt.lr = 2e-3;
  const std::vector<double> w(6, 1.0);
  double worst = 0, first = 0, last_c = 0, last_g = 0;
  for (int step = 0; step < 50; ++step) {
    const std::vector<int32_t> t = {(step * 7) % 100, (step * 13 + 5) % 100, (step * 3 + 50) % 100,
                                    (step * 11 + 20) % 100, (step * 5 + 70) % 100, (step * 17 + 90) % 100};
    double l[2];
    int j = 0;
    for (auto* m : {mc.get(), mg.get()}) {
      m->zero_grad();
      l[j++] = m->forward_backward(b, t, w, 100 + step, 1.0).total;
      m->optimizer_step(opt);
    }
    ASSERT_TRUE(std::isfinite(l[1])) << "step " << step;
    const double e = std::abs(l[1] - l[0]) / std::abs(l[0]);
    worst = std::max(worst, e);
    if (step == 0) first = l[0];
    last_c = l[0], last_g = l[1];
    if (step % 10 == 0 || step == 49) std::printf("[train] step %2d loss cpu %.5f gpu %.5f\n", step, l[0], l[1]);
  }
  std::printf("[train] worst per-step relative loss difference %.2e; cpu %.4f -> %.4f\n", worst, first, last_c);
  EXPECT_LT(worst, mcase.track_tol);
  EXPECT_LT(last_g, 0.8 * first);  // the GPU run learns too
  EXPECT_NEAR(last_g, last_c, mcase.track_tol * std::abs(last_c));
}

// fp32 products: only the bf16 attention differs from the CPU. bf16 products
// (every GEMM rounds its operands to 8 mantissa bits): bounds near 1e-2, as
// for any bf16 kernel, looser on the per-step curve, which compounds them.
INSTANTIATE_TEST_SUITE_P(Backends, CudaModel,
                         ::testing::Values(ModelCase{"cuda-f32", 128, 1e-2, 3e-2, 5e-2},
                                           ModelCase{"cuda-f32", 96, 1e-2, 3e-2, 5e-2},
                                           ModelCase{"cuda", 128, 2e-2, 6e-2, 8e-2},
                                           ModelCase{"cuda", 96, 2e-2, 6e-2, 8e-2}));

// MDS_CUDA_PROFILE's table: one row per operation name (with its detail),
// the calls counted, GPU time measured from the events around queued work.
TEST(CudaProfiler, CountsCallsAndTimesQueuedWork) {
  REQUIRE_GPU();
#ifdef MDS_HAVE_CUDA
  cuda::Context ctx(0);
  cuda::OpProfiler prof(ctx.stream(), true);
  auto buf = ctx.alloc_n<float>(size_t(64) << 20);  // 256 MiB: memsets that take measurable time
  for (int i = 0; i < 3; ++i) {
    cuda::OpProfiler::Scope s(&prof, "fill", "64Mi");
    ctx.fill_zero(buf.data(), buf.bytes());
  }
  { cuda::OpProfiler::Scope s(&prof, "empty"); }
  cuda::OpProfiler off(ctx.stream(), false);
  { cuda::OpProfiler::Scope s(&off, "never"); }
  std::FILE* f = std::tmpfile();
  ASSERT_NE(f, nullptr);
  prof.report(f);
  off.report(f);  // disabled: writes nothing
  std::rewind(f);
  std::string text;
  char chunk[512];
  while (size_t n = std::fread(chunk, 1, sizeof chunk, f)) text.append(chunk, n);
  std::fclose(f);
  std::printf("%s", text.c_str());
  EXPECT_NE(text.find("mds cuda profile"), std::string::npos);
  const size_t row = text.find("fill 64Mi");
  ASSERT_NE(row, std::string::npos);
  long calls = 0;
  double gpu_ms = -1;
  ASSERT_EQ(std::sscanf(text.c_str() + row + std::strlen("fill 64Mi"), "%ld %lf", &calls, &gpu_ms), 2);
  EXPECT_EQ(calls, 3);
  EXPECT_GT(gpu_ms, 0.0);  // three 256 MiB memsets
  EXPECT_NE(text.find("empty"), std::string::npos);
  EXPECT_EQ(text.find("never"), std::string::npos);
#endif
}

TEST(CudaFactory, NamesTheBuild) {
#ifdef MDS_HAVE_CUDA
  if (have_gpu()) {
    EXPECT_EQ(make_backend("cuda", 1)->name(), "cuda");
    EXPECT_EQ(make_backend("cuda-f32", 1)->name(), "cuda-f32");
    EXPECT_EQ(resolve_device("auto"), "cuda");
  } else {
    try {
      make_backend("cuda", 1);
      FAIL() << "expected a runtime error";
    } catch (const Error& e) {
      EXPECT_EQ(e.code(), ExitCode::runtime);
      EXPECT_NE(std::string(e.what()).find("no CUDA device found"), std::string::npos);
    }
    EXPECT_EQ(resolve_device("auto"), "cpu");
  }
#else
  EXPECT_EQ(resolve_device("auto"), "cpu");
  try {
    make_backend("cuda", 1);
    FAIL() << "expected a usage error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::usage);
    EXPECT_NE(std::string(e.what()).find("CPU-only build"), std::string::npos);
  }
#endif
}

}  // namespace
}  // namespace mds
