// The two sublayers of a post-LN layer: sparse self-attention and the FFN
// (dense, or routed Mixture of Experts), each x -> LN(x + Dropout(f(x))),
// forward and backward.
#include <cmath>

#include "backend/rng.h"
#include "core/error.h"
#include "model/network.h"

namespace mds {

namespace {
// Dropout sites: 0 = input, then two per layer.
uint64_t attn_site(int layer) { return 1 + 2 * uint64_t(layer); }
uint64_t ffn_site(int layer) { return 2 + 2 * uint64_t(layer); }
}  // namespace

Tensor Network::linear(const ParamStore& p, bool ema, const LinearIds& ids, const Tensor& x, int64_t out_dim) {
  Tensor y = be_.alloc_uninit({x.rows(), out_dim});
  Tensor none;
  be_.linear_forward(x, p.weight(ids.w, ema), ids.b >= 0 ? p.weight(ids.b, ema) : none, y);
  return y;
}

void Network::linear_grad(ParamStore& p, const LinearIds& ids, const Tensor& x, const Tensor& dy, Tensor& dx) {
  Tensor none;
  be_.linear_backward(x, p.at(ids.w).value, dy, dx, p.at(ids.w).grad, ids.b >= 0 ? p.at(ids.b).grad : none);
}

Tensor Network::layer_norm(const ParamStore& p, bool ema, const NormIds& ids, const Tensor& x, Tensor& mean,
                           Tensor& rstd) {
  Tensor y = be_.alloc_uninit(x.shape());
  mean = be_.alloc_uninit({x.rows()});
  rstd = be_.alloc_uninit({x.rows()});
  be_.layer_norm_forward(x, p.weight(ids.g, ema), p.weight(ids.b, ema), c_.layer_norm_eps, y, mean, rstd);
  return y;
}

void Network::layer_norm_grad(ParamStore& p, const NormIds& ids, const Tensor& x, const Tensor& mean,
                              const Tensor& rstd, const Tensor& dy, Tensor& dx) {
  be_.layer_norm_backward(x, p.at(ids.g).value, mean, rstd, dy, dx, p.at(ids.g).grad, p.at(ids.b).grad);
}

Tensor Network::dropout(const Tensor& x, const StepInputs& in, uint64_t site, Tensor* mask) {
  if (!in.train || c_.dropout == 0) return x;
  Tensor y = be_.alloc_uninit(x.shape());
  *mask = be_.alloc_uninit(x.shape(), ElemType::u8);
  be_.dropout_forward(x, c_.dropout, in.row_keys, rng::kSaltDropoutBase + site, y, *mask);
  return y;
}

Tensor Network::dropout_grad(const Tensor& dy, const Tensor& mask) {
  if (!mask.defined()) return dy;
  Tensor dx = be_.alloc(dy.shape());
  be_.dropout_backward(dy, mask, c_.dropout, dx);
  return dx;
}

Tensor Network::attention_forward(const ParamStore& p, bool ema, const LayerIds& l, const StepInputs& in, int layer,
                                  const Tensor& x, AttnCache& a) {
  const int64_t N = x.rows(), H = c_.hidden_dim;
  a.x = x;
  a.qkv = linear(p, ema, l.qkv, x, 3 * H);
  a.ctx = be_.alloc_uninit({N, H});
  a.lse = be_.alloc_uninit({int64_t(in.batch) * c_.heads * in.seq_len});
  be_.attention_forward(in.attention, in.pattern, a.qkv, a.ctx, a.lse);
  a.proj = linear(p, ema, l.out, a.ctx, H);
  Tensor dropped = dropout(a.proj, in, attn_site(layer), &a.drop_mask);
  a.res = be_.alloc_uninit({N, H});
  be_.add(x, dropped, a.res);
  a.out = layer_norm(p, ema, l.ln_attn, a.res, a.mean, a.rstd);
  return a.out;
}

Tensor Network::attention_backward(ParamStore& p, const LayerIds& l, const StepInputs& in, AttnCache& a,
                                   const Tensor& dout) {
  const int64_t N = a.x.rows(), H = c_.hidden_dim;
  // The residual makes d res the gradient of the input too; the attention
  // branch accumulates into it below.
  Tensor dres = be_.alloc({N, H});
  layer_norm_grad(p, l.ln_attn, a.res, a.mean, a.rstd, dout, dres);
  Tensor dproj = dropout_grad(dres, a.drop_mask);
  Tensor dctx = be_.alloc({N, H});
  linear_grad(p, l.out, a.ctx, dproj, dctx);
  Tensor dqkv = be_.alloc({N, 3 * H});
  be_.attention_backward(in.attention, in.pattern, a.qkv, a.ctx, a.lse, dctx, dqkv);
  linear_grad(p, l.qkv, a.x, dqkv, dres);
  a = AttnCache();  // release activations early
  return dres;
}

Tensor Network::ffn_forward(const ParamStore& p, bool ema, const LayerIds& l, const StepInputs& in, int layer,
                            const Tensor& x, FfnCache& f, std::vector<MoeLayerStats>* stats) {
  const int64_t N = x.rows(), H = c_.hidden_dim, F = c_.ffn_dim;
  f.x = x;
  if (!l.moe) {
    f.pre = linear(p, ema, l.ff1, x, F);
    f.act = be_.alloc_uninit({N, F});
    be_.activation_forward(Activation::gelu, f.pre, f.act);
    f.y = linear(p, ema, l.ff2, f.act, H);
  } else {
    const int E = c_.moe_experts, k = c_.moe_top_k;
    f.logits = be_.alloc_uninit({N, E});
    Tensor none;
    be_.linear_forward(x, p.weight(l.router, ema), none, f.logits);
    f.probs = be_.alloc_uninit({N, E});
    be_.softmax_forward(f.logits, f.probs);
    f.idx = be_.alloc_uninit({N, k}, ElemType::i32);
    f.gates = be_.alloc_uninit({N, k});
    be_.topk_gates_forward(f.probs, k, c_.moe_renormalize, f.idx, f.gates);
    // Capacity per expert: ceil(k * tokens / E * cf) (cf = 1: a perfectly even split fits).
    const int64_t capacity =
        c_.moe_capacity_factor > 0
            ? static_cast<int64_t>(std::ceil(double(k) * double(in.routed_tokens) / E * c_.moe_capacity_factor))
            : -1;
    f.dispatch = be_.moe_dispatch(f.idx, in.valid, E, capacity);
    const MoeDispatch& d = f.dispatch;
    f.xp = be_.alloc_uninit({d.slots, H});
    be_.gather_rows(x, d.slot_token, f.xp);
    f.pre = be_.alloc_uninit({d.slots, F});
    be_.grouped_linear_forward(f.xp, p.weight(l.ff1.w, ema), p.weight(l.ff1.b, ema), d.offsets, f.pre);
    f.act = be_.alloc_uninit({d.slots, F});
    be_.activation_forward(Activation::gelu, f.pre, f.act);
    f.yp = be_.alloc_uninit({d.slots, H});
    be_.grouped_linear_forward(f.act, p.weight(l.ff2.w, ema), p.weight(l.ff2.b, ema), d.offsets, f.yp);
    f.y = be_.alloc_uninit({N, H});
    be_.moe_combine_forward(f.yp, f.gates, d, f.y);
    if (stats) {
      MoeLayerStats s;
      s.layer = layer;
      const Backend::RouterAux aux = be_.router_aux_forward(f.logits, f.probs, in.valid, d);
      s.balance = aux.balance;
      s.z = aux.z;
      s.assigned = d.assigned;
      s.picks = d.routed_tokens * k;
      s.dropped = d.dropped;
      stats->push_back(std::move(s));
    }
  }
  Tensor dropped = dropout(f.y, in, ffn_site(layer), &f.drop_mask);
  f.res = be_.alloc_uninit({N, H});
  be_.add(x, dropped, f.res);
  f.out = layer_norm(p, ema, l.ln_ffn, f.res, f.mean, f.rstd);
  return f.out;
}

Tensor Network::ffn_backward(ParamStore& p, const LayerIds& l, const StepInputs& in, FfnCache& f, const Tensor& dout,
                             double aux_scale) {
  const int64_t N = f.x.rows(), H = c_.hidden_dim, F = c_.ffn_dim;
  Tensor dres = be_.alloc({N, H});
  layer_norm_grad(p, l.ln_ffn, f.res, f.mean, f.rstd, dout, dres);
  Tensor dy = dropout_grad(dres, f.drop_mask);
  Tensor none;
  if (!l.moe) {
    Tensor dact = be_.alloc({N, F}), dpre = be_.alloc_uninit({N, F});
    linear_grad(p, l.ff2, f.act, dy, dact);
    be_.activation_backward(Activation::gelu, f.pre, f.act, dact, dpre, GradMode::overwrite);
    linear_grad(p, l.ff1, f.x, dpre, dres);
  } else {
    const MoeDispatch& d = f.dispatch;
    const int E = c_.moe_experts, k = c_.moe_top_k;
    Tensor dyp = be_.alloc({d.slots, H}), dgates = be_.alloc({N, k});
    be_.moe_combine_backward(f.yp, f.gates, d, dy, dyp, dgates);
    // The expert activations' gradients have one source each: overwritten,
    // so the [slots, ffn_dim] tensors need no zero fill.
    Tensor dact = be_.alloc_uninit({d.slots, F}), dpre = be_.alloc_uninit({d.slots, F});
    Tensor dxp = be_.alloc_uninit({d.slots, H});
    be_.grouped_linear_backward(f.act, p.at(l.ff2.w).value, dyp, d.offsets, dact, p.at(l.ff2.w).grad,
                                p.at(l.ff2.b).grad, GradMode::overwrite);
    be_.activation_backward(Activation::gelu, f.pre, f.act, dact, dpre, GradMode::overwrite);
    be_.grouped_linear_backward(f.xp, p.at(l.ff1.w).value, dpre, d.offsets, dxp, p.at(l.ff1.w).grad,
                                p.at(l.ff1.b).grad, GradMode::overwrite);
    be_.scatter_add_rows(dxp, d.slot_token, dres);
    Tensor dprobs = be_.alloc({N, E}), dlogits = be_.alloc({N, E});
    be_.topk_gates_backward(f.probs, f.idx, c_.moe_renormalize, dgates, dprobs);
    be_.router_aux_backward(f.logits, f.probs, in.valid, d, aux_scale * c_.moe_balance_weight,
                            aux_scale * c_.moe_z_weight, dlogits, dprobs);
    be_.softmax_backward(f.probs, dprobs, dlogits);
    be_.linear_backward(f.x, p.at(l.router).value, dlogits, dres, p.at(l.router).grad, none);
  }
  f = FfnCache();
  return dres;
}

}  // namespace mds
