// The whole denoiser: time MLP, up-projection, positions, input LayerNorm and
// dropout, the layer stack and the down-projection, forward and backward.
#include "core/error.h"
#include "model/network.h"

namespace mds {

Tensor Network::forward(const ParamStore& p, bool ema, const StepInputs& in, const Tensor& x_t, NetworkCache* cache,
                        std::vector<MoeLayerStats>* stats) {
  const int64_t N = int64_t(in.batch) * in.seq_len, H = c_.hidden_dim;
  if (x_t.rows() != N || x_t.cols() != c_.embed_dim)
    throw_runtime("network: x_t has shape {}, expected [{}, {}]", shape_string(x_t.shape()), N, c_.embed_dim);
  NetworkCache local;
  NetworkCache& k = cache ? *cache : local;
  k.x_t = x_t;
  k.time_pre = linear(p, ema, ids_.time1, in.time_input, c_.time_hidden_dim);
  k.time_act = be_.alloc_uninit(k.time_pre.shape());
  be_.activation_forward(Activation::silu, k.time_pre, k.time_act);
  k.time_emb = linear(p, ema, ids_.time2, k.time_act, H);
  k.up_pre = linear(p, ema, ids_.up1, x_t, H);
  k.up_act = be_.alloc_uninit({N, H});
  be_.activation_forward(Activation::tanh, k.up_pre, k.up_act);
  k.up = linear(p, ema, ids_.up2, k.up_act, H);
  k.sum = be_.alloc_uninit({N, H});
  be_.add_position_time_forward(k.up, p.weight(ids_.position, ema), k.time_emb, in.batch, in.seq_len, k.sum);
  k.ln_out = layer_norm(p, ema, ids_.ln_in, k.sum, k.ln_mean, k.ln_rstd);
  k.h0 = dropout(k.ln_out, in, 0, &k.drop_mask);
  Tensor h = k.h0;
  k.attn.assign(c_.layers, AttnCache());
  k.ffn.assign(c_.layers, FfnCache());
  for (int i = 0; i < c_.layers; ++i) {
    const LayerIds& l = ids_.layers[i];
    h = attention_forward(p, ema, l, in, i, h, k.attn[i]);
    h = ffn_forward(p, ema, l, in, i, h, k.ffn[i], stats);
    if (!cache) k.attn[i] = AttnCache(), k.ffn[i] = FfnCache();  // inference keeps nothing
  }
  k.down_in = h;
  k.down_pre = linear(p, ema, ids_.down1, h, H);
  k.down_act = be_.alloc_uninit({N, H});
  be_.activation_forward(Activation::tanh, k.down_pre, k.down_act);
  return linear(p, ema, ids_.down2, k.down_act, c_.embed_dim);
}

Tensor Network::backward(ParamStore& p, const StepInputs& in, NetworkCache& k, const Tensor& dout, double aux_scale) {
  const int64_t N = int64_t(in.batch) * in.seq_len, H = c_.hidden_dim;
  // Gradients that only one operation feeds are overwritten (no zero fill);
  // the ones linear_grad adds into start from zero.
  Tensor ddown_act = be_.alloc({N, H}), ddown_pre = be_.alloc_uninit({N, H}), dh = be_.alloc({N, H});
  linear_grad(p, ids_.down2, k.down_act, dout, ddown_act);
  be_.activation_backward(Activation::tanh, k.down_pre, k.down_act, ddown_act, ddown_pre, GradMode::overwrite);
  linear_grad(p, ids_.down1, k.down_in, ddown_pre, dh);
  for (int i = c_.layers - 1; i >= 0; --i) {
    const LayerIds& l = ids_.layers[i];
    dh = ffn_backward(p, l, in, k.ffn[i], dh, aux_scale);
    dh = attention_backward(p, l, in, k.attn[i], dh);
    if (layer_done_) layer_done_(i);
  }
  Tensor dln = dropout_grad(dh, k.drop_mask);
  Tensor dsum = be_.alloc({N, H});
  layer_norm_grad(p, ids_.ln_in, k.sum, k.ln_mean, k.ln_rstd, dln, dsum);
  Tensor dtime = be_.alloc({in.batch, H});
  be_.add_position_time_backward(dsum, in.batch, in.seq_len, p.at(ids_.position).grad, dtime);
  // d up = d sum (the sum is linear in the up-projection).
  Tensor dup_act = be_.alloc({N, H}), dup_pre = be_.alloc_uninit({N, H}), dx = be_.alloc({N, c_.embed_dim});
  linear_grad(p, ids_.up2, k.up_act, dsum, dup_act);
  be_.activation_backward(Activation::tanh, k.up_pre, k.up_act, dup_act, dup_pre, GradMode::overwrite);
  linear_grad(p, ids_.up1, k.x_t, dup_pre, dx);
  Tensor dtime_act = be_.alloc(k.time_act.shape()), dtime_pre = be_.alloc_uninit(k.time_pre.shape()), none;
  linear_grad(p, ids_.time2, k.time_act, dtime, dtime_act);
  be_.activation_backward(Activation::silu, k.time_pre, k.time_act, dtime_act, dtime_pre, GradMode::overwrite);
  linear_grad(p, ids_.time1, in.time_input, dtime_pre, none);
  return dx;
}

}  // namespace mds
