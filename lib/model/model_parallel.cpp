// DiffusionModel as one replica of a data-parallel group (docs/distributed.md):
// the values and gradients live in one flat arena each (ParamStore::flatten),
// so the gradient sum is a few collectives over contiguous ranges. Without
// ZeRO the ranges are buckets, one per layer plus one for the rest, reduced
// as the backward pass finishes each layer (on a device queue they overlap
// the layers still to be differentiated). With ZeRO-1 one reduce-scatter
// leaves each rank the summed gradient of its shard; AdamW updates the
// shard with its sharded moments and an all-gather restores the full
// weights, identical on every rank.
#include <algorithm>
#include <cmath>
#include <string>

#include "core/error.h"
#include "dist/communicator.h"
#include "model/model.h"

namespace mds {


DiffusionModel::~DiffusionModel() = default;

void DiffusionModel::distribute(dist::Communicator& comm, bool zero1) {
  if (par_) throw_runtime("distribute: the model is already distributed");
  const int W = comm.world_size();
  // 64 elements (256 bytes in f32): every parameter and every shard starts
  // aligned for vectorised kernels and for NCCL.
  constexpr int64_t kAlign = 64;
  params_.flatten(kAlign, kAlign * W);
  auto p = std::make_unique<Parallel>();
  p->comm = &comm;
  p->zero1 = zero1;
  const int64_t total = params_.flat_size();
  // A parameter belongs to layer i when its name starts with "layer.i."
  // (build_parameters); each layer's parameters must be one contiguous run.
  std::vector<int64_t> lo(config_.layers, total), hi(config_.layers, 0);
  int64_t layers_lo = total, layers_hi = 0;
  for (size_t i = 0; i < params_.size(); ++i) {
    const std::string& name = params_.at(int(i)).name;
    if (name.rfind("layer.", 0) != 0) continue;
    const int layer = std::stoi(name.substr(6));
    if (layer < 0 || layer >= config_.layers) throw_runtime("distribute: parameter '{}' of no layer", name);
    const int64_t b = params_.flat_offset(int(i)), e = b + params_.at(int(i)).value.numel();
    lo[layer] = std::min(lo[layer], b), hi[layer] = std::max(hi[layer], e);
    layers_lo = std::min(layers_lo, b), layers_hi = std::max(layers_hi, e);
  }
  for (int i = config_.layers - 1; i >= 0; --i) p->buckets.push_back({lo[i], hi[i] - lo[i]});
  if (config_.layers == 0) layers_lo = layers_hi = 0;
  if (layers_lo > 0) p->buckets.push_back({0, layers_lo});
  if (layers_hi < total) p->buckets.push_back({layers_hi, total - layers_hi});
  // Every parameter inside exactly one bucket, or gradients would go unsummed.
  for (size_t i = 0; i < params_.size(); ++i) {
    const int64_t b = params_.flat_offset(int(i)), e = b + params_.at(int(i)).value.numel();
    int inside = 0;
    for (const auto& [begin, n] : p->buckets) inside += (b >= begin && e <= begin + n);
    int overlapping = 0;
    for (const auto& [begin, n] : p->buckets) overlapping += (b < begin + n && e > begin);
    if (inside != 1 || overlapping != 1)
      throw_runtime("distribute: parameter '{}' is in {} gradient buckets (the layers' parameters must be "
                    "contiguous and in layer order)", params_.at(int(i)).name, overlapping);
  }
  if (zero1) {
    p->shard_size = total / W;
    p->shard_begin = p->shard_size * comm.rank();
    p->adam_m = be_->alloc({p->shard_size});
    p->adam_v = be_->alloc({p->shard_size});
    for (auto& prm : params_.all()) prm.adam_m = prm.adam_v = Tensor();
  }
  par_ = std::move(p);
  net_.set_layer_done_hook([this](int layer) { on_layer_done(layer); });
}

std::vector<DiffusionModel::ShardPiece> DiffusionModel::shard_pieces() const {
  std::vector<ShardPiece> out;
  const int64_t sb = par_->shard_begin, se = sb + par_->shard_size;
  for (size_t i = 0; i < params_.size(); ++i) {
    const int64_t lo = std::max(sb, params_.flat_offset(int(i)));
    const int64_t hi = std::min(se, params_.flat_offset(int(i)) + params_.at(int(i)).value.numel());
    if (lo < hi) out.push_back({int(i), lo, hi - lo});
  }
  return out;
}

void DiffusionModel::begin_last_micro_batch() {
  if (par_ && !par_->zero1) par_->armed = true;
}

void DiffusionModel::issue_bucket() {
  const auto [begin, n] = par_->buckets.at(par_->next_bucket++);
  Tensor view = params_.flat_range(params_.flat_grads(), begin, n);
  par_->comm->all_reduce_sum(view);
}

void DiffusionModel::on_layer_done(int layer) {
  if (!par_ || !par_->armed) return;
  // Bucket k holds layer (layers - 1 - k): issue every bucket up to this layer's.
  const size_t upto = size_t(config_.layers - layer);
  while (par_->next_bucket < upto) issue_bucket();
}

void DiffusionModel::finish_gradient_reduction() {
  if (!par_) return;
  if (par_->zero1) {
    par_->comm->reduce_scatter_sum(params_.flat_grads());
  } else {
    while (par_->next_bucket < par_->buckets.size()) issue_bucket();
  }
  par_->comm->wait();
  par_->next_bucket = 0;
  par_->armed = false;
}

bool DiffusionModel::sharded() const { return par_ && par_->zero1; }

double DiffusionModel::sharded_grad_norm(bool* all_finite) {
  // This rank's shard holds the summed gradient of its elements (the rest of
  // the arena is stale): the squares are summed per shard, then over ranks.
  std::vector<Tensor> views;
  for (const ShardPiece& s : shard_pieces()) views.push_back(params_.flat_range(params_.flat_grads(), s.begin, s.size));
  std::vector<const Tensor*> ptrs;
  for (const Tensor& t : views) ptrs.push_back(&t);
  const double local = be_->sum_squares_total(ptrs);
  const double total = dist::all_reduce_host(*par_->comm, {local})[0];
  if (all_finite) *all_finite = std::isfinite(total);
  return std::sqrt(total);
}

void DiffusionModel::sharded_scale_grad(double factor) {
  Tensor shard = params_.flat_range(params_.flat_grads(), par_->shard_begin, par_->shard_size);
  be_->scale(shard, factor);
}

void DiffusionModel::sharded_optimizer_step(const AdamWParams& a) {
  const int64_t sb = par_->shard_begin;
  for (const ShardPiece& s : shard_pieces()) {
    Tensor value = params_.flat_range(params_.flat_values(), s.begin, s.size);
    Tensor grad = params_.flat_range(params_.flat_grads(), s.begin, s.size);
    Tensor m = params_.flat_range(par_->adam_m, s.begin - sb, s.size);
    Tensor v = params_.flat_range(par_->adam_v, s.begin - sb, s.size);
    be_->adamw_step(value, grad, m, v, a);
  }
  // Every rank's updated shard to every rank: the replicas stay identical.
  par_->comm->all_gather(params_.flat_values());
  par_->comm->wait();
}

std::pair<Tensor, Tensor> DiffusionModel::gathered_moments() const {
  const int64_t total = params_.flat_size(), sb = par_->shard_begin, n = par_->shard_size;
  Tensor m = be_->alloc({total}), v = be_->alloc({total});
  Tensor m_mine = params_.flat_range(m, sb, n), v_mine = params_.flat_range(v, sb, n);
  be_->copy(par_->adam_m, m_mine);
  be_->copy(par_->adam_v, v_mine);
  par_->comm->all_gather(m);
  par_->comm->all_gather(v);
  par_->comm->wait();
  return {m, v};
}

void DiffusionModel::upload_moment_shard(int param, const std::vector<float>& host_m, const std::vector<float>& host_v) {
  const int64_t off = params_.flat_offset(param), sb = par_->shard_begin;
  for (const ShardPiece& s : shard_pieces()) {
    if (s.param != param) continue;
    Tensor m = params_.flat_range(par_->adam_m, s.begin - sb, s.size);
    Tensor v = params_.flat_range(par_->adam_v, s.begin - sb, s.size);
    be_->upload(m, host_m.data() + (s.begin - off));
    be_->upload(v, host_v.data() + (s.begin - off));
  }
}

void DiffusionModel::clear_moment_shards() {
  be_->fill(par_->adam_m, 0.0);
  be_->fill(par_->adam_v, 0.0);
}

}  // namespace mds
